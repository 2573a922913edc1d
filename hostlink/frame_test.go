package hostlink

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	for _, n := range []int{1, 4, 300, MaxFrameLen} {
		msg := bytes.Repeat([]byte{'7'}, n)
		var buf bytes.Buffer
		if err := WriteFrame(&buf, msg); err != nil {
			t.Fatalf("WriteFrame(%d bytes): %v", n, err)
		}
		if hdr := buf.Bytes()[:2]; int(hdr[0])<<8|int(hdr[1]) != n {
			t.Fatalf("header %X for %d bytes", hdr, n)
		}
		got, err := ReadFrame(&buf, 0)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("ReadFrame = %d bytes, %v; want %d", len(got), err, n)
		}
		if _, err := ReadFrame(&buf, 0); err != io.EOF {
			t.Fatalf("ReadFrame at end = %v, want io.EOF", err)
		}
	}
}

func TestWriteFrameRejects(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteFrame(&buf, nil); !errors.Is(err, ErrEmptyFrame) {
		t.Errorf("empty: %v", err)
	}
	if err := WriteFrame(&buf, make([]byte, MaxFrameLen+1)); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("too large: %v", err)
	}
	if buf.Len() != 0 {
		t.Errorf("rejected frames wrote %d bytes", buf.Len())
	}
}

func TestReadFrameRejects(t *testing.T) {
	tests := []struct {
		name  string
		in    []byte
		limit int
		want  error
	}{
		{"zero length", []byte{0, 0}, 0, ErrEmptyFrame},
		{"over the limit", []byte{0, 11, 'x'}, 10, ErrFrameTooLarge},
		{"half a header", []byte{0}, 0, io.ErrUnexpectedEOF},
		{"short body", []byte{0, 5, 'a', 'b'}, 0, io.ErrUnexpectedEOF},
		{"header only", []byte{0, 5}, 0, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := ReadFrame(bytes.NewReader(tt.in), tt.limit); !errors.Is(err, tt.want) {
				t.Errorf("ReadFrame = %q, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func FuzzReadFrame(f *testing.F) {
	for _, g := range golden() {
		f.Add(frame(f, g.m, g.mac), 0)
	}
	f.Add([]byte{0, 0}, 0)
	f.Add([]byte{0, 3, 'a', 'b', 'c', 0, 1}, 2)
	f.Fuzz(func(t *testing.T, in []byte, limit int) {
		r := bytes.NewReader(in)
		msg, err := ReadFrame(r, limit)
		if err != nil {
			return
		}
		if len(msg) == 0 || (limit > 0 && len(msg) > limit) {
			t.Fatalf("ReadFrame returned %d bytes with limit %d", len(msg), limit)
		}
		var out bytes.Buffer
		if err := WriteFrame(&out, msg); err != nil {
			t.Fatal(err)
		}
		if consumed := len(in) - r.Len(); !bytes.Equal(out.Bytes(), in[:consumed]) {
			t.Fatalf("rewritten frame %X differs from input %X", out.Bytes(), in[:consumed])
		}
	})
}
