package flows

import (
	"strings"

	"github.com/atmd/atmd/hal/display"
)

// Languages the screens are written in. The first is the default.
var Languages = []string{"en", "zh-TW"}

// text is one screen's or label's wording in every language.
type text map[string]string

// catalogue holds every customer-facing string, by id. Screen texts are
// "title\nline\nline"; {name} is replaced by a parameter.
var catalogue = map[string]text{
	// Screens.
	"starting":            {"en": "Starting up\nPlease wait", "zh-TW": "系統啟動中\n請稍候"},
	"out-of-service":      {"en": "Temporarily out of service\nWe apologise for the inconvenience.\nPlease use another ATM.", "zh-TW": "暫停服務\n造成不便，敬請見諒。\n請使用其他自動櫃員機。"},
	"welcome":             {"en": "Welcome\nPlease insert your card", "zh-TW": "歡迎使用\n請插入金融卡"},
	"card-unreadable":     {"en": "Your card could not be read\nPlease take your card and try again.", "zh-TW": "無法讀取您的卡片\n請取回卡片後再試一次。"},
	"enter-pin":           {"en": "Enter your PIN\nPress ENTER when done. Shield the keypad.", "zh-TW": "請輸入密碼\n輸入完畢請按「確認」，並請遮蔽按鍵。"},
	"pin-retry":           {"en": "Incorrect PIN\nPlease enter your PIN again.\nAttempts left: {left}", "zh-TW": "密碼錯誤\n請重新輸入密碼。\n剩餘次數：{left}"},
	"main-menu":           {"en": "Select a service", "zh-TW": "請選擇服務項目"},
	"amount-menu":         {"en": "Select an amount", "zh-TW": "請選擇提款金額"},
	"other-amount":        {"en": "Enter the amount\nMultiples of {unit}, up to {max}", "zh-TW": "請輸入提款金額\n以{unit}為單位，最高{max}"},
	"amount-unavailable":  {"en": "This amount cannot be dispensed\n{amount} is not available.\nAmounts must be multiples of {unit}, up to {max}.", "zh-TW": "無法提領此金額\n無法提供{amount}。\n金額須為{unit}的倍數，最高{max}。"},
	"receipt-choice":      {"en": "Would you like a receipt?", "zh-TW": "是否需要列印交易明細表？"},
	"please-wait":         {"en": "Processing\nPlease wait", "zh-TW": "交易處理中\n請稍候"},
	"dispensing":          {"en": "Counting your cash\nPlease wait", "zh-TW": "點鈔中\n請稍候"},
	"take-card":           {"en": "Please take your card", "zh-TW": "請取回您的卡片"},
	"take-card-cash":      {"en": "Please take your card\nYour cash will follow.", "zh-TW": "請取回您的卡片\n稍後將吐出現金。"},
	"take-cash":           {"en": "Please take your cash\n{amount}", "zh-TW": "請取走現金\n{amount}"},
	"take-cash-partial":   {"en": "Please take your cash\nOnly {amount} could be dispensed.\nYou have not been charged for the rest.", "zh-TW": "請取走現金\n僅吐出{amount}。\n未吐出的部分不會扣款。"},
	"printing":            {"en": "Printing your receipt\nPlease take your receipt.", "zh-TW": "列印明細表中\n請取走明細表。"},
	"goodbye":             {"en": "Thank you\nHave a nice day.", "zh-TW": "謝謝惠顧\n祝您有美好的一天。"},
	"balance":             {"en": "Your balance\nAvailable: {available}\nLedger: {ledger}", "zh-TW": "帳戶餘額\n可用餘額：{available}\n帳面餘額：{ledger}"},
	"insufficient-funds":  {"en": "Insufficient funds\nYour account does not have enough money for {amount}.", "zh-TW": "餘額不足\n您的帳戶餘額不足以提領{amount}。"},
	"limit-exceeded":      {"en": "Daily limit reached\n{amount} would exceed your daily withdrawal limit.", "zh-TW": "超過每日提款限額\n提領{amount}將超過您的每日限額。"},
	"declined":            {"en": "Transaction declined\nPlease contact your bank.", "zh-TW": "交易未核准\n請洽詢您的發卡銀行。"},
	"card-refused":        {"en": "This card cannot be used\nPlease contact your bank.", "zh-TW": "此卡無法使用\n請洽詢您的發卡銀行。"},
	"service-unavailable": {"en": "Service temporarily unavailable\nNo money has been taken from your account.", "zh-TW": "服務暫時無法使用\n您的帳戶未被扣款。"},
	"unable-to-complete":  {"en": "We could not complete your transaction\nAny amount taken will be returned to your account.", "zh-TW": "交易無法完成\n若有扣款將退回您的帳戶。"},
	"unable-to-dispense":  {"en": "We could not dispense your cash\nYour account will not be charged.", "zh-TW": "無法吐鈔\n您的帳戶不會被扣款。"},
	"card-retained":       {"en": "Your card has been retained\nPlease contact your bank.", "zh-TW": "您的卡片已被留置\n請洽詢您的發卡銀行。"},
	"card-retained-left":  {"en": "Your card was not taken and has been retained\nPlease contact your bank.", "zh-TW": "您未取回卡片，卡片已被留置\n請洽詢您的發卡銀行。"},
	"more-time":           {"en": "Do you need more time?", "zh-TW": "您需要更多時間嗎？"},
	"receipt-unavailable": {"en": "Receipts are not available at the moment", "zh-TW": "目前無法列印明細表"},
	// Labels.
	"lbl-withdrawal": {"en": "Cash withdrawal", "zh-TW": "提款"},
	"lbl-balance":    {"en": "Balance inquiry", "zh-TW": "餘額查詢"},
	"lbl-cancel":     {"en": "Cancel", "zh-TW": "取消"},
	"lbl-other":      {"en": "Other amount", "zh-TW": "其他金額"},
	"lbl-yes":        {"en": "Yes", "zh-TW": "是"},
	"lbl-no":         {"en": "No", "zh-TW": "否"},
	"lbl-print":      {"en": "Print receipt", "zh-TW": "列印明細表"},
	"lbl-another":    {"en": "Another transaction", "zh-TW": "其他交易"},
	"lbl-finish":     {"en": "Finish", "zh-TW": "結束交易"},
	"lbl-back":       {"en": "Choose another amount", "zh-TW": "重新選擇金額"},
	"lbl-lang":       {"en": "中文", "zh-TW": "English"},
	"lbl-pin":        {"en": "PIN", "zh-TW": "密碼"},
	"lbl-amount":     {"en": "Amount", "zh-TW": "金額"},
	// Receipt.
	"rcpt-withdrawal": {"en": "CASH WITHDRAWAL", "zh-TW": "提款"},
	"rcpt-balance":    {"en": "BALANCE INQUIRY", "zh-TW": "餘額查詢"},
}

// say returns the text id in lang with params filled in. An id missing
// from the catalogue shows as itself, so a gap is visible, not blank.
func say(id, lang string, params ...string) string {
	t, ok := catalogue[id]
	if !ok {
		return id
	}
	s, ok := t[lang]
	if !ok {
		s = t[Languages[0]]
	}
	for i := 0; i+1 < len(params); i += 2 {
		s = strings.ReplaceAll(s, "{"+params[i]+"}", params[i+1])
	}
	return s
}

// screen builds a screen from the catalogue.
func screen(id, lang string, tone display.Tone, params ...string) display.Screen {
	parts := strings.Split(say(id, lang, params...), "\n")
	return display.Screen{ID: id, Lang: lang, Tone: tone, Title: parts[0], Lines: parts[1:]}
}

// item builds a menu item from a label id.
func item(key, id, lang string) display.MenuItem {
	return display.MenuItem{Key: key, ID: id, Label: say("lbl-"+id, lang)}
}
