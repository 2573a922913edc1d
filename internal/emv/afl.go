package emv

import "fmt"

// AFLEntry is one entry of the application file locator: read records
// First to Last of the short file SFI; the first ODA of them take part in
// offline data authentication.
type AFLEntry struct {
	SFI, First, Last, ODA byte
}

// ParseAFL decodes an application file locator (tag 94): four bytes per
// entry, SFI 1–30 in the top five bits of the first byte (low three bits
// zero), 1 ≤ First ≤ Last, ODA ≤ Last−First+1.
func ParseAFL(b []byte) ([]AFLEntry, error) {
	if len(b) == 0 || len(b)%4 != 0 {
		return nil, &ParseError{What: "AFL", Err: fmt.Errorf("%w: %d bytes, want a non-zero multiple of 4", ErrMalformed, len(b))}
	}
	out := make([]AFLEntry, 0, len(b)/4)
	for i := 0; i < len(b); i += 4 {
		e := AFLEntry{SFI: b[i] >> 3, First: b[i+1], Last: b[i+2], ODA: b[i+3]}
		switch {
		case b[i]&7 != 0 || e.SFI == 0 || e.SFI > 30:
			return nil, &ParseError{What: "AFL", Offset: i, Err: fmt.Errorf("%w: SFI byte %02X", ErrMalformed, b[i])}
		case e.First == 0 || e.Last < e.First:
			return nil, &ParseError{What: "AFL", Offset: i, Err: fmt.Errorf("%w: records %d to %d", ErrMalformed, e.First, e.Last)}
		case int(e.ODA) > int(e.Last-e.First)+1:
			return nil, &ParseError{What: "AFL", Offset: i, Err: fmt.Errorf("%w: %d ODA records of %d", ErrMalformed, e.ODA, e.Last-e.First+1)}
		}
		out = append(out, e)
	}
	return out, nil
}

// EncodeAFL encodes entries as tag 94's value.
func EncodeAFL(entries ...AFLEntry) []byte {
	out := make([]byte, 0, 4*len(entries))
	for _, e := range entries {
		out = append(out, e.SFI<<3, e.First, e.Last, e.ODA)
	}
	return out
}
