package devsim

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/atmd/atmd/hal"
	"github.com/atmd/atmd/hal/sensors"
	"github.com/atmd/atmd/hal/sensors/sensorstest"
)

func newSensors(t *testing.T) *Sensors {
	t.Helper()
	s, err := NewSensors(DefaultSensorsOptions)
	if err != nil {
		t.Fatalf("NewSensors: %v", err)
	}
	return s
}

func TestSensorsConformance(t *testing.T) {
	sensorstest.Run(t, func(t *testing.T) sensorstest.Harness {
		s := newSensors(t)
		return sensorstest.Harness{Dev: s, Set: s.Set, Light: s.Light}
	})
}

func TestSensorsOffline(t *testing.T) {
	s := newSensors(t)
	if err := s.Inject("SEN-OFFLINE"); err != nil {
		t.Fatal(err)
	}
	if st := s.Status(); st.State != hal.Offline || st.Fault != "SEN-OFFLINE" {
		t.Errorf("Status = %v, want offline SEN-OFFLINE", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	calls := map[string]func() error{
		"Read":     func() error { _, err := s.Read(ctx); return err },
		"Watch":    func() error { _, err := s.Watch(ctx); return err },
		"SetLight": func() error { return s.SetLight(ctx, sensors.CashLight, true) },
		"Halt":     func() error { return s.Halt(ctx) },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, hal.ErrOffline) || hal.FaultCode(err) != "SEN-OFFLINE" {
			t.Errorf("%s offline = %v, want ErrOffline with code SEN-OFFLINE", name, err)
		}
	}
	if s.Light(sensors.CashLight) {
		t.Error("offline SetLight switched the light")
	}
	s.Clear()
	if st := s.Status(); !st.OK() {
		t.Errorf("Status after Clear = %v", st)
	}
	if _, err := s.Read(ctx); err != nil {
		t.Errorf("Read after Clear: %v", err)
	}
}

func TestSensorsTamperFault(t *testing.T) {
	s := newSensors(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Inject("SEN-TAMPER"); err != nil {
		t.Fatal(err)
	}
	if st := s.Status(); st.Fault != "SEN-TAMPER" || st.State != hal.Online {
		t.Errorf("Status = %v, want online SEN-TAMPER", st)
	}
	if c, err := s.Watch(ctx); err != nil || c != (sensors.Change{Input: sensors.Tamper, On: true}) {
		t.Errorf("Watch = %+v, %v; want tamper on", c, err)
	}
	s.Clear()
	if c, err := s.Watch(ctx); err != nil || c != (sensors.Change{Input: sensors.Tamper, On: false}) {
		t.Errorf("Watch after Clear = %+v, %v; want tamper off", c, err)
	}
	if st := s.Status(); !st.OK() {
		t.Errorf("Status after Clear = %v", st)
	}
}

func TestSensorsControlErrors(t *testing.T) {
	s := newSensors(t)
	if err := s.Inject("DSP-JAM"); !errors.Is(err, hal.ErrInvalid) {
		t.Errorf("Inject(DSP-JAM) = %v, want ErrInvalid", err)
	}
	if err := s.Set("no-such-input", true); !errors.Is(err, hal.ErrInvalid) {
		t.Errorf("Set(unknown) = %v, want ErrInvalid", err)
	}
	if s.Light("no-such-light") {
		t.Error("unknown light reads on")
	}
	noTamper := DefaultSensorsOptions
	noTamper.Inputs = []sensors.Input{sensors.VaultDoor}
	s2, err := NewSensors(noTamper)
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Inject("SEN-TAMPER"); err == nil {
		t.Error("Inject(SEN-TAMPER) without a tamper input succeeded")
	}
}
