// Package snapcam is a wire-level simulator (simulation level L2) of an
// IP camera's snapshot URL: an http.Handler that serves a generated
// still — a grey test pattern with a face-sized oval and the capture
// number spelled in 32 blocks along the top — as image/jpeg (Go's
// encoder) or image/png, so the real driver (devices/snapcam) runs over
// real HTTP against it. It implements docs/devices/camera.md
// independently of the driver: neither imports the other.
//
// Use it with httptest.NewServer in tests, or standalone with
// ListenAndServe(ctx, addr) (or Serve(ctx, listener)), which returns when
// ctx ends. GET and HEAD are served on Options.Path; other paths are 404,
// other methods 405, and with Options.Username set, requests without the
// credentials get 401.
//
// Faults mirror the in-process simulator's control verbs:
// Inject("CAM-OFFLINE") answers 503, Inject("CAM-PROTOCOL") answers
// garbage labelled image/jpeg, Clear returns to stills; SetMode offers
// every other way a camera fails on the wire (hang, drop, truncated,
// cut, wrong type, 500, huge, wrong size).
package snapcam
