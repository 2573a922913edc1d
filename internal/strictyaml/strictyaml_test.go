package strictyaml

import (
	"errors"
	"testing"
)

type doc struct {
	Name  string `yaml:"name"`
	Items []struct {
		N    int   `yaml:"n"`
		Tags []int `yaml:"tags"`
	} `yaml:"items"`
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Error // nil: no error expected
		is   error   // sentinel expected instead of []Error
	}{
		{name: "ok", in: "name: x\nitems:\n  - n: 1\n    tags: [1, 2]\n"},
		{name: "unknown key", in: "name: x\nitems:\n  - n: 1\n    colour: red\n",
			want: []Error{{Line: 4, Key: "items[0].colour", Msg: "field colour not found in type struct { N int \"yaml:\\\"n\\\"\"; Tags []int \"yaml:\\\"tags\\\"\" }"}}},
		{name: "two errors", in: "name: [x]\nitems:\n  - n: one\n",
			want: []Error{
				{Line: 1, Key: "name", Msg: "cannot unmarshal !!seq into string"},
				{Line: 3, Key: "items[0].n", Msg: "cannot unmarshal !!str `one` into int"},
			}},
		{name: "block sequence item", in: "items:\n  - n: 1\n    tags:\n      - 1\n      - two\n",
			want: []Error{{Line: 5, Key: "items[0].tags[1]", Msg: "cannot unmarshal !!str `two` into int"}}},
		{name: "empty", in: "", is: ErrEmpty},
		{name: "comment only", in: "# nothing\n", is: ErrEmpty},
		{name: "two documents", in: "name: a\n---\nname: b\n", is: ErrMultiple},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d doc
			err := Decode([]byte(tt.in), &d)
			if tt.is != nil {
				if !errors.Is(err, tt.is) {
					t.Fatalf("err = %v, want %v", err, tt.is)
				}
				return
			}
			var got []Error
			if err != nil {
				joined, ok := err.(interface{ Unwrap() []error })
				if !ok {
					t.Fatalf("err = %v, not a joined error", err)
				}
				for _, e := range joined.Unwrap() {
					var fe *Error
					if !errors.As(e, &fe) {
						t.Fatalf("err %v is not an *Error", e)
					}
					got = append(got, *fe)
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("errors = %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("error %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	if got := (&Error{Line: 3, Key: "a.b", Msg: "bad"}).Error(); got != "line 3: a.b: bad" {
		t.Errorf("got %q", got)
	}
	if got := (&Error{Line: 3, Msg: "bad"}).Error(); got != "line 3: bad" {
		t.Errorf("got %q", got)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte("name: x\nitems:\n  - n: 1\n    tags: [1, 2]\n"))
	f.Add([]byte("name: [x]\nitems:\n  - n: one\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var d doc
		_ = Decode(data, &d) // must not panic
	})
}
