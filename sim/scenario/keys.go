package scenario

import (
	"fmt"
	"strings"

	"github.com/atmd/atmd/hal/pinpad"
)

// keyName maps a key as written in a scenario to a PIN pad key.
func keyName(s string) (pinpad.Key, error) {
	switch strings.ToLower(s) {
	case "enter":
		return pinpad.KeyEnter, nil
	case "cancel":
		return pinpad.KeyCancel, nil
	case "clear":
		return pinpad.KeyClear, nil
	case "backspace":
		return pinpad.KeyBackspace, nil
	}
	k := pinpad.Key(strings.ToUpper(s))
	if k.IsFDK() || k.IsDigit() {
		return k, nil
	}
	return "", fmt.Errorf("unknown key %q", s)
}
