//go:build !linux

package vcard

// quickAck does nothing where TCP_QUICKACK does not exist.
func quickAck(any) {}
