package scenario

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Step is one line of a scenario file.
type Step struct {
	Line int      // 1-based line number
	Verb string   // first word ("expect screen" for expectations)
	Args []string // the words after the verb, quotes removed
	Raw  string   // the line as written, without its comment
}

func (s Step) String() string { return s.Raw }

// Scenario is a parsed scenario file.
type Scenario struct {
	File  string
	Title string
	Steps []Step
}

// ParseError reports a bad scenario file.
type ParseError struct {
	File string
	Line int
	Msg  string
}

func (e *ParseError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// ErrSyntax is wrapped by every parse error.
var ErrSyntax = errors.New("scenario: syntax error")

func (e *ParseError) Unwrap() error { return ErrSyntax }

// grammar lists each verb with its argument count (min, max; -1: any) and
// a usage line for error messages.
var grammar = map[string]struct {
	min, max int
	usage    string
}{
	"insert card":        {1, 1, "insert card CARD-ID | insert card unreadable"},
	"take card":          {0, 0, "take card"},
	"take cash":          {0, 0, "take cash"},
	"enter":              {1, 1, "enter DIGITS | enter phone"},
	"press":              {1, -1, "press KEY... (enter, cancel, clear, backspace, F1..F8)"},
	"choose":             {1, 1, "choose MENU-ITEM (its id or its label)"},
	"wait":               {1, 1, "wait DURATION (e.g. 30s, 2m)"},
	"host stop":          {0, 0, "host stop"},
	"host start":         {0, 0, "host start"},
	"fault":              {2, 2, "fault DEVICE FAULT-CODE"},
	"clear":              {1, 1, "clear DEVICE"},
	"expect screen":      {1, 1, "expect screen SCREEN-ID"},
	"expect text":        {1, 1, `expect text "TEXT ON THE SCREEN"`},
	"expect state":       {1, 1, "expect state in-service|out-of-service"},
	"expect cash":        {1, 3, "expect cash AMOUNT [notes DENOMxCOUNT,...] | expect cash none"},
	"expect card":        {1, 1, "expect card ejected|retained|inside|none"},
	"expect receipt":     {1, 2, `expect receipt contains "TEXT" | expect receipt none`},
	"expect journal":     {1, -1, "expect journal KIND [key=value...]"},
	"expect no journal":  {1, 1, "expect no journal KIND"},
	"expect host":        {1, -1, "expect host MTI [proc CODE] [rc CODE] [amount AMOUNT]"},
	"expect balance":     {2, 2, "expect balance ACCOUNT-ID AMOUNT"},
	"expect card-status": {2, 2, "expect card-status CARD-ID new|active|blocked|expired"},
	"phone login":        {1, 1, "phone login USER"},
	"phone logout":       {0, 0, "phone logout"},
	"phone use":          {1, 1, "phone use CUSTOMER-ID"},
	"phone bind":         {1, 1, "phone bind ACCOUNT-ID"},
	"phone activate":     {1, 1, "phone activate CARD-ID"},
	"phone scan":         {0, 3, "phone scan [again] [refused ERROR-CODE]"},
	"phone read":         {2, 2, "phone read push|sms code|default-pin"},
	// Delegated withdrawal (delegated.go).
	"phone delegate":  {1, 5, "phone delegate create CARD-ID AMOUNT [expires DURATION] | phone delegate cancel"},
	"expect delegate": {1, 1, "expect delegate live|used|cancelled|locked|expired"},
	"expect alert":    {0, 2, `expect alert [contains "TEXT"]`},
	"expect no alert": {0, 0, "expect no alert"},
	"expect camera":   {1, 1, "expect camera STILLS"},
	"expect evidence": {1, 2, "expect evidence delegate-face|owner-face [match|mismatch] | expect evidence none"},
	"camera sees":     {1, 1, "camera sees PERSON|nobody"},
	"host drop":       {1, 1, "host drop reply"},
}

// twoWord verbs take their second word from the line.
var twoWord = map[string]bool{"insert": true, "take": true, "host": true, "expect": true, "phone": true, "camera": true}

// Parse parses a scenario file's text. Every line is checked before
// anything runs, so a bad file fails without starting an ATM.
func Parse(file string, data []byte) (*Scenario, error) {
	sc := &Scenario{File: file}
	var errs []error
	for i, raw := range strings.Split(string(data), "\n") {
		n := i + 1
		words, err := split(raw)
		if err != nil {
			errs = append(errs, &ParseError{file, n, err.Error()})
			continue
		}
		if len(words) == 0 {
			continue
		}
		if words[0] == "title:" || strings.HasPrefix(words[0], "title:") {
			t := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(stripComment(raw)), "title:"))
			if sc.Title != "" {
				errs = append(errs, &ParseError{file, n, "a second title"})
			}
			sc.Title = t
			continue
		}
		verb, args := words[0], words[1:]
		if twoWord[verb] && len(args) > 0 {
			verb, args = verb+" "+args[0], args[1:]
			if verb == "expect no" && len(args) > 0 {
				verb, args = verb+" "+args[0], args[1:]
			}
		}
		g, ok := grammar[verb]
		if !ok {
			errs = append(errs, &ParseError{file, n, fmt.Sprintf("unknown step %q", strings.Join(words, " "))})
			continue
		}
		if len(args) < g.min || (g.max >= 0 && len(args) > g.max) {
			errs = append(errs, &ParseError{file, n, fmt.Sprintf("wrong number of arguments; usage: %s", g.usage)})
			continue
		}
		if err := check(verb, args); err != nil {
			errs = append(errs, &ParseError{file, n, fmt.Sprintf("%v; usage: %s", err, g.usage)})
			continue
		}
		sc.Steps = append(sc.Steps, Step{Line: n, Verb: verb, Args: args, Raw: strings.TrimSpace(stripComment(raw))})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(sc.Steps) == 0 {
		return nil, &ParseError{file, 1, "no steps"}
	}
	return sc, nil
}

