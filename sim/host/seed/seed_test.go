package seed

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

const demoPath = "../../../configs/seed.yaml"

const valid = `
customers:
  - id: c1
    name: Test One
    birth_date: 1990-01-31
    phone: "+886912000111"
    accounts:
      - id: a1
        currency: TWD
        balance: 25000
        daily_limit: 20000
    cards:
      - id: c1-debit
        pan: "4761730000001019"
        pan_seq: 1
        expiry: "2912"
        name: TEST ONE
        account: a1
        pin: "7968"
        status: active
`

func TestParseValid(t *testing.T) {
	s, err := Parse([]byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	c, ok := s.Card("c1-debit")
	if !ok {
		t.Fatal("card c1-debit not found")
	}
	want := Card{ID: "c1-debit", PAN: "4761730000001019", PANSeq: 1, Expiry: "2912", Name: "TEST ONE",
		Account: "a1", PIN: "7968", Status: StatusActive}
	if c != want {
		t.Errorf("card = %+v, want %+v", c, want)
	}
	if _, ok := s.Card("nope"); ok {
		t.Error("Card(nope) found a card")
	}
	a := s.Customers[0].Accounts[0]
	if a.Balance != 25000 || a.DailyLimit != 20000 || a.Currency != "TWD" {
		t.Errorf("account = %+v", a)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name    string
		old     string // replaced in valid
		new     string
		sentinl error
		want    string // substring of the error
	}{
		{"unknown key", "    name: Test One\n", "    name: Test One\n    colour: blue\n", ErrDecode, "line 5: customers[0].colour: field colour not found"},
		{"wrong type", "balance: 25000", "balance: lots", ErrDecode, "line 10: customers[0].accounts[0].balance: cannot unmarshal"},
		{"wrong type seq", "pan_seq: 1", "pan_seq: [1]", ErrDecode, "customers[0].cards[0].pan_seq: cannot unmarshal"},
		{"syntax", "name: TEST ONE", "name: [TEST", ErrDecode, "yaml:"},
		{"bad luhn", "4761730000001019", "4761730000001018", ErrInvalid, "customers[0].cards[0]: PAN check digit is wrong"},
		{"short pan", "4761730000001019", "47617300", ErrInvalid, "PAN must be 12–19 digits"},
		{"pan letters", "4761730000001019", "47617300000010AB", ErrInvalid, "PAN must be 12–19 digits"},
		{"bad expiry", `expiry: "2912"`, `expiry: "2913"`, ErrInvalid, `expiry "2913" is not YYMM`},
		{"missing account", "account: a1", "account: a2", ErrInvalid, `account "a2" is not an account of customer "c1"`},
		{"short pin", `pin: "7968"`, `pin: "796"`, ErrInvalid, "PIN must be 4–12 digits"},
		{"pin letters", `pin: "7968"`, `pin: "79a8"`, ErrInvalid, "PIN must be 4–12 digits"},
		{"currency", "currency: TWD", "currency: XYZ", ErrInvalid, `currency "XYZ" is not known`},
		{"negative balance", "balance: 25000", "balance: -1", ErrInvalid, "balance -1 is out of range"},
		{"huge limit", "daily_limit: 20000", "daily_limit: 10000000000", ErrInvalid, "daily_limit 10000000000 is out of range"},
		{"phone", `phone: "+886912000111"`, `phone: "0912000111"`, ErrInvalid, "is not E.164"},
		{"birth date", "birth_date: 1990-01-31", "birth_date: 1990-02-31", ErrInvalid, "is not YYYY-MM-DD"},
		{"status", "status: active", "status: lost", ErrInvalid, `status "lost" is not one of`},
		{"pan seq", "pan_seq: 1", "pan_seq: 100", ErrInvalid, "pan_seq 100 is out of range"},
		{"empty name", "name: TEST ONE", `name: ""`, ErrInvalid, "customers[0].cards[0]: name is empty"},
		{"empty id", "id: c1-debit", `id: ""`, ErrInvalid, "card id is empty"},
		{"no customers", valid, "customers: []", ErrInvalid, "customers: none defined"},
		{"empty", valid, "", ErrDecode, "empty document"},
		{"two documents", valid, valid + "---\n" + valid, ErrDecode, "more than one document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := strings.Replace(valid, tt.old, tt.new, 1)
			if in == valid {
				t.Fatalf("replacement %q not found", tt.old)
			}
			_, err := Parse([]byte(in))
			if !errors.Is(err, tt.sentinl) {
				t.Fatalf("err = %v, want %v", err, tt.sentinl)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "7968") {
				t.Errorf("error reveals the PIN: %q", err)
			}
		})
	}
}

