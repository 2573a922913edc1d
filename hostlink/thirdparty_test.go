package hostlink_test

// The wire format decoded by a third party: Wireshark's ISO 8583
// dissector (packet-iso8583.c, "iso8583"), run as tshark on every golden
// frame in testdata/ and on a key exchange pair packed here, must find the
// MTI, the bitmaps, the set of fields and their contents that our own
// Unpack finds.
//
// How tshark is made to read our frames: the frames are written into a
// pcap file (Ethernet/IPv4/TCP, one TCP stream per frame, ATM side port
// 40000+i, host side port 8583) and read with
//
//	tshark -r frames.pcap -n -T pdml -d tcp.port==8583,iso8583 \
//	  -o iso8583.len_endian:bigendian -o iso8583.charset:ascii \
//	  -o iso8583.binencode:ascii -o tcp.analyze_sequence_numbers:FALSE \
//	  -o tcp.check_checksum:TRUE -o ip.check_checksum:TRUE
//
// with WIRESHARK_CONFIG_DIR and HOME set to an empty temporary directory,
// so that no user profile changes the result. The IPv4 and TCP checksums
// are computed, and tshark must find them good.
//
// The dissector has no default port, hence -d. Its three preferences
// are the whole of its configuration: a 2-byte length header whose byte
// order is a preference (little endian by default, ours is big endian),
// digits as ASCII characters, and binary fields as hex ASCII. The MTI's
// first digit '0' selects its ISO 8583:1987 field table.
//
// Field 55 deserves a word: Wireshark's 1987 table has it as "reserved
// ISO", ans..999, whose LLL prefix counts characters. Our profile carries
// the EMV data there as hex characters and counts them the same way, so
// a generic 1987 decoder reads field 55 and every field after it right.
// (An earlier profile counted bytes, the 1993 definition; this test is
// what caught it.)

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atmd/atmd/hostlink"
	"github.com/atmd/atmd/hostlink/keyexchange"
)

const tsharkInstall = "DEBIAN_FRONTEND=noninteractive apt-get install -y tshark (or: scripts/deps.sh test)"

// tsharkArgs are the options that make Wireshark's dissector read the
// atmd profile; see the comment at the top of this file.
var tsharkArgs = []string{
	"-n", "-T", "pdml",
	"-d", "tcp.port==8583,iso8583",
	"-o", "iso8583.len_endian:bigendian",
	"-o", "iso8583.charset:ascii",
	"-o", "iso8583.binencode:ascii",
	"-o", "tcp.analyze_sequence_numbers:FALSE",
	"-o", "tcp.check_checksum:TRUE",
	"-o", "ip.check_checksum:TRUE",
}

// hostPort is the TCP port of the host side in the capture.
const hostPort = 8583

// tpFrame is one frame to decode: a message body (without its length
// header) and which side sent it.
type tpFrame struct {
	name   string
	msg    []byte
	toHost bool
}

func TestThirdPartyTsharkDecodesEveryFrame(t *testing.T) {
	tshark := needTshark(t)

	frames := goldenFrames(t)
	frames = append(frames, keyExchangeFrames(t)...)

	packets := runTshark(t, tshark, frames)
	if len(packets) != len(frames) {
		t.Fatalf("tshark decoded %d packets, want %d", len(packets), len(frames))
	}
	seen := map[string]bool{}
	for i, f := range frames {
		t.Run(f.name, func(t *testing.T) {
			checkDecoded(t, f, packets[i])
		})
		seen[mustUnpack(t, f.msg).MTI] = true
	}
	// The frames cover every message type of the profile's catalogue
	// that has a golden example (0100/0110 have none yet).
	for _, mti := range []string{"0200", "0210", "0420", "0421", "0430", "0800", "0810"} {
		if !seen[mti] {
			t.Errorf("no frame with MTI %s was decoded", mti)
		}
	}
}

