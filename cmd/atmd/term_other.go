//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package main

// echoOff cannot turn echo off here; the PIN is read as typed.
func echoOff(int) func() { return func() {} }
