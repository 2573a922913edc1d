package atm

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"

	"github.com/atmd/atmd/hal/display"
	"github.com/atmd/atmd/maint"
)

// ControlRequest is one command on the local control socket: a JSON
// object on one line.
type ControlRequest struct {
	Cmd   string         `json:"cmd"`             // "status", "screen", "step", "maint"
	Step  string         `json:"step,omitempty"`  // for "step": one scenario line, e.g. "insert card alice-debit"
	Maint *maint.Request `json:"maint,omitempty"` // for "maint": supervisor mode (`atmd maint`)
}

// ControlResponse answers it: a JSON object on one line.
type ControlResponse struct {
	OK     bool            `json:"ok"`
	Error  string          `json:"error,omitempty"`
	Status *Snapshot       `json:"status,omitempty"`
	Maint  *maint.Response `json:"maint,omitempty"`
	// Screen is the customer screen shown now (for "screen"), QR payload
	// included: what a phone held up to the ATM would see.
	Screen *display.Screen `json:"screen,omitempty"`
}

// ServeControl serves the local control socket at path until ctx ends.
// The socket is created owner-only (0600) in a directory only the owner
// can enter, because it controls the ATM.
func ServeControl(ctx context.Context, path string, handle func(context.Context, ControlRequest) ControlResponse, log zerolog.Logger) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("control: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return fmt.Errorf("control: %s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return fmt.Errorf("control: %s is in use: is another atmd running?", path)
		}
		os.Remove(path)
	}
	old := umask(0o177)
	ln, err := net.Listen("unix", path)
	umask(old)
	if err != nil {
		return fmt.Errorf("control: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("control: %w", err)
	}
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("control: %w", err)
		}
		go serveControlConn(ctx, c, handle, log)
	}
}

func serveControlConn(ctx context.Context, c net.Conn, handle func(context.Context, ControlRequest) ControlResponse, log zerolog.Logger) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 4096), 64*1024)
	enc := json.NewEncoder(c)
	for sc.Scan() {
		var req ControlRequest
		var resp ControlResponse
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			resp.Error = "control: request is not a JSON object: " + err.Error()
		} else {
			c.SetDeadline(time.Now().Add(60 * time.Second))
			resp = safeHandle(ctx, handle, req, log)
		}
		if err := enc.Encode(resp); err != nil {
			log.Debug().Err(err).Msg("control client went away")
			return
		}
	}
}

// Ask sends one control request to the daemon at path.
func Ask(ctx context.Context, path string, req ControlRequest) (*ControlResponse, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("cannot reach atmd at %s (is it running?): %w", path, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return nil, err
	}
	var resp ControlResponse
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		return nil, fmt.Errorf("control: bad answer: %w", err)
	}
	if !resp.OK {
		return &resp, errors.New(resp.Error)
	}
	return &resp, nil
}

// safeHandle answers one request; a panic in the handler (a step the
// scenario driver could not carry out) becomes an error answer, never a
// dead ATM.
func safeHandle(ctx context.Context, handle func(context.Context, ControlRequest) ControlResponse, req ControlRequest, log zerolog.Logger) (resp ControlResponse) {
	defer func() {
		if p := recover(); p != nil {
			log.Error().Str("cmd", req.Cmd).Interface("panic", p).Msg("control request failed")
			resp = ControlResponse{Error: fmt.Sprintf("control: %s failed: internal error", req.Cmd)}
		}
	}()
	return handle(ctx, req)
}
