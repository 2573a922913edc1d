package webscreen

// RenderQR exposes the QR renderer to the external tests: the PNG, its
// width in pixels, modules across and error correction level.
func RenderQR(payload string) (png []byte, px, modules int, level string, err error) {
	img, png, err := renderQR(payload)
	if err != nil {
		return nil, 0, 0, "", err
	}
	return png, img.Px, img.Modules, img.Level, nil
}
