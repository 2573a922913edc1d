package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/atmd/atmd/atm"
	"github.com/atmd/atmd/sim/host/seed"
)

// footprint is what atmd costs as a process.
type footprint struct {
	Binary    int64         // bytes
	Build     time.Duration // go build of cmd/atmd
	Start     time.Duration // exec until `atmd status` says in-service (host already up)
	StartCold time.Duration // the same with the reference host in the process, database created from the seed
	IdleRSS   int64         // after settling, idle
	IdleCPU   float64       // percent of one core over IdleWindow
	Window    time.Duration
	LoadRSS   int64 // largest resident set seen while withdrawals ran
	PeakRSS   int64 // VmHWM at the end
	Loads     int   // withdrawals driven through `atmd step`'s control socket
	ColdRSS   int64 // idle resident set with the reference host in the process
	Errs      []string
}

// footprintOptions size the footprint measurements.
type footprintOptions struct {
	Settle      time.Duration // wait after in-service before measuring idle
	IdleWindow  time.Duration // CPU is measured over this
	Withdrawals int
}

// buildAtmd builds cmd/atmd into dir and returns its path.
func buildAtmd(ctx context.Context, root, dir string) (string, time.Duration, error) {
	bin := filepath.Join(dir, "atmd")
	start := time.Now()
	cmd := exec.CommandContext(ctx, goBin(), "build", "-o", bin, "./cmd/atmd")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", 0, fmt.Errorf("go build: %v: %s", err, out)
	}
	return bin, time.Since(start), nil
}

