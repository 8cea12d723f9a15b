package capture

import "encoding/binary"

// bgrxToRGBAGo converts 32-bit pixels stored B, G, R, X (X11 ZPixmap on a
// little-endian server, Windows BGRA) from src into opaque R, G, B, A in
// dst, len(dst)/4 pixels; src must be at least as long. dst and src may be
// the same slice. Two pixels per 64-bit word: the green bytes stay, red and
// blue swap, alpha is set. bgrxToRGBA is this, or the same in C where cgo
// is (five times faster: the C compiler vectorizes it).
func bgrxToRGBAGo(dst, src []byte) {
	const (
		g  = 0x0000ff00_0000ff00
		rb = 0x000000ff_000000ff
		a  = 0xff000000_ff000000
	)
	src = src[:len(dst)]
	for len(dst) >= 32 {
		d, s := dst[:32:32], src[:32:32]
		for i := 0; i < 32; i += 8 {
			v := binary.LittleEndian.Uint64(s[i:])
			binary.LittleEndian.PutUint64(d[i:], v&g|v>>16&rb|(v&rb)<<16|a)
		}
		dst, src = dst[32:], src[32:]
	}
	for len(dst) >= 4 {
		dst[0], dst[1], dst[2], dst[3] = src[2], src[1], src[0], 0xff
		dst, src = dst[4:], src[4:]
	}
}

// rgbxToRGBA copies 32-bit R, G, B, X pixels from src into opaque R, G, B,
// A in dst, len(dst)/4 pixels.
func rgbxToRGBA(dst, src []byte) {
	copy(dst, src[:len(dst)])
	for i := 3; i < len(dst); i += 4 {
		dst[i] = 0xff
	}
}
