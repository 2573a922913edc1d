package hostlink

import (
	"fmt"

	"github.com/moov-io/iso8583"
	"github.com/moov-io/iso8583/encoding"
	"github.com/moov-io/iso8583/field"
	"github.com/moov-io/iso8583/padding"
	"github.com/moov-io/iso8583/prefix"
)

// Spec is the atmd ISO 8583:1987 profile: every field is ASCII except the
// bitmap and the binary fields 52, 55 and 128, which travel as upper-case
// hex characters. The definitions follow specs.Spec87ASCII of
// moov-io/iso8583, restricted to the fields of Message, with these
// differences:
//
//   - field 1 (bitmap) is 8 bytes (16 hex characters); a secondary bitmap
//     follows, and bit 1 is set, only when a field above 64 is present;
//   - fields 3, 7, 11, 12 and 13 are strings of exact length, so leading
//     zeros survive a round trip;
//   - field 4 is numeric, left-padded with '0';
//   - fields 41 and 42 are right-padded with spaces, which unpacking
//     removes;
//   - fields 52 and 128 are 8 raw bytes sent as 16 hex characters;
//   - field 55 is binary with an LLL prefix that counts bytes, sent as hex;
//   - fields 70, 90 and 95 are added.
//
// Message's struct tags bind its Go fields to these numbers.
var Spec = &iso8583.MessageSpec{
	Name: "atmd ISO 8583:1987 ASCII",
	Fields: map[int]field.Field{
		0: field.NewString(&field.Spec{
			Length:      4,
			Description: "Message Type Indicator",
			Enc:         encoding.ASCII,
			Pref:        prefix.ASCII.Fixed,
		}),
		1: field.NewBitmap(&field.Spec{
			Length:      8,
			Description: "Bitmap",
			Enc:         encoding.BytesToASCIIHex,
			Pref:        prefix.Hex.Fixed,
		}),
		2: field.NewString(&field.Spec{
			Length:      19,
			Description: "Primary Account Number",
			Enc:         encoding.ASCII,
			Pref:        prefix.ASCII.LL,
		}),
		3: field.NewString(&field.Spec{
			Length:      6,
			Description: "Processing Code",
			Enc:         encoding.ASCII,
			Pref:        prefix.ASCII.Fixed,
		}),
		4: field.NewNumeric(&field.Spec{
			Length:      12,
			Description: "Transaction Amount",
			Enc:         encoding.ASCII,
			Pref:        prefix.ASCII.Fixed,
			Pad:         padding.Left('0'),
		}),
		7: field.NewString(&field.Spec{
			Length:      10,
			Description: "Transmission Date & Time",
			Enc:         encoding.ASCII,
			Pref:        prefix.ASCII.Fixed,
		}),
		11: field.NewString(&field.Spec{
			Length:      6,
			Description: "Systems Trace Audit Number (STAN)",
			Enc:         encoding.ASCII,
			Pref:        prefix.ASCII.Fixed,
		}),
		12: field.NewString(&field.Spec{
			Length:      6,
			Description: "Local Transaction Time",
			Enc:         encoding.ASCII,
			Pref:        prefix.ASCII.Fixed,
		}),
		13: field.NewString(&field.Spec{
			Length:      4,
			Description: "Local Transaction Date",
			Enc:         encoding.ASCII,
			Pref:        prefix.ASCII.Fixed,
		}),
		14: field.NewString(&field.Spec{
			Length:      4,
			Description: "Expiration Date",
			Enc:         encoding.ASCII,
			Pref:        prefix.ASCII.Fixed,
		}),
		22: field.NewString(&field.Spec{
			Length:      3,
			Description: "Point of Service Entry Mode",
			Enc:         encoding.ASCII,
			Pref:        prefix.ASCII.Fixed,
		}),
		23: field.NewString(&field.Spec{
			Length:      3,
			Description: "Card Sequence Number",
			Enc:         encoding.ASCII,
			Pref:        prefix.ASCII.Fixed,
		}),
		35: field.NewString(&field.Spec{
			Length:      37,
			Description: "Track 2 Data",
			Enc:         encoding.ASCII,
			Pref:        prefix.ASCII.LL,
		}),
		37: field.NewString(&field.Spec{
			Length:      12,
			Description: "Retrieval Reference Number",
			Enc:         encoding.ASCII,
			Pref:        prefix.ASCII.Fixed,
		}),
		38: field.NewString(&field.Spec{
			Length:      6,
			Description: "Authorization Identification Response",
			Enc:         encoding.ASCII,
			Pref:        prefix.ASCII.Fixed,
		}),
		39: field.NewString(&field.Spec{
			Length:      2,
			Description: "Response Code",
			Enc:         encoding.ASCII,
			Pref:        prefix.ASCII.Fixed,
		}),
		41: field.NewString(&field.Spec{
			Length:      8,
			Description: "Card Acceptor Terminal Identification",
			Enc:         encoding.ASCII,
			Pref:        prefix.ASCII.Fixed,
			Pad:         padding.Right(' '),
		}),
		42: field.NewString(&field.Spec{
			Length:      15,
			Description: "Card Acceptor Identification Code",
			Enc:         encoding.ASCII,
			Pref:        prefix.ASCII.Fixed,
			Pad:         padding.Right(' '),
		}),
		48: field.NewString(&field.Spec{
			Length:      999,
			Description: "Additional Data (Private)",
			Enc:         encoding.ASCII,
			Pref:        prefix.ASCII.LLL,
		}),
		49: field.NewString(&field.Spec{
			Length:      3,
			Description: "Transaction Currency Code",
			Enc:         encoding.ASCII,
			Pref:        prefix.ASCII.Fixed,
		}),
		52: field.NewBinary(&field.Spec{
			Length:      8,
			Description: "PIN Data",
			Enc:         encoding.BytesToASCIIHex,
			Pref:        prefix.ASCII.Fixed,
		}),
		54: field.NewString(&field.Spec{
			Length:      120,
			Description: "Additional Amounts",
			Enc:         encoding.ASCII,
			Pref:        prefix.ASCII.LLL,
		}),
		55: field.NewBinary(&field.Spec{
			// ISO 8583:1987 field 55 is ans..999: its LLL prefix counts
			// characters. The chip data's bytes travel as two hex
			// characters each, so the prefix is twice the byte count
			// (at most 255 bytes, 510 characters) — what a generic 1987
			// decoder expects.
			Length:      iccMaxChars,
			Description: "ICC Data",
			Enc:         encoding.BytesToASCIIHex,
			Pref:        prefix.ASCII.LLL,
			Packer:      hexCharsPacker{},
			Unpacker:    hexCharsUnpacker{},
		}),
		70: field.NewString(&field.Spec{
			Length:      3,
			Description: "Network Management Information Code",
			Enc:         encoding.ASCII,
			Pref:        prefix.ASCII.Fixed,
		}),
		90: field.NewString(&field.Spec{
			Length:      42,
			Description: "Original Data Elements",
			Enc:         encoding.ASCII,
			Pref:        prefix.ASCII.Fixed,
		}),
		95: field.NewString(&field.Spec{
			Length:      42,
			Description: "Replacement Amounts",
			Enc:         encoding.ASCII,
			Pref:        prefix.ASCII.Fixed,
		}),
		128: field.NewBinary(&field.Spec{
			Length:      8,
			Description: "Message Authentication Code",
			Enc:         encoding.BytesToASCIIHex,
			Pref:        prefix.ASCII.Fixed,
		}),
	},
}

