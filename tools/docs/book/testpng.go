package book

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
)

// TestPNG returns a w x h PNG (a gradient), a screenshot's stand-in for the
// renderers' tests.
func TestPNG(w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x * 4), uint8(y * 6), 200, 255})
		}
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	return b.Bytes()
}
