package mask

import "testing"

func TestPAN(t *testing.T) {
	for _, tc := range []struct{ in, want, last4 string }{
		{"4761739001010119", "476173******0119", "**** 0119"},
		{"5413330089600010123", "541333*********0123", "**** 0123"},
		{"123456789012", "123456**9012", "**** 9012"},
		{"12345678901", "***********", "****"},
		{"47617390010101x9", "****************", "****"},
		{"", "", "****"},
	} {
		if got := PAN(tc.in); got != tc.want {
			t.Errorf("PAN(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if got := Last4(tc.in); got != tc.last4 {
			t.Errorf("Last4(%q) = %q, want %q", tc.in, got, tc.last4)
		}
	}
}