// iccMaxChars is field 55's longest value in characters: 255 bytes.
const iccMaxChars = 510

// hexCharsPacker packs a binary field as hex characters behind a length
// prefix that counts those characters (not the bytes).
type hexCharsPacker struct{}

func (hexCharsPacker) Pack(value []byte, spec *field.Spec) ([]byte, error) {
	enc, err := spec.Enc.Encode(value)
	if err != nil {
		return nil, fmt.Errorf("failed to encode content: %w", err)
	}
	pref, err := spec.Pref.EncodeLength(spec.Length, len(enc))
	if err != nil {
		return nil, fmt.Errorf("failed to encode length: %w", err)
	}
	return append(pref, enc...), nil
}

// hexCharsUnpacker reads what hexCharsPacker wrote: the prefix gives the
// number of hex characters, which must be even.
type hexCharsUnpacker struct{}

func (hexCharsUnpacker) Unpack(data []byte, spec *field.Spec) ([]byte, int, error) {
	n, read, err := spec.Pref.DecodeLength(spec.Length, data)
	if err != nil {
		return nil, 0, fmt.Errorf("failed to decode length: %w", err)
	}
	if n%2 != 0 {
		return nil, 0, fmt.Errorf("odd number of hex characters: %d", n)
	}
	value, used, err := spec.Enc.Decode(data[read:], n/2)
	if err != nil {
		return nil, 0, fmt.Errorf("failed to decode content: %w", err)
	}
	return value, read + used, nil
}
