//go:build cgo

package capture

/*
#cgo CFLAGS: -O3
#include <stddef.h>
#include <stdint.h>

// One pixel per 32-bit word; the compiler turns the loop into byte
// shuffles. dst may be src (the same index is read before it is written).
static void tether_bgrx_to_rgba(uint8_t *dst, const uint8_t *src, size_t n) {
	const uint32_t *s = (const uint32_t *)src;
	uint32_t *d = (uint32_t *)dst;
	for (size_t i = 0; i < n; i++) {
		uint32_t v = s[i];
		d[i] = (v & 0x0000ff00u) | ((v >> 16) & 0xffu) | ((v & 0xffu) << 16) | 0xff000000u;
	}
}
*/
import "C"

import "unsafe"

// cgoMinBytes: shorter runs are converted in Go, cheaper than the call.
const cgoMinBytes = 512

// bgrxToRGBA is bgrxToRGBAGo, in C for runs worth a call.
func bgrxToRGBA(dst, src []byte) {
	n := len(dst) / 4
	if len(dst) < cgoMinBytes {
		bgrxToRGBAGo(dst, src)
		return
	}
	src = src[:n*4]
	C.tether_bgrx_to_rgba((*C.uint8_t)(unsafe.Pointer(&dst[0])), (*C.uint8_t)(unsafe.Pointer(&src[0])), C.size_t(n))
	if r := len(dst) % 4; r != 0 {
		bgrxToRGBAGo(dst[n*4:], src[n*4:])
	}
}
