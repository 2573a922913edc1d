package hostlink

import "fmt"

// OriginalData returns field 90 for a reversal of orig, as sent: the
// original MTI (4), STAN (6) and transmission date and time (10),
// followed by the acquiring and forwarding institution ids (11 each),
// which this profile leaves as zeros. orig must have been sent, so that
// Send has set its STAN and transmission time.
func OriginalData(orig *Message) string {
	return fmt.Sprintf("%-4.4s%-6.6s%-10.10s%011d%011d", orig.MTI, orig.STAN, orig.TransmitTime, 0, 0)
}

// ReplacementAmounts returns field 95 for a reversal after which actual
// minor units stayed with the customer (the amount dispensed; 0 for a
// full reversal): the actual transaction amount (n12), the settlement
// amount (n12, zeros) and the transaction and settlement fees (x+n8 each,
// "C00000000").
func ReplacementAmounts(actual int64) string {
	return fmt.Sprintf("%012d%012d%s%s", actual, 0, "C00000000", "C00000000")
}
