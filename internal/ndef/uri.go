package ndef

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// uriPrefixes are the NFC Forum URI RTD identifier codes: the first
// payload byte of a URI record stands for the prefix at its index
// (0x00: no abbreviation). Codes from 0x24 up are reserved.
var uriPrefixes = [...]string{
	0x00: "",
	0x01: "http://www.",
	0x02: "https://www.",
	0x03: "http://",
	0x04: "https://",
	0x05: "tel:",
	0x06: "mailto:",
	0x07: "ftp://anonymous:anonymous@",
	0x08: "ftp://ftp.",
	0x09: "ftps://",
	0x0A: "sftp://",
	0x0B: "smb://",
	0x0C: "nfs://",
	0x0D: "ftp://",
	0x0E: "dav://",
	0x0F: "news:",
	0x10: "telnet://",
	0x11: "imap:",
	0x12: "rtsp://",
	0x13: "urn:",
	0x14: "pop:",
	0x15: "sip:",
	0x16: "sips:",
	0x17: "tftp:",
	0x18: "btspp://",
	0x19: "btl2cap://",
	0x1A: "btgoep://",
	0x1B: "tcpobex://",
	0x1C: "irdaobex://",
	0x1D: "file://",
	0x1E: "urn:epc:id:",
	0x1F: "urn:epc:tag:",
	0x20: "urn:epc:pat:",
	0x21: "urn:epc:raw:",
	0x22: "urn:epc:",
	0x23: "urn:nfc:",
}

// Type names used by the helpers.
var (
	typeURI = []byte("U")
	typeAAR = []byte("android.com:pkg")
)

// URIRecord returns a well-known "U" record for uri, abbreviated with
// the longest matching URI identifier code ("https://atm.example/s/1"
// becomes 0x04 followed by "atm.example/s/1").
func URIRecord(uri string) Record {
	code, best := 0, 0
	for i, p := range uriPrefixes {
		if len(p) > best && strings.HasPrefix(uri, p) {
			code, best = i, len(p)
		}
	}
	payload := make([]byte, 0, 1+len(uri)-best)
	payload = append(payload, byte(code))
	payload = append(payload, uri[best:]...)
	return Record{TNF: TNFWellKnown, Type: typeURI, Payload: payload}
}

// URI returns the URI a record carries: a well-known "U" record with its
// identifier code expanded, or the type of an absolute-URI record. Any
// other record, a reserved identifier code or a URI that is not UTF-8 is
// an error wrapping ErrInvalid.
func (r Record) URI() (string, error) {
	switch {
	case r.TNF == TNFWellKnown && string(r.Type) == string(typeURI):
		if len(r.Payload) == 0 {
			return "", fmt.Errorf("%w: URI record without an identifier code", ErrInvalid)
		}
		code := int(r.Payload[0])
		if code >= len(uriPrefixes) {
			return "", fmt.Errorf("%w: reserved URI identifier code 0x%02X", ErrInvalid, code)
		}
		rest := r.Payload[1:]
		if !utf8.Valid(rest) {
			return "", fmt.Errorf("%w: URI is not UTF-8", ErrInvalid)
		}
		return uriPrefixes[code] + string(rest), nil
	case r.TNF == TNFAbsoluteURI:
		if !utf8.Valid(r.Type) {
			return "", fmt.Errorf("%w: URI is not UTF-8", ErrInvalid)
		}
		return string(r.Type), nil
	}
	return "", fmt.Errorf("%w: %v is not a URI record", ErrInvalid, r)
}

// AARRecord returns an Android Application Record: an external-type
// record "android.com:pkg" whose payload is the package name. An Android
// phone that reads a message carrying it opens that app (or its store
// page) instead of asking which app should handle the tag.
func AARRecord(pkg string) Record {
	return Record{TNF: TNFExternal, Type: typeAAR, Payload: []byte(pkg)}
}

// AndroidPackage returns the package name of an Android Application
// Record; any other record is an error wrapping ErrInvalid.
func (r Record) AndroidPackage() (string, error) {
	if r.TNF != TNFExternal || string(r.Type) != string(typeAAR) {
		return "", fmt.Errorf("%w: %v is not an Android Application Record", ErrInvalid, r)
	}
	if len(r.Payload) == 0 || !utf8.Valid(r.Payload) {
		return "", fmt.Errorf("%w: bad Android package name", ErrInvalid)
	}
	return string(r.Payload), nil
}
