package faults

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/atmd/atmd/atm"
)

// atmParams say how the ATM's config is derived from the base config.
type atmParams struct {
	StateDir, Socket string // absolute
	HostAddr         string // the host's or the proxy's address
	Seed             string // absolute path of the seed the card reader inserts cards from
	Timeout          time.Duration
	MinBackoff       time.Duration
	MaxBackoff       time.Duration
	Echo             time.Duration
	Message          time.Duration // atm.timeouts.message
	PickDelay        time.Duration
	FastAmount       int64 // major units, the only fast amount
	Denomination     int64 // major units, of the only cassette
	Notes            int   // notes loaded in it
}

// deriveConfig turns the base config into the ATM's config for the
// suite, working on the YAML node tree so that everything else in the
// base (comments included) stays as it was: the host section is removed
// (the harness runs the host), TLS is removed (the fault proxy must see
// the frames), and the keys in p are set. The result is checked with
// atm.ParseConfig.
func deriveConfig(base []byte, p atmParams) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(base, &doc); err != nil {
		return nil, fmt.Errorf("faults: base config: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("faults: base config is not a YAML mapping")
	}
	root := doc.Content[0]
	mapDelete(root, "host")

	a, err := mapEnsure(root, "atm")
	if err != nil {
		return nil, err
	}
	mapSet(a, "state_dir", str(p.StateDir))
	mapSet(a, "control_socket", str(p.Socket))
	mapSet(a, "fast_amounts", &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle, Content: []*yaml.Node{integer(p.FastAmount)}})
	to, err := mapEnsure(a, "timeouts")
	if err != nil {
		return nil, err
	}
	mapSet(to, "message", dur(p.Message))

	hl, err := mapEnsure(root, "host_link")
	if err != nil {
		return nil, err
	}
	mapDelete(hl, "tls")
	mapSet(hl, "addr", str(p.HostAddr))
	mapSet(hl, "timeout", dur(p.Timeout))
	mapSet(hl, "echo_interval", dur(p.Echo))
	mapSet(hl, "min_backoff", dur(p.MinBackoff))
	mapSet(hl, "max_backoff", dur(p.MaxBackoff))

	devs, err := mapEnsure(root, "devices")
	if err != nil {
		return nil, err
	}
	cr, err := mapEnsure(devs, "cardreader")
	if err != nil {
		return nil, err
	}
	mapSet(cr, "seed", str(p.Seed))
	d, err := mapEnsure(devs, "dispenser")
	if err != nil {
		return nil, err
	}
	mapSet(d, "pick_delay", dur(p.PickDelay))
	cassette := &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
	mapSet(cassette, "id", integer(1))
	mapSet(cassette, "denomination", integer(p.Denomination))
	mapSet(cassette, "count", integer(int64(p.Notes)))
	mapSet(cassette, "low", integer(0))
	mapSet(d, "cassettes", &yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{cassette}})

	lg, err := mapEnsure(root, "log")
	if err != nil {
		return nil, err
	}
	mapSet(lg, "format", str("json"))

	out, err := yaml.Marshal(&doc)
	if err != nil {
		return nil, fmt.Errorf("faults: derived config: %w", err)
	}
	if _, err := atm.ParseConfig(out); err != nil {
		return nil, fmt.Errorf("faults: derived config does not load: %w", err)
	}
	return out, nil
}

func str(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

func integer(v int64) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(v, 10)}
}

func dur(d time.Duration) *yaml.Node { return str(d.String()) }

// mapGet returns the value of key in mapping m, or nil.
func mapGet(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// mapSet sets key in mapping m to v, in place when the key is there (its
// comments stay), appended otherwise.
func mapSet(m *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			old := m.Content[i+1]
			v.LineComment, v.HeadComment, v.FootComment = old.LineComment, old.HeadComment, old.FootComment
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, str(key), v)
}

// mapDelete removes key from mapping m.
func mapDelete(m *yaml.Node, key string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return
		}
	}
}

// mapEnsure returns the mapping under key in m, adding an empty one when
// the key is absent (or null).
func mapEnsure(m *yaml.Node, key string) (*yaml.Node, error) {
	v := mapGet(m, key)
	switch {
	case v == nil || v.Kind == yaml.ScalarNode && v.Tag == "!!null":
		v = &yaml.Node{Kind: yaml.MappingNode}
		mapSet(m, key, v)
	case v.Kind != yaml.MappingNode:
		return nil, fmt.Errorf("faults: base config: %s is not a mapping (line %d)", key, v.Line)
	}
	return v, nil
}
