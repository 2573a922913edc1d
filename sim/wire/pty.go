package wire

import (
	"fmt"
	"os"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// PTY is a pseudo-terminal pair standing in for a serial cable: the
// simulator reads and writes Master; a driver opens Path (the slave
// device, e.g. /dev/pts/7) exactly as it would open /dev/ttyUSB0.
type PTY struct {
	Master *os.File
	Path   string
	slave  *os.File // held open so the line stays up while drivers reconnect
}

// OpenPTY opens a pair in raw mode: no echo, no line editing, no
// translation of bytes such as 0x03 or CR, so binary frames pass intact.
func OpenPTY() (*PTY, error) {
	m, s, err := pty.Open()
	if err != nil {
		return nil, fmt.Errorf("wire: open pty: %w", err)
	}
	for _, f := range []*os.File{m, s} {
		if err := makeRaw(int(f.Fd())); err != nil {
			m.Close()
			s.Close()
			return nil, fmt.Errorf("wire: raw mode: %w", err)
		}
	}
	return &PTY{Master: m, Path: s.Name(), slave: s}, nil
}

// Close closes both ends; a driver that still has Path open sees the
// device go away.
func (p *PTY) Close() error {
	err := p.Master.Close()
	if p.slave != nil {
		p.slave.Close()
	}
	return err
}

// makeRaw puts a terminal into raw mode, as cfmakeraw(3) does.
func makeRaw(fd int) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return err
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN] = 1
	t.Cc[unix.VTIME] = 0
	return unix.IoctlSetTermios(fd, unix.TCSETS, t)
}
