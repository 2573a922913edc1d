package lcd

import (
	"context"
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// pollSlice is how long a read on a file waits before it looks at its
// context again.
const pollSlice = 50 // milliseconds

// readFile reads f but gives up when ctx ends, even when f is a blocking
// file such as a pseudo-terminal master, whose reads neither deadlines
// nor closing from another goroutine interrupt: it polls f in short
// slices and reads only once f is readable (or has hung up).
func readFile(ctx context.Context, f *os.File, b []byte) (int, error) {
	sc, err := f.SyscallConn()
	if err != nil {
		return f.Read(b)
	}
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		ready := false
		var perr error
		if err := sc.Control(func(fd uintptr) {
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			n, err := unix.Poll(fds, pollSlice)
			ready, perr = n > 0, err
		}); err != nil {
			return 0, err
		}
		if perr != nil && !errors.Is(perr, unix.EINTR) {
			return 0, perr
		}
		if ready {
			return f.Read(b)
		}
	}
}
