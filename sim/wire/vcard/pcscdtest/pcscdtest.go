package pcscdtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ebfe/scard"
)

// Packages is the apt-get command that installs what Start needs.
const Packages = "apt-get install -y pcscd vsmartcard-vpcd libpcsclite-dev pkg-config"

// FriendlyName is the vpcd readers' name; pcscd appends " 00 00" and
// " 00 01" for the two slots.
const FriendlyName = "Virtual PCD"

// startTimeout bounds how long pcscd may take to come up.
const startTimeout = 15 * time.Second

// Slot is one vpcd reader.
type Slot struct {
	Reader string // PC/SC reader name, e.g. "Virtual PCD 00 00"
	VPCD   string // address a virtual card connects to, "127.0.0.1:PORT"
}

// Env is a running private pcscd with two vpcd readers.
type Env struct {
	Slot          // the first reader: what most tests use
	Slots  []Slot // both readers
	Socket string // pcscd's socket, the value of PCSCLITE_CSOCK_NAME
	Dir    string // the temporary directory holding run/ and conf/

	t    testing.TB
	port int

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when the current pcscd has exited
	log    strings.Builder
}

var running sync.Mutex // one Env per process: the socket path is cached by libpcsclite

// Available reports why Start cannot run here, or nil.
func Available() error {
	if _, err := pcscdPath(); err != nil {
		return err
	}
	if _, err := vpcdDriver(); err != nil {
		return err
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		return fmt.Errorf("pcscdtest: unshare (util-linux) not found: %w", err)
	}
	return nil
}

// Start runs a private pcscd for the test and stops it when the test
// ends. It sets PCSCLITE_CSOCK_NAME in the process environment.
func Start(t testing.TB) *Env {
	t.Helper()
	if err := Available(); err != nil {
		unavailable(t, err)
	}
	if !running.TryLock() {
		t.Fatal("pcscdtest: another Env of this process is still running; use one at a time")
	}
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("atmd-pcscd-%d", os.Getpid()))
	e := &Env{t: t, Dir: dir, Socket: filepath.Join(dir, "run", "pcscd", "pcscd.comm")}
	t.Cleanup(func() {
		e.Stop()
		if t.Failed() {
			t.Logf("pcscd log:\n%s", e.Log())
		}
		os.RemoveAll(dir)
		running.Unlock()
	})
	for _, d := range []string{"run", "conf"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatalf("pcscdtest: %v", err)
		}
	}
	// The client library reads this once, at its first call.
	if err := os.Setenv("PCSCLITE_CSOCK_NAME", e.Socket); err != nil {
		t.Fatalf("pcscdtest: %v", err)
	}
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if e.port, err = freePortPair(); err != nil {
			continue
		}
		if err = e.start(); err == nil {
			break
		}
		e.Stop()
	}
	if err != nil {
		if errors.Is(err, errNamespace) {
			unavailable(t, err)
		}
		t.Fatalf("pcscdtest: %v\npcscd log:\n%s", err, e.Log())
	}
	e.Slots = []Slot{
		{Reader: FriendlyName + " 00 00", VPCD: "127.0.0.1:" + strconv.Itoa(e.port)},
		{Reader: FriendlyName + " 00 01", VPCD: "127.0.0.1:" + strconv.Itoa(e.port+1)},
	}
	e.Slot = e.Slots[0]
	return e
}

func unavailable(t testing.TB, err error) {
	t.Helper()
	msg := fmt.Sprintf("pcscd with vpcd is not available (%v); install it with: %s", err, Packages)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// Environ returns the environment setting that points a child process's
// PC/SC client at this pcscd.
func (e *Env) Environ() []string { return []string{"PCSCLITE_CSOCK_NAME=" + e.Socket} }

// Log returns what pcscd printed.
func (e *Env) Log() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.log.String()
}

// Running reports whether pcscd is running.
func (e *Env) Running() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cmd != nil
}

