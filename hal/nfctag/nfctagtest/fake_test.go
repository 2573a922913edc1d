package nfctagtest

import (
	"context"
	"errors"
	"slices"
	"testing"
)

func TestFakeConformance(t *testing.T) {
	Run(t, func(t *testing.T) Harness {
		f := NewFake()
		return Harness{Dev: f, Tap: f.Tap}
	})
}

func TestFakeScriptsAndRecords(t *testing.T) {
	f := NewFake()
	ctx := context.Background()
	boom := errors.New("boom")
	f.Fail("Publish", boom)
	if err := f.Publish(ctx, TestMessage); !errors.Is(err, boom) {
		t.Fatalf("scripted Publish = %v, want boom", err)
	}
	if f.Message() != nil {
		t.Error("failed Publish published")
	}
	if err := f.Publish(ctx, TestMessage); err != nil {
		t.Fatalf("second Publish: %v (the script is one-shot)", err)
	}
	if !slices.Equal(f.Message(), TestMessage) {
		t.Errorf("Message = %x", f.Message())
	}
	if want := []string{"Publish", "Publish"}; !slices.Equal(f.Calls(), want) {
		t.Errorf("Calls = %q, want %q", f.Calls(), want)
	}
}