// needTshark returns tshark's path, or skips (fails under CI) when it is
// not installed.
func needTshark(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("tshark")
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("tshark is not installed: %s", tsharkInstall)
	}
	t.Skipf("tshark is not installed: %s", tsharkInstall)
	return ""
}

// goldenFrames reads every testdata/*.hex frame. Responses (third MTI
// digit odd) travel host to ATM.
func goldenFrames(t *testing.T) []tpFrame {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "*.hex"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no golden frames in testdata: %v", err)
	}
	sort.Strings(paths)
	var out []tpFrame
	for _, p := range paths {
		text, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := hex.DecodeString(strings.TrimSpace(string(text)))
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		msg, err := hostlink.ReadFrame(bytes.NewReader(raw), 0)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out = append(out, tpFrame{
			name:   strings.TrimSuffix(filepath.Base(p), ".hex"),
			msg:    msg,
			toHost: (msg[2]-'0')%2 == 0,
		})
	}
	return out
}

// keyExchangeFrames packs an 0800/0810 key exchange (field 70 = 101) as
// the client and the reference host build them. The keys are arbitrary
// test bytes: what is checked is the layout, not the cryptography.
func keyExchangeFrames(t *testing.T) []tpFrame {
	t.Helper()
	seq := func(n int, start byte) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = start + byte(i)
		}
		return b
	}
	req, err := keyexchange.Request{TMKCheck: seq(keyexchange.CheckLen, 0xA0)}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := keyexchange.Response{
		TPK: seq(keyexchange.TPKLen, 0x10), TPKCheck: seq(keyexchange.CheckLen, 0xB0),
		TAK: seq(keyexchange.TAKLen, 0x30), TAKCheck: seq(keyexchange.CheckLen, 0xC0),
		TDK: seq(keyexchange.TDKLen, 0x50), TDKCheck: seq(keyexchange.CheckLen, 0xD0),
	}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	msgs := []*hostlink.Message{
		{
			MTI: hostlink.MTINetRequest, TransmitTime: "0315013001", STAN: "000002",
			LocalTime: "093001", LocalDate: "0315", TerminalID: "ATM00001", AcceptorID: "ATMD-BANK-0001",
			Private: req, NetCode: keyexchange.NetCode,
		},
		{
			MTI: hostlink.MTINetResponse, TransmitTime: "0315013001", STAN: "000002",
			RespCode: hostlink.RCApproved, TerminalID: "ATM00001",
			Private: resp, NetCode: keyexchange.NetCode,
		},
	}
	var out []tpFrame
	for _, m := range msgs {
		b, err := hostlink.Pack(m)
		if err != nil {
			t.Fatalf("Pack %s key exchange: %v", m.MTI, err)
		}
		out = append(out, tpFrame{name: m.MTI + "_keyexchange", msg: b, toHost: m.MTI == hostlink.MTINetRequest})
	}
	return out
}

func mustUnpack(t *testing.T, msg []byte) *hostlink.Message {
	t.Helper()
	m, err := hostlink.Unpack(msg)
	if err != nil {
		t.Fatalf("Unpack: %v", err)
	}
	return m
}

// runTshark writes frames into a pcap file, runs tshark on it and
// returns the packets it decoded, in order.
func runTshark(t *testing.T, tshark string, frames []tpFrame) []pdmlPacket {
	t.Helper()
	dir := t.TempDir()
	var p pcapFile
	p.start()
	for i, f := range frames {
		var framed bytes.Buffer
		if err := hostlink.WriteFrame(&framed, f.msg); err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		atm := uint16(40000 + i)
		if f.toHost {
			p.packet(atm, hostPort, framed.Bytes())
		} else {
			p.packet(hostPort, atm, framed.Bytes())
		}
	}
	pcap := filepath.Join(dir, "frames.pcap")
	if err := os.WriteFile(pcap, p.buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tshark, append([]string{"-r", pcap}, tsharkArgs...)...)
	// A private configuration directory: no user or system profile may
	// change how the frames are decoded.
	cmd.Env = append(os.Environ(), "WIRESHARK_CONFIG_DIR="+filepath.Join(dir, "wireshark"), "HOME="+dir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("tshark %s: %v\n%s", strings.Join(cmd.Args[1:], " "), err, stderr.String())
	}
	var doc struct {
		Packets []pdmlPacket `xml:"packet"`
	}
	if err := xml.Unmarshal(stdout.Bytes(), &doc); err != nil {
		t.Fatalf("tshark PDML: %v", err)
	}
	return doc.Packets
}