// Stop stops pcscd (SIGTERM, then SIGKILL after 5 s) and waits for it to
// exit, as when the service is stopped or crashes; clients see
// SCARD_E_NO_SERVICE. Stopping a stopped pcscd does nothing.
func (e *Env) Stop() {
	e.mu.Lock()
	cmd, exited := e.cmd, e.exited
	e.cmd = nil
	e.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// Restart starts pcscd again after Stop, with the same socket, port and
// readers, and waits until it is ready. It fails the test if pcscd does
// not come up.
func (e *Env) Restart() {
	e.t.Helper()
	e.Stop()
	if err := e.start(); err != nil {
		e.t.Fatalf("pcscdtest: restart: %v\npcscd log:\n%s", err, e.Log())
	}
}

var errNamespace = errors.New("pcscdtest: cannot make a private mount namespace")

// start runs pcscd and waits until its readers are listed.
func (e *Env) start() error {
	pcscd, _ := pcscdPath()
	driver, _ := vpcdDriver()
	conf := fmt.Sprintf("FRIENDLYNAME \"%s\"\nDEVICENAME   /dev/null:0x%X\nLIBPATH      %s\nCHANNELID    0x%X\n",
		FriendlyName, e.port, driver, e.port)
	confDir := filepath.Join(e.Dir, "conf")
	if err := os.WriteFile(filepath.Join(confDir, "vpcd"), []byte(conf), 0o644); err != nil {
		return err
	}
	run := filepath.Join(e.Dir, "run")
	_ = os.RemoveAll(filepath.Join(run, "pcscd")) // a killed pcscd leaves its socket and pid file
	args := []string{"-m"}
	if os.Geteuid() != 0 {
		args = []string{"-r", "-m"} // a user namespace lets an unprivileged user mount
	}
	args = append(args, "sh", "-c", `mount --bind "$1" /run && exec "$2" --foreground --info --config "$3"`,
		"sh", run, pcscd, confDir)
	cmd := exec.Command("unshare", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pcscdtest: start pcscd: %w", err)
	}
	exited := make(chan struct{})
	ready := make(chan struct{})
	e.mu.Lock()
	e.cmd, e.exited = cmd, exited
	e.mu.Unlock()
	go func() {
		e.scan(out, ready)
		_ = cmd.Wait()
		close(exited)
	}()
	select {
	case <-ready:
	case <-exited:
		e.mu.Lock()
		e.cmd = nil
		e.mu.Unlock()
		if strings.Contains(e.Log(), "mount") || strings.Contains(e.Log(), "unshare") {
			return fmt.Errorf("%w: %s", errNamespace, strings.TrimSpace(e.Log()))
		}
		return errors.New("pcscdtest: pcscd exited before it was ready")
	case <-time.After(startTimeout):
		return fmt.Errorf("pcscdtest: pcscd not ready after %v", startTimeout)
	}
	if strings.Contains(e.Log(), "init failed") {
		return fmt.Errorf("pcscdtest: vpcd reader did not start (port %d taken?)", e.port)
	}
	return e.waitReaders()
}

// scan copies pcscd's output into the log and closes ready when pcscd
// says it is ready.
func (e *Env) scan(r io.Reader, ready chan struct{}) {
	sc := bufio.NewScanner(r)
	closed := false
	for sc.Scan() {
		e.mu.Lock()
		e.log.WriteString(sc.Text())
		e.log.WriteByte('\n')
		e.mu.Unlock()
		if !closed && strings.Contains(sc.Text(), "daemon ready") {
			close(ready)
			closed = true
		}
	}
}

// waitReaders checks, through the PC/SC client library, that both vpcd
// readers are listed. pcscd prints "daemon ready" a moment before its
// socket accepts connections, so it asks again every 10 ms until
// startTimeout.
func (e *Env) waitReaders() error {
	want := []string{FriendlyName + " 00 00", FriendlyName + " 00 01"}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(startTimeout)
	for {
		err := e.listReaders(want)
		if err == nil {
			return nil
		}
		select {
		case <-tick.C:
		case <-deadline:
			return err
		case <-e.exitedCh():
			return fmt.Errorf("pcscdtest: pcscd exited: %w", err)
		}
	}
}

func (e *Env) exitedCh() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.exited
}

func (e *Env) listReaders(want []string) error {
	ctx, err := scard.EstablishContext()
	if err != nil {
		return fmt.Errorf("pcscdtest: connect to pcscd at %s: %w", e.Socket, err)
	}
	defer ctx.Release()
	readers, err := ctx.ListReaders()
	if err != nil {
		return fmt.Errorf("pcscdtest: list readers: %w", err)
	}
	for _, w := range want {
		if !slices.Contains(readers, w) {
			return fmt.Errorf("pcscdtest: reader %q missing (readers %q)", w, readers)
		}
	}
	return nil
}

// WaitCard waits until pcscd reports the reader of slot s with a card
// (present true) or empty (present false).
func (e *Env) WaitCard(ctx context.Context, s Slot, present bool) error {
	sc, err := scard.EstablishContext()
	if err != nil {
		return fmt.Errorf("pcscdtest: %w", err)
	}
	defer sc.Release()
	stop := context.AfterFunc(ctx, func() { _ = sc.Cancel() })
	defer stop()
	rs := []scard.ReaderState{{Reader: s.Reader, CurrentState: scard.StateUnaware}}
	for {
		if err := sc.GetStatusChange(rs, -1); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("pcscdtest: wait for card: %w", ctx.Err())
			}
			return fmt.Errorf("pcscdtest: wait for card: %w", err)
		}
		if (rs[0].EventState&scard.StatePresent != 0) == present {
			return nil
		}
		rs[0].CurrentState = rs[0].EventState
	}
}

// freePortPair finds a TCP port p such that p and p+1 are free (vpcd
// listens on both, on every interface).
func freePortPair() (int, error) {
	for i := 0; i < 20; i++ {
		l, err := net.Listen("tcp4", "0.0.0.0:0")
		if err != nil {
			return 0, err
		}
		p := l.Addr().(*net.TCPAddr).Port
		if p >= 0xFFFF {
			l.Close()
			continue
		}
		l2, err := net.Listen("tcp4", "0.0.0.0:"+strconv.Itoa(p+1))
		l.Close()
		if err == nil {
			l2.Close()
			return p, nil
		}
	}
	return 0, errors.New("pcscdtest: no free pair of TCP ports")
}

func pcscdPath() (string, error) {
	if p, err := exec.LookPath("pcscd"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/pcscd", "/sbin/pcscd"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("pcscdtest: pcscd not found")
}

// vpcdDriver finds the vpcd IFD handler installed by vsmartcard-vpcd.
func vpcdDriver() (string, error) {
	dirs := []string{"/usr/lib/pcsc/drivers/serial", "/usr/local/lib/pcsc/drivers/serial", "/usr/lib64/pcsc/drivers/serial"}
	if out, err := exec.Command("pkg-config", "--variable=usbdropdir", "libpcsclite").Output(); err == nil {
		if d := strings.TrimSpace(string(out)); d != "" {
			dirs = append([]string{filepath.Join(d, "serial")}, dirs...)
		}
	}
	for _, d := range dirs {
		p := filepath.Join(d, "libifdvpcd.so")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("pcscdtest: vpcd driver (libifdvpcd.so) not found")
}
