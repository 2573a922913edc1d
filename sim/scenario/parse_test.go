package scenario

import (
	"errors"
	"strings"
	"testing"
)

func TestParseGood(t *testing.T) {
	src := `# withdrawal
title: Withdraw NT$2,000 with a receipt
insert card alice-debit
expect screen enter-pin   # the PIN screen
enter 4931
press enter
choose withdrawal
expect text "Select an amount"
wait 30s
expect cash 2,000 notes 1000x2
expect receipt contains "AMOUNT NT$2,000"
expect host 0200 proc 010000 rc 00
expect journal DISPENSE-INTENT amount=200000
`
	sc, err := Parse("w.scn", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if sc.Title != "Withdraw NT$2,000 with a receipt" || len(sc.Steps) != 11 {
		t.Fatalf("%q %d steps", sc.Title, len(sc.Steps))
	}
	s := sc.Steps[1]
	if s.Verb != "expect screen" || s.Args[0] != "enter-pin" || s.Line != 4 || s.Raw != "expect screen enter-pin" {
		t.Fatalf("%+v", s)
	}
	if got := sc.Steps[5]; got.Verb != "expect text" || got.Args[0] != "Select an amount" {
		t.Fatalf("%+v", got)
	}
	if got := sc.Steps[8]; got.Args[1] != "AMOUNT NT$2,000" {
		t.Fatalf("%+v", got)
	}
}

func TestParseErrorsNameFileAndLine(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"insert card\n", "x.scn:1: wrong number of arguments"},
		{"take card\nfly away\n", `x.scn:2: unknown step "fly away"`},
		{"enter 12a4\n", `x.scn:1: "12a4" is not digits`},
		{"press F9\n", `unknown key "F9"`},
		{"wait forever\n", "not a duration"},
		{`expect text "open` + "\n", "unterminated quote"},
		{"expect cash 100 notes 100y1\n", "not DENOMxCOUNT"},
		{"expect host 02x0\n", "not an MTI"},
		{"# only a comment\n", "no steps"},
		{"expect card lost\n", "card must be"},
		{"phone read push pin\n", "read a code or a default-pin"},
		{"phone read mail code\n", "read push or sms"},
		{"phone scan twice\n", "expected keep"},
		{"phone scan again refused\n", "expected keep"},
		{"phone login\n", "usage: phone login USER"},
		{"enter phony\n", "is not digits"},
		{"expect card-status david-new lost\n", "status must be"},
	} {
		_, err := Parse("x.scn", []byte(tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.src, err, tc.want)
		}
		if err != nil && !errors.Is(err, ErrSyntax) {
			t.Errorf("%q: error does not wrap ErrSyntax", tc.src)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("insert card alice-debit\nenter 4931\npress enter\nexpect screen main-menu\n"))
	f.Add([]byte(`expect receipt contains "a \"b\" c" # x`))
	f.Add([]byte("title: x\nwait 1s\nexpect cash 1,000.50 notes 500x2\n"))
	f.Add([]byte("phone login david\nphone activate david-new\nphone scan again refused used\nphone read sms code\nenter phone\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := Parse("f", data)
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("error does not wrap ErrSyntax: %v", err)
			}
			return
		}
		for _, s := range sc.Steps {
			if _, ok := grammar[s.Verb]; !ok {
				t.Fatalf("accepted unknown verb %q", s.Verb)
			}
			if s.Line < 1 {
				t.Fatalf("bad line %d", s.Line)
			}
		}
	})
}