// checkDecoded compares what tshark found in one packet with Unpack.
func checkDecoded(t *testing.T, f tpFrame, pkt pdmlPacket) {
	m := mustUnpack(t, f.msg)
	var iso *pdmlField
	checksums := 0
	for i := range pkt.Protos {
		if pkt.Protos[i].Name == "iso8583" {
			iso = &pdmlField{Name: "iso8583", Fields: pkt.Protos[i].Fields}
		}
		pkt.Protos[i].walk(func(fl *pdmlField) {
			switch {
			case fl.Name == "iso8583.MALFORMED" || fl.Name == "_ws.malformed":
				t.Errorf("tshark reports %s (%s)", fl.Name, fl.Showname)
			case fl.Name == "ip.checksum.status" || fl.Name == "tcp.checksum.status":
				// Our hand-made headers must be right: 1 is "Good".
				if fl.Show != "1" {
					t.Errorf("tshark reports %s", fl.Showname)
				}
				checksums++
			}
		})
	}
	if checksums != 2 {
		t.Errorf("tshark verified %d of the IPv4 and TCP checksums, want 2", checksums)
	}
	if iso == nil {
		t.Fatalf("tshark did not dissect the frame as iso8583; protocols: %v", pkt.protoNames())
	}

	got := map[string]string{} // field name -> raw bytes
	pos := map[string][2]int{} // field name -> offset in the TCP payload, size
	var payloadStart = -1
	for i := range pkt.Protos {
		if pkt.Protos[i].Name == "iso8583" {
			payloadStart = pkt.Protos[i].Pos
		}
	}
	iso.walk(func(fl *pdmlField) {
		if !strings.HasPrefix(fl.Name, "iso8583.") {
			return
		}
		v, err := hex.DecodeString(fl.Value)
		if err != nil {
			// Fields whose value attribute is not raw bytes (none in
			// this dissector) fall back to what tshark shows.
			v = []byte(fl.Show)
		}
		got[fl.Name] = string(v)
		pos[fl.Name] = [2]int{fl.Pos - payloadStart, fl.Size}
	})

	if g := got["iso8583.len"]; len(g) != 2 || int(binary.BigEndian.Uint16([]byte(g))) != len(f.msg) {
		t.Errorf("iso8583.len = %X, want %d", g, len(f.msg))
	}
	if got["iso8583.mti"] != m.MTI {
		t.Errorf("MTI = %q, want %q", got["iso8583.mti"], m.MTI)
	}
	if want := string(f.msg[4:20]); got["iso8583.map1"] != want {
		t.Errorf("bitmap 1 = %q, want %q", got["iso8583.map1"], want)
	}
	want := wireFields(m)
	if want[1] != "" { // secondary bitmap present
		if g := got["iso8583.map2"]; g != want[1] {
			t.Errorf("bitmap 2 = %q, want %q", g, want[1])
		}
	} else if g, ok := got["iso8583.map2"]; ok {
		t.Errorf("bitmap 2 = %q, want none", g)
	}

	// The set of data fields: tshark walks the bitmap, so this is the
	// bitmap as it reads it, compared with the fields Unpack filled.
	var gotIDs, wantIDs []int
	for name := range got {
		if n, ok := strings.CutPrefix(name, "iso8583.bit"); ok {
			id, err := strconv.Atoi(n)
			if err != nil {
				t.Fatalf("unexpected tshark field %s", name)
			}
			gotIDs = append(gotIDs, id)
		}
	}
	for id := range want {
		if id > 1 {
			wantIDs = append(wantIDs, id)
		}
	}
	slices.Sort(gotIDs)
	slices.Sort(wantIDs)
	if !slices.Equal(gotIDs, wantIDs) {
		t.Errorf("fields = %v, want %v", gotIDs, wantIDs)
	}

	// Field contents, every field, exactly as they stand on the wire
	// (41 and 42 with their padding, binary fields as hex).
	for _, id := range wantIDs {
		name := "iso8583.bit" + strconv.Itoa(id)
		g, w := got[name], want[id]
		if g != w {
			if sensitive[id] {
				t.Errorf("field %d: tshark %d characters, ours %d, contents differ", id, len(g), len(w))
			} else {
				t.Errorf("field %d = %q, want %q", id, g, w)
			}
		}
	}

	// tshark's walk must end on the last byte: nothing left over,
	// nothing missing.
	{
		end := 0
		for name, p := range pos {
			if strings.HasPrefix(name, "iso8583.bit") || strings.HasPrefix(name, "iso8583.map") {
				end = max(end, p[0]+p[1])
			}
		}
		if end != 2+len(f.msg) {
			t.Errorf("tshark's last field ends at byte %d of %d", end, 2+len(f.msg))
		}
	}
}

