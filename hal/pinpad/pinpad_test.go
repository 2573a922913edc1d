package pinpad

import "testing"

func TestEditEntry(t *testing.T) {
	var echoed []Key
	echo := func(k Key) { echoed = append(echoed, k) }
	d := []byte("1234")
	full := d
	d = EditEntry(KeyBackspace, d, echo)
	if string(d) != "123" || full[3] != 0 {
		t.Fatalf("backspace: %q, removed digit not wiped: %v", d, full)
	}
	d = EditEntry("5", d, echo) // not an editing key: unchanged, no echo
	if string(d) != "123" {
		t.Fatalf("digit changed the entry: %q", d)
	}
	d = EditEntry(KeyClear, d, echo)
	if len(d) != 0 || full[0] != 0 || full[1] != 0 || full[2] != 0 {
		t.Fatalf("clear: %q, digits not wiped: %v", d, full)
	}
	if d = EditEntry(KeyBackspace, d, nil); len(d) != 0 {
		t.Fatal("backspace on an empty entry")
	}
	if len(echoed) != 2 || echoed[0] != KeyBackspace || echoed[1] != KeyClear {
		t.Fatalf("echoed %v", echoed)
	}
	for k, want := range map[Key]bool{"0": true, "9": true, KeyEnter: true, KeyCancel: true, KeyClear: true, KeyBackspace: true, F1: false, "A": false} {
		if EntryKey(k) != want {
			t.Errorf("EntryKey(%q) = %v", k, !want)
		}
	}
}
