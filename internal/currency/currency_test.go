package currency

import "testing"

func TestFormat(t *testing.T) {
	twd, _ := ByAlpha("TWD")
	jpy, _ := ByNumeric("392")
	for _, tc := range []struct {
		c    Currency
		in   int64
		want string
	}{
		{twd, 150000, "NT$1,500"},
		{twd, 150050, "NT$1,500.50"},
		{twd, 105, "NT$1.05"},
		{twd, 0, "NT$0"},
		{twd, 123456789000, "NT$1,234,567,890"},
		{twd, -2000, "-NT$20"},
		{jpy, 10000, "¥10,000"},
	} {
		if got := tc.c.Format(tc.in); got != tc.want {
			t.Errorf("%s.Format(%d) = %q, want %q", tc.c.Alpha, tc.in, got, tc.want)
		}
	}
	if _, err := ByAlpha("XXX"); err != ErrUnknown {
		t.Fatal("unknown currency accepted")
	}
}
