// Package seed holds the reference host's demo data — customers, their
// accounts and their cards — and its strict YAML loader.
//
// A seed file (configs/seed.yaml) is what the host's database is created
// from when it is reset. Amounts in the file are in major units of the
// account's currency (balance: 25000 means NT$25,000); the store converts
// them to minor units. Each card carries its demo PIN: the host uses it
// once, at seeding, to compute the card's PIN verification value and
// never stores it. PIN is a type whose printed form is always masked, so
// a Seed can be logged or printed with %+v without revealing a PIN.
//
// Decoding is strict (unknown keys and mistyped values are errors naming
// the line and the key) and Parse validates the result: unique ids and
// PANs, PANs of 12–19 digits with a valid Luhn check digit, expiry as
// YYMM, cards that reference an account of the same customer, PINs of
// 4–12 digits and currencies known to internal/currency.
//
// A customer may have an app login (app:), for the mobile-banking API
// of sim/host/mobile: a unique login id, a demo password (8–64
// characters; a Password prints as "****" and the host stores only a
// salted hash), the demo phone's device id and whether that device is
// already bound to the customer's accounts.
package seed