// measureFootprint runs the atmd binary as `make run` would, with the
// reference host in another process, and measures it.
func measureFootprint(ctx context.Context, o footprintOptions, bin string, build time.Duration, root, work string, progress func(string, ...any)) *footprint {
	fp := &footprint{Build: build, Window: o.IdleWindow}
	if st, err := os.Stat(bin); err == nil {
		fp.Binary = st.Size()
	}
	dir := filepath.Join(work, "footprint")
	seedPath := filepath.Join(root, "configs", "seed.yaml")
	hostPort, err1 := freePort()
	coldPort, err2 := freePort()
	if err := errors.Join(err1, err2); err != nil {
		fp.Errs = append(fp.Errs, err.Error())
		return fp
	}
	hostAddr, coldAddr := "127.0.0.1:"+strconv.Itoa(hostPort), "127.0.0.1:"+strconv.Itoa(coldPort)
	base, err := os.ReadFile(filepath.Join(root, "configs", "sim.yaml"))
	if err != nil {
		fp.Errs = append(fp.Errs, err.Error())
		return fp
	}
	write := func(name string, edits map[string]string, dropHost bool) (string, error) {
		var doc yaml.Node
		if err := yaml.Unmarshal(base, &doc); err != nil {
			return "", err
		}
		for path, v := range edits {
			if err := setYAML(&doc, path, v); err != nil {
				return "", err
			}
		}
		if dropHost {
			deleteYAML(&doc, "host")
		}
		out, err := yaml.Marshal(&doc)
		if err != nil {
			return "", err
		}
		p := filepath.Join(dir, name)
		return p, os.WriteFile(p, out, 0o600)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		fp.Errs = append(fp.Errs, err.Error())
		return fp
	}
	common := map[string]string{
		"atm.timeouts.message": "100ms", // the next customer need not wait 5 s
		"log.level":            "info", "log.format": "json",
		"devices.cardreader.seed": seedPath,
	}
	with := func(m map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range common {
			out[k] = v
		}
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	hostCfg, err1 := write("host.yaml", with(map[string]string{
		"atm.state_dir": filepath.Join(dir, "host-side"), "atm.control_socket": filepath.Join(dir, "host-side", "unused.sock"),
		"host.listen": hostAddr, "host.db": filepath.Join(dir, "host.db"), "host.seed": seedPath, "host_link.addr": hostAddr,
	}), false)
	atmCfg, err2 := write("atm.yaml", with(map[string]string{
		"atm.state_dir": filepath.Join(dir, "atm"), "atm.control_socket": filepath.Join(dir, "atm", "atmd.sock"),
		"host_link.addr": hostAddr,
	}), true)
	coldCfg, err3 := write("cold.yaml", with(map[string]string{
		"atm.state_dir": filepath.Join(dir, "cold"), "atm.control_socket": filepath.Join(dir, "cold", "atmd.sock"),
		"host.listen": coldAddr, "host.db": filepath.Join(dir, "cold", "host.db"), "host.seed": seedPath, "host_link.addr": coldAddr,
	}), false)
	if err := errors.Join(err1, err2, err3); err != nil {
		fp.Errs = append(fp.Errs, "writing configs: "+err.Error())
		return fp
	}

	// The reference host, in its own process, as a bank's would be.
	host, err := startProc(bin, filepath.Join(dir, "host.log"), "host", "--config", hostCfg, "--reset")
	if err != nil {
		fp.Errs = append(fp.Errs, "starting the host: "+err.Error())
		return fp
	}
	defer host.stop()
	if err := waitDial(ctx, hostAddr, 30*time.Second); err != nil {
		fp.Errs = append(fp.Errs, "the host did not listen: "+err.Error())
		return fp
	}

	sock := filepath.Join(dir, "atm", "atmd.sock")
	start := time.Now()
	a, err := startProc(bin, filepath.Join(dir, "atmd.log"), "run", "--config", atmCfg)
	if err != nil {
		fp.Errs = append(fp.Errs, "starting atmd: "+err.Error())
		return fp
	}
	defer a.stop()
	if err := waitInService(ctx, sock, 30*time.Second); err != nil {
		fp.Errs = append(fp.Errs, "atmd did not come into service: "+err.Error())
		return fp
	}
	fp.Start = time.Since(start)
	progress("atmd in service %v after exec", fp.Start.Round(time.Millisecond))
	pause(ctx, o.Settle)
	fp.IdleRSS, _, _ = procMem(a.pid())
	c0, _ := procCPU(a.pid())
	t0 := time.Now()
	pause(ctx, o.IdleWindow)
	c1, _ := procCPU(a.pid())
	fp.IdleCPU = 100 * float64(c1-c0) / float64(time.Since(t0))
	progress("idle: %.1f MiB resident, %.2f%% CPU over %v", mib(fp.IdleRSS), fp.IdleCPU, o.IdleWindow)

	// Under load: withdrawals driven step by step through the control
	// socket, as `atmd step` does; the resident set is sampled meanwhile.
	sd, err := seed.Load(seedPath)
	card, ok := seed.Card{}, false
	if err == nil {
		card, ok = sd.Card("bob-debit") // the demo customer with the largest daily limit
	}
	if !ok {
		fp.Errs = append(fp.Errs, "no bob-debit in configs/seed.yaml to drive withdrawals with")
	} else {
		var mu sync.Mutex
		sampled := make(chan struct{})
		stopSampling := make(chan struct{})
		go func() {
			defer close(sampled)
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for {
				if rss, _, err := procMem(a.pid()); err == nil {
					mu.Lock()
					fp.LoadRSS = max(fp.LoadRSS, rss)
					mu.Unlock()
				}
				select {
				case <-tick.C:
				case <-stopSampling:
					return
				}
			}
		}()
		steps := []string{"insert card " + card.ID, "enter " + string(card.PIN), "press enter", "choose withdrawal",
			"choose amount-1000", "choose no", "take card", "take cash", "expect screen welcome"}
	load:
		for i := 0; i < o.Withdrawals; i++ {
			for _, st := range steps {
				sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				_, err := atm.Ask(sctx, sock, atm.ControlRequest{Cmd: "step", Step: st})
				cancel()
				if err != nil {
					fp.Errs = append(fp.Errs, fmt.Sprintf("withdrawal %d, step %q: %v", i+1, stepName(st), err))
					break load
				}
			}
			fp.Loads++
		}
		close(stopSampling)
		<-sampled
		_, fp.PeakRSS, _ = procMem(a.pid())
		progress("under load (%d withdrawals): %.1f MiB resident at most", fp.Loads, mib(fp.LoadRSS))
	}
	if err := a.stop(); err != nil {
		fp.Errs = append(fp.Errs, "stopping atmd: "+err.Error())
	}
	if err := host.stop(); err != nil {
		fp.Errs = append(fp.Errs, "stopping the host: "+err.Error())
	}

	// Cold: atmd with the reference host in the same process (make run),
	// its database created from the seed at start.
	coldSock := filepath.Join(dir, "cold", "atmd.sock")
	start = time.Now()
	c, err := startProc(bin, filepath.Join(dir, "cold.log"), "run", "--config", coldCfg)
	if err != nil {
		fp.Errs = append(fp.Errs, "starting atmd with its host: "+err.Error())
		return fp
	}
	defer c.stop()
	if err := waitInService(ctx, coldSock, 30*time.Second); err != nil {
		fp.Errs = append(fp.Errs, "atmd with its host did not come into service: "+err.Error())
		return fp
	}
	fp.StartCold = time.Since(start)
	pause(ctx, o.Settle)
	fp.ColdRSS, _, _ = procMem(c.pid())
	progress("with the host in process: in service after %v, %.1f MiB resident idle", fp.StartCold.Round(time.Millisecond), mib(fp.ColdRSS))
	if err := c.stop(); err != nil {
		fp.Errs = append(fp.Errs, "stopping atmd with its host: "+err.Error())
	}
	return fp
}

// stepName hides a PIN in an error message.
func stepName(st string) string {
	if len(st) > 6 && st[:6] == "enter " {
		return "enter ****"
	}
	return st
}

// proc is a child process this program started.
type proc struct {
	cmd  *exec.Cmd
	done chan error
	once sync.Once
	err  error
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// startProc starts bin with args, its output going to logPath.
func startProc(bin, logPath string, args ...string) (*proc, error) {
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, err
	}
	p := &proc{cmd: cmd, done: make(chan error, 1)}
	go func() {
		p.done <- cmd.Wait()
		lf.Close()
	}()
	return p, nil
}

// stop sends SIGTERM and waits up to 30 s, then kills the process. It
// may be called more than once.
func (p *proc) stop() error {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		t := time.NewTimer(30 * time.Second)
		defer t.Stop()
		select {
		case err := <-p.done:
			var ee *exec.ExitError
			if errors.As(err, &ee) && ee.ExitCode() == 0 {
				err = nil
			}
			p.err = err
		case <-t.C:
			_ = p.cmd.Process.Kill()
			<-p.done
			p.err = errors.New("did not stop on SIGTERM; killed")
		}
	})
	return p.err
}

