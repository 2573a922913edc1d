// Package cameratest holds a fake camera.Camera for unit tests of the
// flows that take evidence stills, and the conformance suite every
// implementation must pass (the fake, the in-process simulator, the real
// camera driver).
//
// The suite holds implementations to these rules:
//
//   - Capabilities names at least one format (image/png or image/jpeg)
//     and a positive size;
//   - Capture returns a still in one of those formats that decodes to
//     exactly the declared size, stamped with a capture time that never
//     goes backwards;
//   - Capture returns an error wrapping the context's error once the
//     context has ended;
//   - Halt may be called twice and leaves the camera usable.
package cameratest
