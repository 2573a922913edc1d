package vcard

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// quickAck turns on TCP_QUICKACK on a TCP connection. vpcd sends a
// frame's length and payload in two writes without TCP_NODELAY, so
// Nagle's algorithm holds the payload until the length is acknowledged;
// with delayed ACKs that costs about 40 ms per APDU. Linux clears the
// flag as it sees fit, so it is set again after every read and write.
func quickAck(v any) {
	sc, ok := v.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK, 1)
	})
}
