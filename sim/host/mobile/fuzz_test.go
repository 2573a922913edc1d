package mobile

import (
	"bytes"
	"testing"
)

func fuzzDecoder[T any, PT interface {
	*T
	validator
}](f *testing.F, seeds ...string) {
	for _, s := range seeds {
		f.Add("application/json", []byte(s))
	}
	f.Add("application/json; charset=utf-8", []byte(`{}`))
	f.Add("text/plain", []byte(`{}`))
	f.Fuzz(func(t *testing.T, ctype string, body []byte) {
		v, err := decode[T, PT](ctype, bytes.NewReader(body))
		if (v == nil) == (err == nil) {
			t.Fatalf("value %v and error %v", v, err)
		}
		if err == nil && len(body) > MaxBody {
			t.Fatal("oversized body accepted")
		}
	})
}

func FuzzDecodeLogin(f *testing.F) {
	fuzzDecoder[LoginRequest](f, `{"user":"alice","password":"p","device_id":"dev"}`, `{"user":1}`, `{"x":1}`)
}

func FuzzDecodeBind(f *testing.F) {
	fuzzDecoder[BindRequest](f, `{"account_id":"a","phone":"+886912000101"}`, `{"phone":null}`)
}

func FuzzDecodeIntent(f *testing.F) {
	fuzzDecoder[IntentRequest](f, `{"card_last4":"4054"}`, `{"card_last4":"40545"}`)
}

func FuzzDecodeQR(f *testing.F) {
	fuzzDecoder[QRRequest](f, `{"payload":"atmd://activate?c=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`, `{"payload":""}`)
}
