package epp

// MarshalFrame encodes a frame as the EPP sends it, for tests that
// script the device.
func MarshalFrame(seq, cmd byte, data []byte) []byte {
	b, err := pkt{seq: seq, cmd: cmd, data: data}.marshal()
	if err != nil {
		panic(err)
	}
	return b
}