// waitInService asks atmd's control socket for its status every 10 ms
// until it says in-service.
func waitInService(ctx context.Context, sock string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	last := "no answer"
	for {
		actx, acancel := context.WithTimeout(ctx, time.Second)
		resp, err := atm.Ask(actx, sock, atm.ControlRequest{Cmd: "status"})
		acancel()
		switch {
		case err == nil && resp.Status != nil && resp.Status.Service == "in-service":
			return nil
		case err == nil && resp.Status != nil:
			last = resp.Status.Service + " (" + resp.Status.Reason + ")"
		case err != nil:
			last = err.Error()
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("%w; last: %s", ctx.Err(), last)
		}
	}
}

// waitDial dials addr every 20 ms until it accepts.
func waitDial(ctx context.Context, addr string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", addr, err)
		}
	}
}

// pause lets a measurement window pass.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// setYAML sets the scalar at a dotted path of mapping keys, creating
// keys that are missing.
func setYAML(doc *yaml.Node, path, value string) error {
	n := doc
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	keys := splitPath(path)
	for i, k := range keys {
		if n.Kind != yaml.MappingNode {
			return fmt.Errorf("%s: %s is not a mapping", path, k)
		}
		var next *yaml.Node
		for j := 0; j+1 < len(n.Content); j += 2 {
			if n.Content[j].Value == k {
				next = n.Content[j+1]
				break
			}
		}
		last := i == len(keys)-1
		if next == nil {
			next = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			if last {
				next = &yaml.Node{Kind: yaml.ScalarNode}
			}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, next)
		}
		if last {
			*next = yaml.Node{Kind: yaml.ScalarNode, Value: value, Style: yaml.DoubleQuotedStyle}
			return nil
		}
		n = next
	}
	return nil
}

// deleteYAML removes a top-level key.
func deleteYAML(doc *yaml.Node, key string) {
	n := doc
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for j := 0; j+1 < len(n.Content); j += 2 {
		if n.Content[j].Value == key {
			n.Content = append(n.Content[:j], n.Content[j+2:]...)
			return
		}
	}
}

func splitPath(p string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(p); i++ {
		if i == len(p) || p[i] == '.' {
			out = append(out, p[start:i])
			start = i + 1
		}
	}
	return out
}
