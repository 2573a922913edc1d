//go:build linux || darwin || freebsd || netbsd || openbsd

package main

import (
	"golang.org/x/sys/unix"
)

// echoOff turns the terminal's echo off (for a PIN) and returns the
// function that turns it back on. On anything but a terminal it does
// nothing.
func echoOff(fd int) func() {
	old, err := unix.IoctlGetTermios(fd, ioctlGetTermios)
	if err != nil {
		return func() {}
	}
	t := *old
	t.Lflag &^= unix.ECHO
	t.Lflag |= unix.ECHONL // the Enter still moves the cursor on
	if err := unix.IoctlSetTermios(fd, ioctlSetTermios, &t); err != nil {
		return func() {}
	}
	return func() { _ = unix.IoctlSetTermios(fd, ioctlSetTermios, old) }
}
