package wineskip

import (
	"unsafe"

	"golang.org/x/sys/windows"
)

// Version is the Wine version this process runs under (ntdll exports
// wine_get_version there and nowhere else), or "" on Windows itself.
func Version() string {
	p := windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version")
	if p.Find() != nil {
		return ""
	}
	r, _, _ := p.Call()
	if r == 0 {
		return "?"
	}
	return windows.BytePtrToString(*(**byte)(unsafe.Pointer(&r))) // a static C string in ntdll
}
