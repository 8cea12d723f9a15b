//go:build windows

// Command win32window is a Windows test program for the e2e tests under
// Wine: a plain Win32 window at 100,100 of 400x300 whose client area is
// painted one colour, which says "painted" once it has painted, and prints
// each click ("click X Y", client
// coordinates) and each typed character ("char C") on stdout.
package main

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

var (
	user32           = windows.NewLazySystemDLL("user32.dll")
	gdi32            = windows.NewLazySystemDLL("gdi32.dll")
	registerClassExW = user32.NewProc("RegisterClassExW")
	createWindowExW  = user32.NewProc("CreateWindowExW")
	defWindowProcW   = user32.NewProc("DefWindowProcW")
	getMessageW      = user32.NewProc("GetMessageW")
	translateMessage = user32.NewProc("TranslateMessage")
	dispatchMessageW = user32.NewProc("DispatchMessageW")
	beginPaint       = user32.NewProc("BeginPaint")
	endPaint         = user32.NewProc("EndPaint")
	fillRect         = user32.NewProc("FillRect")
	getClientRect    = user32.NewProc("GetClientRect")
	clientToScreen   = user32.NewProc("ClientToScreen")
	setForeground    = user32.NewProc("SetForegroundWindow")
	postQuitMessage  = user32.NewProc("PostQuitMessage")
	createSolidBrush = gdi32.NewProc("CreateSolidBrush")
)

const (
	wmDestroy     = 0x0002
	wmPaint       = 0x000F
	wmChar        = 0x0102
	wmLButtonDown = 0x0201
	wsOverlapped  = 0x00CF0000 // WS_OVERLAPPEDWINDOW
	wsVisible     = 0x10000000
	wsExTopmost   = 0x00000008
)

type wndClassEx struct {
	Size, Style                        uint32
	WndProc                            uintptr
	ClsExtra, WndExtra                 int32
	Instance, Icon, Cursor, Background windows.Handle
	MenuName, ClassName                *uint16
	IconSm                             windows.Handle
}

type paintStruct struct {
	Hdc         windows.Handle
	Erase       int32
	Rect        [4]int32
	Restore     int32
	IncUpdate   int32
	RGBReserved [32]byte
}

type msg struct {
	Hwnd    windows.Handle
	Message uint32
	WParam  uintptr
	LParam  uintptr
	Time    uint32
	Pt      [2]int32
}

var (
	brush   uintptr
	painted bool
)

func wndProc(hwnd windows.Handle, m uint32, wp, lp uintptr) uintptr {
	switch m {
	case wmPaint:
		var ps paintStruct
		hdc, _, _ := beginPaint.Call(uintptr(hwnd), uintptr(unsafe.Pointer(&ps)))
		var r [4]int32
		getClientRect.Call(uintptr(hwnd), uintptr(unsafe.Pointer(&r)))
		fillRect.Call(hdc, uintptr(unsafe.Pointer(&r)), brush)
		endPaint.Call(uintptr(hwnd), uintptr(unsafe.Pointer(&ps)))
		if !painted {
			// The test waits for this before it looks for the colour.
			painted = true
			fmt.Println("painted")
		}
		return 0
	case wmLButtonDown:
		fmt.Printf("click %d %d\n", int16(lp&0xffff), int16(lp>>16&0xffff))
		return 0
	case wmChar:
		fmt.Printf("char %c\n", rune(wp))
		return 0
	case wmDestroy:
		postQuitMessage.Call(0)
		return 0
	}
	r, _, _ := defWindowProcW.Call(uintptr(hwnd), uintptr(m), wp, lp)
	return r
}

// A window's messages go to the thread that made it: main must stay on
// one OS thread, or GetMessage may run on another and the window never
// paints nor sees its input.
func init() { runtime.LockOSThread() }

func main() {
	// The colour as 0x00BBGGRR: RGB(0x20, 0xa0, 0x40).
	brush, _, _ = createSolidBrush.Call(0x0040a020)
	cls, _ := windows.UTF16PtrFromString("TetherTestWindow")
	title, _ := windows.UTF16PtrFromString("Tether test window")
	wc := wndClassEx{WndProc: syscall.NewCallback(wndProc), ClassName: cls}
	wc.Size = uint32(unsafe.Sizeof(wc))
	if r, _, err := registerClassExW.Call(uintptr(unsafe.Pointer(&wc))); r == 0 {
		fmt.Fprintln(os.Stderr, "RegisterClassExW:", err)
		os.Exit(1)
	}
	hwnd, _, err := createWindowExW.Call(wsExTopmost, uintptr(unsafe.Pointer(cls)), uintptr(unsafe.Pointer(title)),
		wsOverlapped|wsVisible, 100, 100, 400, 300, 0, 0, 0, 0)
	if hwnd == 0 {
		fmt.Fprintln(os.Stderr, "CreateWindowExW:", err)
		os.Exit(1)
	}
	setForeground.Call(hwnd)
	var r [4]int32
	getClientRect.Call(hwnd, uintptr(unsafe.Pointer(&r)))
	origin := [2]int32{0, 0}
	clientToScreen.Call(hwnd, uintptr(unsafe.Pointer(&origin)))
	fmt.Printf("ready %d %d %d %d\n", origin[0], origin[1], r[2], r[3])
	var m msg
	for {
		if ret, _, _ := getMessageW.Call(uintptr(unsafe.Pointer(&m)), 0, 0, 0); int32(ret) <= 0 {
			return
		}
		translateMessage.Call(uintptr(unsafe.Pointer(&m)))
		dispatchMessageW.Call(uintptr(unsafe.Pointer(&m)))
	}
}
