package tray

import (
	"bytes"
	"encoding/binary"
	"image/color"
	"image/png"
	"testing"
)

// TestIcons: each state has its own icon, a 32×32 PNG with the state's
// colour, transparent corners, and an ICO wrapping of the same PNG.
func TestIcons(t *testing.T) {
	tests := []struct {
		icon Icon
		at   [2]int // a point on the disc away from the mark and bar
		want color.NRGBA
	}{
		{IconIdle, [2]int{26, 10}, colourIdle},
		{IconLive, [2]int{26, 10}, colourLive},
		{IconDisconnected, [2]int{26, 10}, colourDisconnected},
		{IconDisconnected, [2]int{8, 23}, colourBar},
	}
	for _, tt := range tests {
		t.Run(tt.icon.String(), func(t *testing.T) {
			p := iconPNG(tt.icon)
			img, err := png.Decode(bytes.NewReader(p))
			if err != nil {
				t.Fatal(err)
			}
			if b := img.Bounds(); b.Dx() != iconSize || b.Dy() != iconSize {
				t.Fatalf("size %v", b)
			}
			if got := color.NRGBAModel.Convert(img.At(tt.at[0], tt.at[1])); got != tt.want {
				t.Errorf("pixel %v = %v, want %v", tt.at, got, tt.want)
			}
			if _, _, _, a := img.At(0, 0).RGBA(); a != 0 {
				t.Errorf("corner not transparent")
			}
			ico := iconICO(tt.icon)
			var hdr [3]uint16
			if err := binary.Read(bytes.NewReader(ico), binary.LittleEndian, &hdr); err != nil || hdr != [3]uint16{0, 1, 1} {
				t.Fatalf("ICO header %v, %v", hdr, err)
			}
			size := binary.LittleEndian.Uint32(ico[6+8:])
			off := binary.LittleEndian.Uint32(ico[6+12:])
			if int(off)+int(size) != len(ico) || !bytes.Equal(ico[off:], p) {
				t.Errorf("ICO entry: size %d offset %d of %d bytes", size, off, len(ico))
			}
		})
	}
	if bytes.Equal(iconPNG(IconIdle), iconPNG(IconLive)) || bytes.Equal(iconPNG(IconIdle), iconPNG(IconDisconnected)) {
		t.Error("two states share an icon")
	}
}
