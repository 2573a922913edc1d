package strictyaml

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// ErrEmpty: the input holds no YAML document.
var ErrEmpty = errors.New("strictyaml: empty document")

// ErrMultiple: the input holds more than one YAML document.
var ErrMultiple = errors.New("strictyaml: more than one document")

// Error is one unknown key or mistyped value.
type Error struct {
	Line int    // 1-based line in the input
	Key  string // key path, e.g. "customers[0].accounts[1].balance"; "" if unknown
	Msg  string // what is wrong
}

func (e *Error) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return fmt.Sprintf("line %d: %s: %s", e.Line, e.Key, e.Msg)
}

// Decode decodes the single YAML document in data into v, which must be a
// pointer. Unknown keys and mistyped values are reported together, as
// *Error values joined with errors.Join; syntax errors are returned as
// yaml.v3 reports them.
func Decode(data []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(v)
	if errors.Is(err, io.EOF) {
		return ErrEmpty
	}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return annotate(data, te)
	}
	if err != nil {
		return err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return ErrMultiple
	}
	return nil
}

// annotate turns yaml.v3's "line N: msg" strings into *Error values that
// name the key on line N.
func annotate(data []byte, te *yaml.TypeError) error {
	var root yaml.Node
	var keys map[int]string
	if yaml.Unmarshal(data, &root) == nil {
		keys = walk(&root)
	}
	errs := make([]error, 0, len(te.Errors))
	for _, s := range te.Errors {
		e := &Error{Msg: s}
		if rest, ok := strings.CutPrefix(s, "line "); ok {
			if n, msg, ok := strings.Cut(rest, ": "); ok {
				if line, err := strconv.Atoi(n); err == nil {
					e = &Error{Line: line, Key: keys[line], Msg: msg}
				}
			}
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

// walk records, for each line, the path of the first key on it, or, on a
// line without a key (a block sequence item), the first value.
func walk(root *yaml.Node) map[int]string {
	keys, values := map[int]string{}, map[int]string{}
	mark := func(m map[int]string, line int, p string) {
		if _, ok := m[line]; !ok && p != "" {
			m[line] = p
		}
	}
	var visit func(n *yaml.Node, path string)
	visit = func(n *yaml.Node, path string) {
		mark(values, n.Line, path)
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				visit(c, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := k.Value
				if path != "" {
					p = path + "." + k.Value
				}
				mark(keys, k.Line, p)
				visit(v, p)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				visit(c, fmt.Sprintf("%s[%d]", path, i))
			}
		}
	}
	visit(root, "")
	for line, p := range values {
		mark(keys, line, p)
	}
	return keys
}
