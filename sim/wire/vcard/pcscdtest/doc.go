// Package pcscdtest runs a private pcscd with vpcd virtual readers for
// tests, so the PC/SC card reader driver (devices/pcsc) can be tested
// over the real PC/SC stack with a virtual card (sim/wire/vcard) in the
// reader.
//
// Start launches `pcscd -f` in its own mount namespace (unshare -m, or
// unshare -rm for an unprivileged user) with a temporary directory bound
// over /run, so its socket and pid file never meet a system pcscd or
// another test process, and with a temporary reader.conf.d holding one
// vpcd entry on a free TCP port. vpcd offers two readers ("Virtual PCD
// 00 00" on the port, "Virtual PCD 00 01" on the port + 1); a virtual
// card becomes present in a reader by connecting to its port.
//
// The PC/SC client library finds pcscd through the environment variable
// PCSCLITE_CSOCK_NAME, which it reads once per process, at the first
// PC/SC call. Start therefore sets it in the test process to a path that
// is the same for every Env of that process, and allows one Env at a
// time; Environ gives the setting for child processes (an atmd under
// test). docs/devices/pcsc.md ("How the tests run pcscd") explains the
// details.
//
// When pcscd, the vpcd driver or unshare is missing, Start skips the test
// with the apt-get command that installs them — or fails with it when the
// environment variable CI is set, so CI never skips silently.
package pcscdtest