func TestDuplicates(t *testing.T) {
	second := strings.Replace(valid, "customers:\n", "", 1)
	second = strings.Replace(second, "id: a1", "id: a9", 1)
	second = strings.Replace(second, "account: a1", "account: a9", 1)
	_, err := Parse([]byte(valid + second))
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
	for _, want := range []string{
		`customers[1]: customer id "c1" already used at customers[0]`,
		`customers[1].cards[0]: card id "c1-debit" already used at customers[0].cards[0]`,
		"customers[1].cards[0]: PAN already used at customers[0].cards[0]",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err = %q, want it to contain %q", err, want)
		}
	}
}

func TestPINNeverPrinted(t *testing.T) {
	s, err := Parse([]byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d", "%x", "%q"} {
		if out := fmt.Sprintf(verb, s); strings.Contains(out, "7968") || strings.Contains(out, "37393638") {
			t.Errorf("%s prints the PIN: %s", verb, out)
		}
	}
}

func TestLuhn(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"4761730000001019", true},
		{"4761730000001018", false},
		{"79927398713", true},
		{"79927398710", false},
		{"0", true},
		{"", false},
	}
	for _, tt := range tests {
		if got := Luhn(tt.in); got != tt.want {
			t.Errorf("Luhn(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestDemoSeed checks configs/seed.yaml: it is valid, covers the card
// states the scenarios need, and its 4-digit PINs appear in no other
// number of the file, so tests may grep any file for them.
func TestDemoSeed(t *testing.T) {
	s, err := Load(demoPath)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(demoPath)
	if err != nil {
		t.Fatal(err)
	}
	var rest strings.Builder
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.Contains(line, "pin:") {
			rest.WriteString(line + "\n")
		}
	}
	numbers := regexp.MustCompile(`[0-9]+`).FindAllString(rest.String(), -1)
	states := map[Status]int{}
	pins := map[PIN]bool{}
	for _, cu := range s.Customers {
		for _, c := range cu.Cards {
			states[c.Status]++
			if len(c.PIN) != 4 {
				t.Errorf("card %s: demo PIN is not 4 digits", c.ID)
			}
			if pins[c.PIN] {
				t.Errorf("card %s: demo PIN shared with another card", c.ID)
			}
			pins[c.PIN] = true
			for _, n := range numbers {
				if strings.Contains(n, string(c.PIN)) {
					t.Errorf("card %s: demo PIN appears inside %s", c.ID, n)
				}
			}
		}
	}
	for _, st := range []Status{StatusActive, StatusNew, StatusBlocked} {
		if states[st] == 0 {
			t.Errorf("no %s card in the demo seed", st)
		}
	}
	if _, err := Load("testdata/missing.yaml"); err == nil {
		t.Error("Load of a missing file succeeded")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(valid))
	if raw, err := os.ReadFile(demoPath); err == nil {
		f.Add(raw)
	}
	f.Add([]byte("customers: [{id: x, cards: [{pan: 1}]}]"))
	f.Add([]byte("a: &a [*a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			if s != nil {
				t.Fatal("Parse returned a seed and an error")
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("Parse accepted a seed Validate rejects: %v", err)
		}
	})
}
