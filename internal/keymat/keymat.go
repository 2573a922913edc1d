// Package keymat holds key material as it appears in configuration files:
// a hex string in YAML that never prints itself. String, every fmt verb,
// MarshalText and so JSON and zerolog give the key's check value ("KCV
// 1A2B3C") for a TDES-sized key and "***" otherwise, so a Key is safe in
// logs, dumps and error messages.
package keymat

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"gopkg.in/yaml.v3"

	"github.com/atmd/atmd/internal/pinblock"
)

// ErrNotHex: the value is not a hex string.
var ErrNotHex = errors.New("keymat: key is not a hex string")

// Key is key material.
type Key []byte

// UnmarshalYAML decodes a hex string scalar. Its errors give the line but
// never the value, in the form strictyaml annotates with the key path.
func (k *Key) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: key must be a hex string", n.Line)}}
	}
	if err := k.UnmarshalText([]byte(n.Value)); err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: key must be a hex string", n.Line)}}
	}
	return nil
}

// UnmarshalText decodes a hex string.
func (k *Key) UnmarshalText(b []byte) error {
	out := make([]byte, hex.DecodedLen(len(b)))
	if _, err := hex.Decode(out, b); err != nil {
		return ErrNotHex
	}
	*k = out
	return nil
}

// String returns the key's check value or "***", never the key.
func (k Key) String() string {
	if kcv, err := pinblock.KCV(k); err == nil {
		return fmt.Sprintf("KCV %X", kcv)
	}
	return "***"
}

// Format writes String for every verb.
func (k Key) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// MarshalText returns String, so encoders never write the key.
func (k Key) MarshalText() ([]byte, error) { return []byte(k.String()), nil }
