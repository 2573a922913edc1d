package snapcam_test

import (
	"context"
	"fmt"
	"net/http/httptest"

	"github.com/atmd/atmd/devices/snapcam"
	simsnapcam "github.com/atmd/atmd/sim/wire/snapcam"
)

// An evidence still from a camera's snapshot URL; here the wire
// simulator plays the camera on loopback. On an ATM the URL is the
// camera's, e.g. http://10.0.0.20/axis-cgi/jpg/image.cgi?resolution=640x480.
func ExampleNew() {
	sim, err := simsnapcam.New(simsnapcam.DefaultOptions) // 640×480 JPEG
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(sim)
	defer srv.Close()

	cam, err := snapcam.New(srv.URL+"/snapshot.jpg", snapcam.DefaultOptions)
	if err != nil {
		panic(err)
	}
	defer cam.Close()
	img, err := cam.Capture(context.Background())
	fmt.Println(cam.Status(), img.Format, err)
	// Output: online image/jpeg <nil>
}
