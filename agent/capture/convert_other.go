//go:build !linux || !cgo

package capture

// bgrxToRGBA is bgrxToRGBAGo where there is no C compiler to vectorize it.
func bgrxToRGBA(dst, src []byte) { bgrxToRGBAGo(dst, src) }
