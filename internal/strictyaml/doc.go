// Package strictyaml decodes atmd's YAML files (the ATM config, the host config, the seed) strictly:
// exactly one document, no unknown keys, no value of the wrong type, and
// every such error names the line and the key path
// ("line 7: customers[0].accounts[0].balance: cannot unmarshal ...").
//
// gopkg.in/yaml.v3 reports unknown keys and type mismatches with a line
// number only; Decode also parses the document into a node tree and
// uses it to name the key found on that line. A type that decodes itself
// (yaml.Unmarshaler) should report its errors as *yaml.TypeError with a
// "line N: " prefix so they are annotated the same way.
package strictyaml