// sensitive fields are not quoted in failures: card data.
var sensitive = map[int]bool{2: true, 14: true, 35: true, 52: true, 55: true}

// wireFields returns every field of m as its characters on the wire,
// without length prefix: 1 is the secondary bitmap ("" when absent).
// It is written from docs/hostlink.md section 5, not from Spec.
func wireFields(m *hostlink.Message) map[int]string {
	hexUp := func(b []byte) string { return strings.ToUpper(hex.EncodeToString(b)) }
	f := map[int]string{}
	put := func(id int, v string) {
		if v != "" {
			f[id] = v
		}
	}
	put(2, m.PAN)
	put(3, m.ProcCode)
	if m.Amount != 0 {
		f[4] = fmt.Sprintf("%012d", m.Amount)
	}
	put(7, m.TransmitTime)
	put(11, m.STAN)
	put(12, m.LocalTime)
	put(13, m.LocalDate)
	put(14, m.Expiry)
	put(22, m.EntryMode)
	put(23, m.PANSeq)
	put(35, m.Track2)
	put(37, m.RRN)
	put(38, m.AuthCode)
	put(39, m.RespCode)
	if m.TerminalID != "" {
		f[41] = fmt.Sprintf("%-8s", m.TerminalID)
	}
	if m.AcceptorID != "" {
		f[42] = fmt.Sprintf("%-15s", m.AcceptorID)
	}
	put(48, m.Private)
	put(49, m.Currency)
	put(52, hexUp(m.PINBlock))
	put(54, m.AddAmounts)
	put(55, hexUp(m.ICC))
	put(70, m.NetCode)
	put(90, m.Original)
	put(95, m.Replacement)
	put(128, hexUp(m.MAC))
	var secondary uint64
	for id := range f {
		if id > 64 {
			secondary |= 1 << (128 - id)
		}
	}
	if secondary != 0 {
		f[1] = fmt.Sprintf("%016X", secondary)
	}
	return f
}

// PDML, the XML that tshark -T pdml writes: packets, protocols, fields.
type pdmlPacket struct {
	Protos []pdmlProto `xml:"proto"`
}

type pdmlProto struct {
	Name   string      `xml:"name,attr"`
	Pos    int         `xml:"pos,attr"`
	Fields []pdmlField `xml:"field"`
}