// check validates arguments that can be checked without running.
func check(verb string, args []string) error {
	switch verb {
	case "enter":
		if !isDigits(args[0]) && args[0] != "phone" {
			return fmt.Errorf("%q is not digits (or phone: what the phone last read)", args[0])
		}
	case "expect card-status":
		switch args[1] {
		case "new", "active", "blocked", "expired":
		default:
			return fmt.Errorf("status must be new, active, blocked or expired")
		}
	case "phone scan":
		rest := args
		if len(rest) == 1 && rest[0] == "keep" {
			return nil
		}
		if len(rest) > 0 && rest[0] == "again" {
			rest = rest[1:]
		}
		if len(rest) != 0 && (len(rest) != 2 || rest[0] != "refused") {
			return fmt.Errorf("expected keep, or [again] [refused ERROR-CODE]")
		}
	case "phone read":
		if args[0] != "push" && args[0] != "sms" {
			return fmt.Errorf("read push or sms, not %q", args[0])
		}
		if args[1] != "code" && args[1] != "default-pin" {
			return fmt.Errorf("read a code or a default-pin, not %q", args[1])
		}
	case "press":
		for _, a := range args {
			if _, err := keyName(a); err != nil {
				return err
			}
		}
	case "wait":
		d, err := time.ParseDuration(args[0])
		if err != nil || d <= 0 || d > 24*time.Hour {
			return fmt.Errorf("%q is not a duration between 1s and 24h", args[0])
		}
	case "expect state":
		if args[0] != "in-service" && args[0] != "out-of-service" {
			return fmt.Errorf("state must be in-service or out-of-service")
		}
	case "expect card":
		switch args[0] {
		case "ejected", "retained", "inside", "none":
		default:
			return fmt.Errorf("card must be ejected, retained, inside or none")
		}
	case "expect cash":
		if args[0] == "none" {
			if len(args) != 1 {
				return fmt.Errorf("nothing may follow none")
			}
			return nil
		}
		if _, err := parseAmount(args[0]); err != nil {
			return err
		}
		if len(args) > 1 {
			if len(args) != 3 || args[1] != "notes" {
				return fmt.Errorf("expected notes DENOMxCOUNT[,DENOMxCOUNT]")
			}
			if _, err := parseNotes(args[2]); err != nil {
				return err
			}
		}
	case "expect receipt":
		if !(len(args) == 1 && args[0] == "none") && !(len(args) == 2 && args[0] == "contains") {
			return fmt.Errorf("bad receipt expectation")
		}
	case "expect journal":
		for _, kv := range args[1:] {
			if !strings.Contains(kv, "=") {
				return fmt.Errorf("%q is not key=value", kv)
			}
		}
	case "expect host":
		if len(args[0]) != 4 || !isDigits(args[0]) {
			return fmt.Errorf("%q is not an MTI", args[0])
		}
		rest := args[1:]
		if len(rest)%2 != 0 {
			return fmt.Errorf("options come in pairs")
		}
		for i := 0; i < len(rest); i += 2 {
			switch rest[i] {
			case "proc", "rc":
			case "amount":
				if _, err := parseAmount(rest[i+1]); err != nil {
					return err
				}
			default:
				return fmt.Errorf("unknown host option %q", rest[i])
			}
		}
	case "expect balance":
		if _, err := parseAmount(args[1]); err != nil {
			return err
		}
	case "phone delegate", "expect delegate", "expect alert", "expect camera", "expect evidence", "host drop":
		return checkDelegated(verb, args)
	}
	return nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// parseAmount reads an amount in major units, with optional thousands
// commas and up to two decimals: "2000", "2,000", "12.50".
func parseAmount(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.ReplaceAll(s, ",", ""), 64)
	if err != nil || v < 0 || v > 1e12 {
		return 0, fmt.Errorf("%q is not an amount", s)
	}
	return v, nil
}

// parseNotes reads "1000x2,100x3": denomination (major units) x count.
func parseNotes(s string) (map[float64]int, error) {
	out := map[float64]int{}
	for _, part := range strings.Split(s, ",") {
		d, c, ok := strings.Cut(part, "x")
		den, err1 := parseAmount(d)
		n, err2 := strconv.Atoi(c)
		if !ok || err1 != nil || err2 != nil || n <= 0 || den <= 0 {
			return nil, fmt.Errorf("%q is not DENOMxCOUNT", part)
		}
		out[den] += n
	}
	return out, nil
}

func stripComment(line string) string {
	inQ := false
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case '\\':
			if inQ {
				i++
			}
		case '"':
			inQ = !inQ
		case '#':
			if !inQ {
				return line[:i]
			}
		}
	}
	return line
}

// split breaks a line into words; "double quotes" group words, \" and \\
// escape inside quotes, # starts a comment outside quotes.
func split(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inQ, have := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case inQ && c == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
		case c == '"':
			inQ = !inQ
			have = true
		case !inQ && c == '#':
			i = len(line)
		case !inQ && (c == ' ' || c == '\t' || c == '\r'):
			if have {
				words = append(words, cur.String())
				cur.Reset()
				have = false
			}
		case c < 0x20 && c != '\t':
			return nil, fmt.Errorf("control character 0x%02x", c)
		default:
			cur.WriteByte(c)
			have = true
		}
	}
	if inQ {
		return nil, errors.New("unterminated quote")
	}
	if have {
		words = append(words, cur.String())
	}
	return words, nil
}
