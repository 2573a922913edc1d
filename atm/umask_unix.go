//go:build unix

package atm

import "syscall"

func umask(m int) int { return syscall.Umask(m) }
