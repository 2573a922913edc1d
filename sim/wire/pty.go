package wire

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// PTY is a pseudo-terminal pair standing in for a serial cable: the
// simulator reads and writes Master; a driver opens Path exactly as it
// would open /dev/ttyUSB0.
//
// Path is a symlink to the slave device (/dev/pts/N) in a directory of
// its own, removed by Close. Pseudo-terminal numbers are reused at once,
// so a driver that keeps retrying a bare /dev/pts/N after its simulator
// went away could open another test's fresh terminal; through the
// symlink it finds nothing instead, as with an unplugged USB adapter.
type PTY struct {
	Master *os.File
	Path   string
	Slave  string   // the /dev/pts/N device behind Path
	slave  *os.File // held open so the line stays up while drivers reconnect
	dir    string
}

// OpenPTY opens a pair in raw mode: no echo, no line editing, no
// translation of bytes such as 0x03 or CR, so binary frames pass intact.
func OpenPTY() (*PTY, error) {
	m, s, err := pty.Open()
	if err != nil {
		return nil, fmt.Errorf("wire: open pty: %w", err)
	}
	for _, f := range []*os.File{m, s} {
		// Through SyscallConn, not Fd: Fd would switch the file to
		// blocking mode, and then Close and deadlines could not interrupt
		// a pending read.
		rc, err := f.SyscallConn()
		if err == nil {
			cerr := rc.Control(func(fd uintptr) { err = makeRaw(int(fd)) })
			if err == nil {
				err = cerr
			}
		}
		if err != nil {
			m.Close()
			s.Close()
			return nil, fmt.Errorf("wire: raw mode: %w", err)
		}
	}
	dir, err := os.MkdirTemp("", "atmd-pty-")
	if err != nil {
		m.Close()
		s.Close()
		return nil, fmt.Errorf("wire: %w", err)
	}
	link := filepath.Join(dir, "tty")
	if err := os.Symlink(s.Name(), link); err != nil {
		m.Close()
		s.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("wire: %w", err)
	}
	return &PTY{Master: m, Path: link, Slave: s.Name(), slave: s, dir: dir}, nil
}

// Close closes both ends; a driver that still has Path open sees the
// device go away.
func (p *PTY) Close() error {
	os.RemoveAll(p.dir)
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
