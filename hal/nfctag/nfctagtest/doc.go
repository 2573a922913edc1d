// Package nfctagtest holds a fake nfctag.Tag for unit tests of the
// cardless flows, and the conformance suite every implementation must pass
// (the fake, the in-process simulator, the PN532 driver against its
// simulator).
//
// The suite holds implementations to these rules:
//
//   - a phone that touches the tag gets exactly the bytes last published,
//     or nothing (nfctag.ErrNoMessage) after Clear, after Halt, or before
//     the first Publish; the tag keeps its own copy of the message;
//   - WaitRead returns once a phone has read the current message, also
//     when the read happened before WaitRead was called; publishing a new
//     message needs a new read; with no message WaitRead fails with
//     nfctag.ErrNoMessage, also when the message is withdrawn while it
//     waits;
//   - an empty message, or one longer than Capabilities().MaxNDEF
//     (nfctag.ErrTooLarge), is rejected with an error wrapping
//     hal.ErrInvalid and leaves the published message as it was;
//     Capabilities().MaxNDEF is at least nfctag.MaxNDEF;
//   - every call returns an error wrapping the context's error once the
//     context has ended;
//   - Halt withdraws the message, may be called twice, and leaves the tag
//     usable.
package nfctagtest
