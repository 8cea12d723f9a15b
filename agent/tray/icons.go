package tray

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/png"
)

// iconSize is the icons' edge in pixels; tray hosts scale them.
const iconSize = 32

// Colours of the icon states: blue for ready, green while someone is
// connected, grey with a red bar while the server is out of reach.
var (
	colourIdle         = color.NRGBA{0x24, 0x6b, 0xd8, 0xff}
	colourLive         = color.NRGBA{0x1d, 0x9a, 0x48, 0xff}
	colourDisconnected = color.NRGBA{0x80, 0x80, 0x80, 0xff}
	colourBar          = color.NRGBA{0xd8, 0x2a, 0x2a, 0xff}
	colourMark         = color.NRGBA{0xff, 0xff, 0xff, 0xff}
)

// drawIcon draws the icon for i: a disc in the state's colour with a
// white mark (a dot when ready, a ring while live), or crossed by a red bar
// while disconnected.
func drawIcon(i Icon) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, iconSize, iconSize))
	disc := colourIdle
	switch i {
	case IconLive:
		disc = colourLive
	case IconDisconnected:
		disc = colourDisconnected
	}
	const c = float64(iconSize-1) / 2
	for y := range iconSize {
		for x := range iconSize {
			dx, dy := float64(x)-c, float64(y)-c
			d2 := dx*dx + dy*dy
			switch {
			case d2 > c*c:
				continue // transparent outside the disc
			case i == IconDisconnected && abs(dx+dy) < 3.5:
				img.SetNRGBA(x, y, colourBar)
			case i == IconLive && d2 < 8*8 && d2 > 5*5:
				img.SetNRGBA(x, y, colourMark)
			case i == IconIdle && d2 < 4*4:
				img.SetNRGBA(x, y, colourMark)
			default:
				img.SetNRGBA(x, y, disc)
			}
		}
	}
	return img
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

// iconPNG is the icon as PNG (what the Linux tray takes).
func iconPNG(i Icon) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, drawIcon(i)); err != nil {
		panic("encoding a generated icon: " + err.Error()) // cannot fail for an in-memory image
	}
	return b.Bytes()
}

// iconICO wraps the PNG in an ICO container (what the Windows tray takes;
// Windows reads PNG-compressed icons since Vista).
func iconICO(i Icon) []byte {
	p := iconPNG(i)
	var b bytes.Buffer
	// ICONDIR: reserved, type 1 (icon), one image.
	_ = binary.Write(&b, binary.LittleEndian, [3]uint16{0, 1, 1})
	// ICONDIRENTRY: width, height, colours, reserved, planes, bit count,
	// size of the image data, offset of the image data.
	b.Write([]byte{iconSize, iconSize, 0, 0})
	_ = binary.Write(&b, binary.LittleEndian, [2]uint16{1, 32})
	_ = binary.Write(&b, binary.LittleEndian, [2]uint32{uint32(len(p)), 6 + 16})
	b.Write(p)
	return b.Bytes()
}
