package printertest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/atmd/atmd/hal/printer"
	"github.com/atmd/atmd/hal/printer/printertest"
)

func TestFakeConformance(t *testing.T) {
	printertest.Run(t, func(t *testing.T) printertest.Harness {
		f := printertest.NewFake()
		return printertest.Harness{Dev: f, Printed: f.Receipts, SetPaper: f.SetPaper}
	})
}

func TestFakeScripts(t *testing.T) {
	f := printertest.NewFake()
	jam := errors.New("jam")
	f.FailNext("Print", jam)
	r := printer.Receipt{Lines: []string{"A"}}
	if err := f.Print(context.Background(), r); err != jam {
		t.Fatalf("first Print = %v, want the scripted error", err)
	}
	if err := f.Print(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if got := f.Receipts(); len(got) != 1 {
		t.Fatalf("Receipts = %v, want one", got)
	}
}
