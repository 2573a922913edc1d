package emv

// Field55Tags are the chip data elements atmd sends to the host in ISO
// 8583 field 55, in this order: the cryptogram and what it was computed
// over, then the terminal's context.
var Field55Tags = []Tag{
	TagAC, TagCID, TagIAD, TagUN, TagATC, TagTVR, TagTxnDate, TagTxnType,
	TagAmount, TagCurrency, TagAIP, TagCountry, TagAmountOther, TagTermCaps,
	TagCVMResults, TagTermType, TagDFName,
}

// Field55 encodes the values present in values as BER-TLV in the order
// of Field55Tags; tags missing from values are left out.
func Field55(values map[Tag][]byte) []byte {
	var out []byte
	for _, t := range Field55Tags {
		if v, ok := values[t]; ok {
			out = Append(out, t, v)
		}
	}
	return out
}
