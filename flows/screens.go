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
	// Card activation (flows/activation.go).
	"activate-qr":                {"en": "Scan this code with your banking app\nIn the app, choose Card activation for the card ending {last4} and scan the code.\nThe code works once and expires in a few minutes.", "zh-TW": "請用行動銀行App掃描此條碼\n請在App中選擇「卡片開卡」（卡號末四碼{last4}）後掃描。\n此條碼僅能使用一次，並將於數分鐘後失效。"},
	"activate-app-login":         {"en": "Open your banking app\nLog in to the app on your phone and choose Card activation for the card ending {last4}, then press Try again.", "zh-TW": "請開啟行動銀行App\n請登入手機上的App並選擇「卡片開卡」（卡號末四碼{last4}），再按「重試」。"},
	"activate-app-unbound":       {"en": "Your phone is not bound to this card's account\nBind your phone to the account in the banking app, then press Try again.\nOr choose Not a mobile banking user.", "zh-TW": "您的手機尚未綁定此卡的帳戶\n請在行動銀行App中綁定帳戶後按「重試」，\n或選擇「非行動銀行用戶」。"},
	"activate-qr-expired":        {"en": "The code has expired\nShow a new code, or verify another way.", "zh-TW": "條碼已失效\n請重新產生條碼，或改用其他方式驗證。"},
	"activate-mobile":            {"en": "Card activation\nKey the mobile number the bank has on file for you, then press ENTER.", "zh-TW": "卡片開卡\n請輸入您留存於本行的手機號碼，再按「確認」。"},
	"activate-mobile-invalid":    {"en": "That is not a mobile number\nKey your 10-digit mobile number starting with 09, then press ENTER.", "zh-TW": "手機號碼格式不正確\n請輸入09開頭的10位數手機號碼，再按「確認」。"},
	"activate-birth":             {"en": "Card activation\nKey your date of birth as YYYYMMDD (for example 19900131), then press ENTER.", "zh-TW": "卡片開卡\n請以西元年月日輸入您的出生日期（例如19900131），再按「確認」。"},
	"activate-birth-invalid":     {"en": "That is not a date\nKey your date of birth as YYYYMMDD, then press ENTER.", "zh-TW": "日期格式不正確\n請以西元年月日（YYYYMMDD）輸入出生日期，再按「確認」。"},
	"activate-mismatch":          {"en": "The details do not match our records\nCheck your mobile number and date of birth.\nAttempts left: {left}", "zh-TW": "資料與本行紀錄不符\n請確認手機號碼與出生日期。\n剩餘次數：{left}"},
	"activate-code":              {"en": "Enter the verification code\nWe sent a 6-digit code {where}.\nKey it and press ENTER.", "zh-TW": "請輸入驗證碼\n6位數驗證碼已{where}。\n請輸入後按「確認」。"},
	"activate-code-wrong":        {"en": "Incorrect code\nKey the code again.\nAttempts left: {left}", "zh-TW": "驗證碼錯誤\n請重新輸入驗證碼。\n剩餘次數：{left}"},
	"activate-code-expired":      {"en": "The code has expired or was already used\nAsk for a new code.", "zh-TW": "驗證碼已失效或已使用\n請重新索取驗證碼。"},
	"activate-default-pin":       {"en": "Enter your default PIN\nWe sent the default PIN of your new card {where}.\nKey it and press ENTER. Shield the keypad.", "zh-TW": "請輸入預設密碼\n新卡的預設密碼已{where}。\n請輸入後按「確認」，並請遮蔽按鍵。"},
	"activate-default-pin-wrong": {"en": "Incorrect default PIN\nKey the default PIN again.\nAttempts left: {left}", "zh-TW": "預設密碼錯誤\n請重新輸入預設密碼。\n剩餘次數：{left}"},
	"activate-new-pin":           {"en": "Choose your new PIN\nKey a new PIN of 4 to 12 digits and press ENTER.\nAvoid dates and easy numbers such as 1234.", "zh-TW": "請設定新密碼\n請輸入4至12位數新密碼後按「確認」。\n請勿使用生日或1234等易猜號碼。"},
	"activate-new-pin-again":     {"en": "Confirm your new PIN\nKey the new PIN again and press ENTER.", "zh-TW": "請再次輸入新密碼\n請再輸入一次新密碼後按「確認」。"},
	"activate-pins-differ":       {"en": "The two PINs did not match\nChoose your new PIN again.", "zh-TW": "兩次輸入的密碼不一致\n請重新設定新密碼。"},
	"activate-pin-weak":          {"en": "That PIN is too easy to guess\nDo not use the default PIN, one repeated digit or a run such as 1234. Choose another.", "zh-TW": "密碼過於簡單\n請勿使用預設密碼、重複數字或1234等連續數字，請重新設定。"},
	"activate-done":              {"en": "Your card is active\nYour new PIN is set. Use it from now on.", "zh-TW": "開卡完成\n新密碼已設定，日後請使用新密碼。"},
	"activate-already-active":    {"en": "This card is already active\nUse your PIN to sign in to our services.", "zh-TW": "此卡已開卡\n請使用您的密碼進行交易。"},
	"activate-locked":            {"en": "Too many wrong attempts\nFor your security, activation is locked for now.\nPlease try again later or contact your bank.", "zh-TW": "錯誤次數過多\n為保障您的安全，開卡功能暫時鎖定。\n請稍後再試或洽詢您的發卡銀行。"},
	"activate-failed":            {"en": "Card activation could not be completed\nPlease start again.", "zh-TW": "開卡未完成\n請重新操作。"},
	"where-push":                 {"en": "to your banking app", "zh-TW": "傳送至您的行動銀行App"},
	"where-sms":                  {"en": "by SMS to the phone ending {phone}", "zh-TW": "以簡訊傳送至末四碼{phone}的手機"},
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
	"lbl-activate":   {"en": "Activate a new card", "zh-TW": "新卡開卡"},
	"lbl-code":       {"en": "Enter verification code", "zh-TW": "輸入驗證碼"},
	"lbl-no-app":     {"en": "Not a mobile banking user", "zh-TW": "非行動銀行用戶"},
	"lbl-retry":      {"en": "Try again", "zh-TW": "重試"},
	"lbl-new-qr":     {"en": "Show a new code", "zh-TW": "重新產生條碼"},
	"lbl-new-code":   {"en": "Send a new code", "zh-TW": "重新發送驗證碼"},
	"lbl-services":   {"en": "Other services", "zh-TW": "其他服務"},
	"lbl-mobile":     {"en": "Mobile number", "zh-TW": "手機號碼"},
	"lbl-birth":      {"en": "Date of birth", "zh-TW": "出生日期"},
	"lbl-code-input": {"en": "Code", "zh-TW": "驗證碼"},
	"lbl-new-pin":    {"en": "New PIN", "zh-TW": "新密碼"},
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
