package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/atmd/atmd/atm"
	"github.com/atmd/atmd/hal/dispenser"
	"github.com/atmd/atmd/internal/currency"
	"github.com/atmd/atmd/internal/mask"
	"github.com/atmd/atmd/sim/host/seed"
	"github.com/atmd/atmd/sim/wire"
	cdmsim "github.com/atmd/atmd/sim/wire/cdm"
	eppsim "github.com/atmd/atmd/sim/wire/epp"
	escpossim "github.com/atmd/atmd/sim/wire/escpos"
	lcdsim "github.com/atmd/atmd/sim/wire/lcd"
	pn532sim "github.com/atmd/atmd/sim/wire/pn532"
	snapcamsim "github.com/atmd/atmd/sim/wire/snapcam"
	"github.com/atmd/atmd/sim/wire/vcard"
)

// simdevKinds are the wire simulators `atmd simdev` runs.
var simdevKinds = []string{"epp", "pn532", "cdm", "escpos", "lcd", "snapcam", "vcard"}

// serveFunc serves a simulated serial device on a line until ctx ends.
type serveFunc func(ctx context.Context, rw io.ReadWriter) error

// cmdSimdev runs one wire simulator by itself, so that a real driver (an
// atmd whose config points at it) or a third-party tool can talk to it:
// a serial device on a pseudo-terminal (or on --port, a serial port or
// tty), the snapshot camera on a loopback HTTP port, or a virtual EMV
// card in pcscd's vpcd reader. It prints one line saying what it serves
// where, and serves until SIGTERM or Ctrl-C.
func cmdSimdev(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return usageError{fmt.Errorf("no device kind given; one of %s", strings.Join(simdevKinds, ", "))}
	}
	kind := args[0]
	if !slices.Contains(simdevKinds, kind) {
		return usageError{fmt.Errorf("unknown device kind %q; one of %s", kind, strings.Join(simdevKinds, ", "))}
	}
	fs := flag.NewFlagSet("simdev", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfgPath := fs.String("config", "", "config to take the cassettes, display size or seed cards from (default: $ATMD_CONFIG, then configs/sim.yaml, when it exists)")
	port := fs.String("port", "", "serial port or tty to serve (serial kinds; default: a new pseudo-terminal)")
	baud := fs.Int("baud", 0, "line speed of --port (default: the device's)")
	listen := fs.String("listen", "127.0.0.1:0", "snapcam: address to serve the snapshot URL on")
	vpcd := fs.String("vpcd", "127.0.0.1:35963", "vcard: pcscd's vpcd reader address")
	cardID := fs.String("card", "", "vcard: the seed card to insert, e.g. alice-debit")
	state := fs.String("state", "", "cdm: file that keeps the nonce counter and cassettes (default: memory only)")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	cfg, err := simdevConfig(*cfgPath, fs)
	if err != nil {
		return err
	}
	log := simdevLogger(stderr)
	ctx, stop := signals()
	defer stop()

	switch kind {
	case "snapcam":
		return simdevCamera(ctx, cfg, *listen, log, stdout)
	case "vcard":
		return simdevCard(ctx, cfg, *vpcd, *cardID, log, stdout)
	}
	serve, what, defBaud, err := simdevSerial(kind, cfg, *state, log)
	if err != nil {
		return err
	}
	if *baud == 0 {
		*baud = defBaud
	}
	if *port != "" {
		f, err := openTTY(*port, *baud)
		if err != nil {
			return err
		}
		defer f.Close()
		fmt.Fprintf(stdout, "simdev %s: %s on %s at %d baud; Ctrl-C stops\n", kind, what, *port, *baud)
		return quiet(serve(ctx, f))
	}
	p, err := wire.OpenPTY()
	if err != nil {
		return err
	}
	defer p.Close()
	fmt.Fprintf(stdout, "simdev %s: %s on %s (%s): give it as the device's port; Ctrl-C stops\n", kind, what, p.Path, p.Slave)
	return quiet(serve(ctx, p.Master))
}

// quiet turns the end of a run by a signal into success.
func quiet(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// simdevConfig loads the config named by --config, or the default one
// when it exists; nil when there is none.
func simdevConfig(path string, fs *flag.FlagSet) (*atm.Config, error) {
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "config" })
	if !explicit {
		path = defaultConfig()
		if _, err := os.Stat(path); err != nil {
			return nil, nil
		}
	}
	return atm.LoadConfig(path)
}

func simdevLogger(w io.Writer) zerolog.Logger {
	if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05.000"}
	}
	return zerolog.New(w).Level(zerolog.InfoLevel).With().Timestamp().Logger()
}

