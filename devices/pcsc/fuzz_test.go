package pcsc

import (
	"context"
	"errors"
	"testing"

	"github.com/atmd/atmd/internal/emv"
)

// FuzzParseResponse: ParseResponse never panics and keeps every byte.
func FuzzParseResponse(f *testing.F) {
	for _, s := range [][]byte{{0x90, 0x00}, {0x6A, 0x82}, {1, 2, 0x90, 0x00}, {0x90}, {}, {0x12, 0x34}} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseResponse(b)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v does not wrap ErrProtocol", err)
			}
			return
		}
		if len(r.Data)+2 != len(b) || byte(r.SW>>8) != b[len(b)-2] || byte(r.SW) != b[len(b)-1] {
			t.Fatalf("ParseResponse(% X) = %+v", b, r)
		}
	})
}

// FuzzTemplates: the kernel's decoders of card answers never panic.
func FuzzTemplates(f *testing.F) {
	for _, s := range []string{
		"6F0B8407A0000000031010A500", "800A180008010100100101 00", "770A82021800940408010200",
		"701C610C4F07A0000000031010870102610C4F07A0000000041010870101",
		"8012800001112233445566778806010A03A00000", "771A9F2701009F360200029F260811223344556677889F100100",
	} {
		f.Add(unhex(f, s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseFCI(b)
		_, _, _ = parseGPO(b)
		_, _ = parseGenerateAC(b)
		_, _ = directoryEntries(b)
		data := map[emv.Tag][]byte{}
		if collectRecord(data, b) == nil {
			_, _ = cardData(data)
		}
	})
}

// fuzzCard answers the kernel's commands with responses cut from the
// fuzz input: a length byte, then that many bytes, again and again. When
// the input runs out the card is gone.
type fuzzCard struct{ in []byte }

func (c *fuzzCard) transmit(context.Context, []byte) ([]byte, error) {
	if len(c.in) == 0 {
		return nil, &transportError{kind: errRemoved}
	}
	n := int(c.in[0])
	c.in = c.in[1:]
	if n > len(c.in) {
		n = len(c.in)
	}
	r := c.in[:n]
	c.in = c.in[n:]
	return r, nil
}

// FuzzKernel: whatever a card answers, the kernel ends with a card or a
// typed error, never a panic or an endless loop.
func FuzzKernel(f *testing.F) {
	for _, s := range []string{
		"02 6A82 0F 6F0B8407A0000000031010A5009000 02 6A82",
		"02 6A82 0F 6F0B8407A0000000031010A5009000 02 6A82 0F 6F0B8407A0000000031010A5009000 0E 800A1800080101001001010090 00",
		"06 DEADBEEF9000 01 90",
	} {
		f.Add(unhex(f, s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		k := testKernel(&fuzzCard{in: b})
		k.aids = twoAIDs
		_, err := k.read(context.Background())
		if err == nil {
			_, err = k.generateAC(context.Background(), testTxn)
			if err == nil {
				return
			}
		}
		var ce *CardError
		var te *transportError
		if !errors.As(err, &ce) && !errors.As(err, &te) && !errors.Is(err, errNextCandidate) {
			t.Fatalf("untyped error %v", err)
		}
	})
}
