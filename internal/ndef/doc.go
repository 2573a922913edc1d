// Package ndef builds and parses NFC Data Exchange Format messages (NFC
// Forum NDEF 1.0): the bytes an NFC tag carries and a phone reads.
//
// A Message is a list of Records. Each record has a type name format
// (TNF) that says how to read its Type — an NFC Forum well-known type
// such as "U" (URI), a MIME type, an absolute URI, or an external type
// such as "android.com:pkg" — plus an optional ID and a payload.
//
// On the wire every record starts with a header byte:
//
//	bit 7 MB  message begin: set on the first record only
//	bit 6 ME  message end: set on the last record only
//	bit 5 CF  chunk flag: the payload continues in the next record
//	bit 4 SR  short record: the payload length is one byte, not four
//	bit 3 IL  ID length present
//	bits 2-0  TNF
//
// followed by TYPE LENGTH (1 byte), PAYLOAD LENGTH (1 or 4 bytes, big
// endian), ID LENGTH (1 byte, only with IL), TYPE, ID and PAYLOAD.
//
// Encode sets MB, ME, SR and IL itself, so a Record has no flags to get
// wrong. Parse is strict because its input comes from outside: a hostile
// or broken tag or phone. It rejects what a conforming writer never
// produces — misplaced MB/ME, chunked records (atmd never needs them),
// the reserved TNF, a type, ID or payload where the TNF forbids one, a
// length that runs past the end, bytes after the last record — with a
// *ParseError that says where, wrapping one of the sentinel errors.
//
// Helpers build the two records the cardless withdrawal publishes: a URI
// record (URIRecord, read back with Record.URI) using the NFC Forum URI
// identifier codes to abbreviate the scheme, and an Android Application
// Record (AARRecord, read back with Record.AndroidPackage) that makes an
// Android phone open the bank's app.
package ndef