// simdevSerial makes the simulator of a serial kind and says what it is.
func simdevSerial(kind string, cfg *atm.Config, state string, log zerolog.Logger) (serveFunc, string, int, error) {
	switch kind {
	case "epp":
		s := eppsim.New(eppsim.Options{Name: "simdev", Log: log})
		return s.Serve, "an EPP (docs/devices/epp.md) with no keys", 115200, nil
	case "pn532":
		o := pn532sim.DefaultOptions
		o.Log = log
		return pn532sim.New(o).Serve, "a PN532 NFC controller (HSU)", 115200, nil
	case "escpos":
		o := escpossim.Options{Name: "simdev", Log: log}
		if cfg != nil && cfg.Devices.Printer.Cols > 0 {
			o.Cols = cfg.Devices.Printer.Cols
		}
		p := escpossim.New(o)
		return p.Serve, "an ESC/POS receipt printer", 38400, nil
	case "lcd":
		o := lcdsim.Options{Name: "simdev", Log: log}
		if cfg != nil && cfg.Devices.OpDisplay.Rows > 0 {
			o.Rows, o.Cols = cfg.Devices.OpDisplay.Rows, cfg.Devices.OpDisplay.Cols
		}
		return lcdsim.New(o).Serve, "a Matrix Orbital LK character display", 19200, nil
	case "cdm":
		o := cdmsim.DefaultOptions
		o.StateFile, o.Log = state, log
		what := "a cash dispenser (docs/devices/dispenser.md) with the default cassettes"
		if cfg != nil {
			cur, _ := currency.ByAlpha(cfg.ATM.Currency)
			o.ATM, o.MaxNotes, o.Cassettes = cfg.ATM.ID, cfg.ATM.MaxNotes, nil
			for _, c := range cfg.Devices.Dispenser.Cassettes {
				o.Cassettes = append(o.Cassettes, dispenser.Cassette{ID: c.ID, Denomination: c.Denomination * cur.Major(),
					Currency: cur.Alpha, Count: c.Count, Initial: c.Count, Low: c.Low, Status: dispenser.CassetteOK})
			}
			if len(o.Cassettes) == 0 {
				o.Cassettes = cdmsim.DefaultOptions.Cassettes
			}
			what = "a cash dispenser for " + o.ATM + " with the config's cassettes"
		}
		s, err := cdmsim.New(o)
		if err != nil {
			return nil, "", 0, err
		}
		return s.Serve, what + " (keys come from atmd)", 115200, nil
	}
	return nil, "", 0, fmt.Errorf("simdev: %q is not a serial device", kind)
}

func simdevCamera(ctx context.Context, cfg *atm.Config, addr string, log zerolog.Logger, stdout io.Writer) error {
	o := snapcamsim.Options{Path: "/snapshot.jpg", Log: log}
	if cfg != nil && cfg.Devices.Camera.Width > 0 {
		o.Width, o.Height = cfg.Devices.Camera.Width, cfg.Devices.Camera.Height
	}
	c, err := snapcamsim.New(o)
	if err != nil {
		return err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("simdev: %w", err)
	}
	fmt.Fprintf(stdout, "simdev snapcam: snapshot camera at http://%s/snapshot.jpg; Ctrl-C stops\n", ln.Addr())
	return quiet(c.Serve(ctx, ln))
}

func simdevCard(ctx context.Context, cfg *atm.Config, addr, id string, log zerolog.Logger, stdout io.Writer) error {
	if id == "" {
		return usageError{errors.New("vcard needs --card ID, a card of the seed (e.g. alice-debit)")}
	}
	if cfg == nil || cfg.Devices.CardReader.Seed == "" {
		return usageError{errors.New("vcard needs a config with a seed (--config FILE)")}
	}
	sd, err := seed.Load(cfg.Devices.CardReader.Seed)
	if err != nil {
		return err
	}
	c, ok := sd.Card(id)
	if !ok {
		return fmt.Errorf("simdev: no card %q in %s", id, cfg.Devices.CardReader.Seed)
	}
	card, err := vcard.New(vcard.ProfileFromSeed(c), vcard.Options{Log: log})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "simdev vcard: card %s (%s) in the vpcd reader at %s; Ctrl-C pulls it out\n", id, mask.PAN(c.PAN), addr)
	return card.Run(ctx, addr)
}

// ttySpeeds are the termios speeds openTTY sets.
var ttySpeeds = map[int]uint32{
	1200: unix.B1200, 2400: unix.B2400, 4800: unix.B4800, 9600: unix.B9600, 19200: unix.B19200,
	38400: unix.B38400, 57600: unix.B57600, 115200: unix.B115200, 230400: unix.B230400,
	460800: unix.B460800, 921600: unix.B921600,
}

// openTTY opens a serial port or tty for a simulator: raw, 8N1, at baud,
// no flow control, with reads that wait in the runtime's poller (so a
// stopping simulator is not stuck in a read).
func openTTY(path string, baud int) (*os.File, error) {
	speed, ok := ttySpeeds[baud]
	if !ok {
		return nil, fmt.Errorf("simdev: %d is not a serial line speed", baud)
	}
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("simdev: %w", err)
	}
	rc, err := f.SyscallConn()
	if err == nil {
		cerr := rc.Control(func(fd uintptr) {
			var t *unix.Termios
			if t, err = unix.IoctlGetTermios(int(fd), unix.TCGETS); err != nil {
				return
			}
			t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON | unix.IXOFF
			t.Oflag &^= unix.OPOST
			t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
			t.Cflag &^= unix.CSIZE | unix.PARENB | unix.CSTOPB | unix.CRTSCTS | unix.CBAUD
			t.Cflag |= unix.CS8 | unix.CREAD | unix.CLOCAL | speed
			t.Ispeed, t.Ospeed = speed, speed
			t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
			err = unix.IoctlSetTermios(int(fd), unix.TCSETS, t)
		})
		if err == nil {
			err = cerr
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("simdev: set up %s: %w", path, err)
	}
	return f, nil
}
