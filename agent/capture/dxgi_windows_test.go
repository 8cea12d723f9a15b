//go:build windows

package capture

import (
	"testing"
	"unsafe"
)

// The structs handed to DXGI and Direct3D must match the SDK's layout
// (64-bit Windows).
func TestDXGIStructLayout(t *testing.T) {
	for _, tc := range []struct {
		name      string
		got, want uintptr
	}{
		{"DXGI_OUTDUPL_FRAME_INFO", unsafe.Sizeof(dxgiFrameInfo{}), 48},
		{"DXGI_OUTDUPL_MOVE_RECT", unsafe.Sizeof(dxgiMoveRect{}), 24},
		{"DXGI_OUTPUT_DESC", unsafe.Sizeof(dxgiOutputDesc{}), 96},
		{"DXGI_OUTDUPL_DESC", unsafe.Sizeof(dxgiOutduplDesc{}), 36},
		{"D3D11_TEXTURE2D_DESC", unsafe.Sizeof(d3d11Texture2DDesc{}), 44},
		{"D3D11_MAPPED_SUBRESOURCE", unsafe.Sizeof(d3d11Mapped{}), 16},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %d bytes, want %d", tc.name, tc.got, tc.want)
		}
	}
}
