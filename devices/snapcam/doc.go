// Package snapcam drives an IP camera through its snapshot URL: the
// still image that nearly every IP camera serves over HTTP. It
// implements the hal/camera contract; docs/devices/camera.md describes
// the exchange, and sim/wire/snapcam is an independent simulated camera
// for tests.
//
// Capture sends one GET (with basic authentication when configured),
// bounded by Options.Timeout and by the caller's context, and accepts
// the answer only if it is 200 with an accepted content type and a body
// no larger than Options.MaxBytes that decodes (image.DecodeConfig) as
// an image of that format, of exactly the configured size, complete to
// its trailer. The still is stamped with the ATM's clock.
//
// Faults are *hal.Fault values: CAM-OFFLINE when there is no answer
// (connection refused or reset, time-out — which also wraps
// hal.ErrTimeout —, or 502/503/504) and CAM-PROTOCOL when the answer is
// not a usable still (another status, content type, format or size,
// undecodable, cut short, too large; wraps ErrProtocol). Status is the
// outcome of the last snapshot; one is taken by New and then every
// Options.Poll in the background, so Status follows the camera away and
// back by itself. A cancelled context is the caller's business: it is
// returned as is and leaves Status alone.
//
// Credentials and the URL's query never appear in String or in logs.
// A Dev is safe for concurrent use; Close stops the background poll.
package snapcam