type pdmlField struct {
	Name     string      `xml:"name,attr"`
	Show     string      `xml:"show,attr"`
	Showname string      `xml:"showname,attr"`
	Value    string      `xml:"value,attr"`
	Pos      int         `xml:"pos,attr"`
	Size     int         `xml:"size,attr"`
	Fields   []pdmlField `xml:"field"`
	Protos   []pdmlProto `xml:"proto"` // expert info nests as a proto
}

func (p *pdmlProto) walk(fn func(*pdmlField)) {
	for i := range p.Fields {
		p.Fields[i].walk(fn)
	}
}

func (f *pdmlField) walk(fn func(*pdmlField)) {
	fn(f)
	for i := range f.Fields {
		f.Fields[i].walk(fn)
	}
	for i := range f.Protos {
		f.Protos[i].walk(fn)
	}
}

func (p pdmlPacket) protoNames() []string {
	var s []string
	for _, pr := range p.Protos {
		s = append(s, pr.Name)
	}
	return s
}

// pcapFile builds a classic libpcap capture (LINKTYPE_ETHERNET) of TCP
// segments on 127.0.0.1, with correct IPv4 and TCP checksums.
type pcapFile struct {
	buf bytes.Buffer
	n   uint32
}

func (p *pcapFile) start() {
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4) // magic, microseconds
	binary.LittleEndian.PutUint16(hdr[4:], 2)          // version 2.4
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535) // snaplen
	binary.LittleEndian.PutUint32(hdr[20:], 1)     // Ethernet
	p.buf.Write(hdr)
}

// packet appends one TCP segment (PSH|ACK) carrying payload.
func (p *pcapFile) packet(srcPort, dstPort uint16, payload []byte) {
	if 20+20+len(payload) > 0xFFFF {
		panic(errors.New("pcap: payload too large for one IPv4 packet"))
	}
	p.n++
	loop := []byte{127, 0, 0, 1}

	tcp := make([]byte, 20, 20+len(payload))
	binary.BigEndian.PutUint16(tcp[0:], srcPort)
	binary.BigEndian.PutUint16(tcp[2:], dstPort)
	binary.BigEndian.PutUint32(tcp[4:], 1) // seq
	binary.BigEndian.PutUint32(tcp[8:], 1) // ack
	tcp[12] = 5 << 4                       // data offset: 5 words
	tcp[13] = 0x18                         // PSH|ACK
	binary.BigEndian.PutUint16(tcp[14:], 0xFFFF)
	tcp = append(tcp, payload...)
	pseudo := make([]byte, 0, 12+len(tcp))
	pseudo = append(pseudo, loop...)
	pseudo = append(pseudo, loop...)
	pseudo = append(pseudo, 0, 6)
	pseudo = binary.BigEndian.AppendUint16(pseudo, uint16(len(tcp)))
	pseudo = append(pseudo, tcp...)
	binary.BigEndian.PutUint16(tcp[16:], inetChecksum(pseudo))

	ip := make([]byte, 20)
	ip[0] = 0x45 // IPv4, 5 words
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(tcp)))
	binary.BigEndian.PutUint16(ip[4:], uint16(p.n)) // id
	binary.BigEndian.PutUint16(ip[6:], 0x4000)      // don't fragment
	ip[8] = 64                                      // TTL
	ip[9] = 6                                       // TCP
	copy(ip[12:], loop)
	copy(ip[16:], loop)
	binary.BigEndian.PutUint16(ip[10:], inetChecksum(ip))

	eth := []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00}
	frame := slices.Concat(eth, ip, tcp)

	rec := make([]byte, 16)
	binary.LittleEndian.PutUint32(rec[0:], 1773538265+p.n) // seconds
	binary.LittleEndian.PutUint32(rec[8:], uint32(len(frame)))
	binary.LittleEndian.PutUint32(rec[12:], uint32(len(frame)))
	p.buf.Write(rec)
	p.buf.Write(frame)
}

// inetChecksum is the Internet checksum (RFC 1071).
func inetChecksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xFFFF + sum>>16
	}
	return ^uint16(sum)
}
