//go:build windows

// Package winui runs the session helper's own Win32 windows (chat,
// Guidance overlay, clipboard listener, prompts): one OS thread with a
// message loop per window set, and window procedures written in Go.
package winui

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"unsafe"

	"github.com/lxn/win"
	"golang.org/x/sys/windows"
)

// ErrClosed is returned by Do once the thread has ended.
var ErrClosed = errors.New("winui: the window thread has ended")

// Proc handles one window's messages. It runs on the window's thread;
// handled false passes the message to DefWindowProc.
type Proc func(hwnd win.HWND, msg uint32, wp, lp uintptr) (result uintptr, handled bool)

// wmCall asks the thread's own window to run the queued calls.
const wmCall = win.WM_APP + 1

// Every window of every thread has the same window procedure (Go callbacks
// are a limited resource); it finds the window's Proc here.
var procs struct {
	sync.Mutex
	byHwnd  map[win.HWND]Proc
	classes map[string]bool
	// creating is the Proc of the window being created on each thread:
	// messages arrive before CreateWindowEx returns the handle.
	creating map[uint32]Proc
	cb       uintptr
}

func wndProc(hwnd win.HWND, msg uint32, wp, lp uintptr) uintptr {
	procs.Lock()
	p := procs.byHwnd[hwnd]
	if p == nil {
		if p = procs.creating[win.GetCurrentThreadId()]; p != nil {
			procs.byHwnd[hwnd] = p
		}
	}
	procs.Unlock()
	if msg == win.WM_NCDESTROY {
		procs.Lock()
		delete(procs.byHwnd, hwnd)
		procs.Unlock()
	}
	if p != nil {
		if r, ok := p(hwnd, msg, wp, lp); ok {
			return r
		}
	}
	return win.DefWindowProc(hwnd, msg, wp, lp)
}

// Thread is an OS thread running a Win32 message loop. Windows are made
// and touched only on it, through Do.
type Thread struct {
	tid  uint32
	hwnd win.HWND // a message-only window that runs the queued calls

	mu      sync.Mutex
	calls   []func()
	ended   bool
	dialogs map[win.HWND]bool // windows whose keys go through IsDialogMessage
	windows map[win.HWND]bool // made by Create, destroyed by Close
	done    chan struct{}
}

// Start starts a thread and its message loop.
func Start() (*Thread, error) {
	t := &Thread{done: make(chan struct{}), dialogs: map[win.HWND]bool{}, windows: map[win.HWND]bool{}}
	started := make(chan error, 1)
	go t.loop(started)
	if err := <-started; err != nil {
		return nil, err
	}
	return t, nil
}

func (t *Thread) loop(started chan<- error) {
	runtime.LockOSThread() // windows belong to the thread that made them; this one dies with them
	defer close(t.done)
	t.tid = win.GetCurrentThreadId()
	h, err := t.create(WindowConfig{Class: "TetherUICalls", Parent: win.HWND_MESSAGE, Proc: t.callProc})
	if err != nil {
		started <- err
		return
	}
	t.hwnd = h
	started <- nil
	var m win.MSG
	for {
		if r := win.GetMessage(&m, 0, 0, 0); r == 0 || r == -1 {
			break
		}
		if t.dialogMessage(&m) {
			continue
		}
		win.TranslateMessage(&m)
		win.DispatchMessage(&m)
	}
	t.mu.Lock()
	t.ended = true
	t.tid = 0 // the OS thread's id may be given to another thread now
	calls := t.calls
	t.calls = nil
	t.mu.Unlock()
	for _, f := range calls {
		f() // each only signals its waiter that the thread ended
	}
}

// dialogMessage gives a key to its dialog-like window (Tab, Enter, Esc).
func (t *Thread) dialogMessage(m *win.MSG) bool {
	if m.Message < win.WM_KEYFIRST || m.Message > win.WM_KEYLAST {
		return false
	}
	for h := range t.dialogs {
		if (h == m.HWnd || win.IsChild(h, m.HWnd)) && win.IsDialogMessage(h, m) {
			return true
		}
	}
	return false
}

func (t *Thread) callProc(hwnd win.HWND, msg uint32, wp, lp uintptr) (uintptr, bool) {
	switch msg {
	case wmCall:
		t.mu.Lock()
		calls := t.calls
		t.calls = nil
		t.mu.Unlock()
		for _, f := range calls {
			f()
		}
		return 0, true
	case win.WM_CLOSE:
		// Close: the windows go first, so none outlives the thread's end
		// (Windows would destroy them with the thread; Wine does so late).
		for w := range t.windows {
			t.Destroy(w)
		}
		win.DestroyWindow(hwnd)
		return 0, true
	case win.WM_DESTROY:
		win.PostQuitMessage(0)
		return 0, true
	}
	return 0, false
}

// Do runs f on the thread and waits for it. On the thread itself (from a
// Proc) it runs f at once.
func (t *Thread) Do(f func()) error {
	ran := make(chan bool, 1)
	t.mu.Lock()
	if t.ended {
		t.mu.Unlock()
		return ErrClosed
	}
	if win.GetCurrentThreadId() == t.tid {
		t.mu.Unlock()
		f()
		return nil
	}
	t.calls = append(t.calls, func() {
		t.mu.Lock()
		ended := t.ended
		t.mu.Unlock()
		if !ended {
			f()
		}
		ran <- !ended
	})
	t.mu.Unlock()
	win.PostMessage(t.hwnd, wmCall, 0, 0)
	if !<-ran {
		return ErrClosed
	}
	return nil
}

// Close destroys the thread's windows and ends its loop; it waits for the
// end, except on the thread itself. Calls made after it return ErrClosed.
func (t *Thread) Close() {
	t.mu.Lock()
	ended, own := t.ended, win.GetCurrentThreadId() == t.tid
	t.mu.Unlock()
	if !ended {
		win.PostMessage(t.hwnd, win.WM_CLOSE, 0, 0)
	}
	if !own { // from a Proc, waiting would wait for itself
		<-t.done
	}
}

// WindowConfig describes a window for Thread.Create.
type WindowConfig struct {
	Class          string // registered on first use
	Title          string
	Style, ExStyle uint32
	X, Y, W, H     int32
	Parent         win.HWND
	Background     win.HBRUSH // 0: the window paints itself
	Proc           Proc
	// Dialog routes Tab, Enter and Esc through IsDialogMessage.
	Dialog bool
}

// Create makes a window of a class of our own; it must run on the thread
// (inside Do).
func (t *Thread) Create(c WindowConfig) (win.HWND, error) {
	h, err := t.create(c)
	if err != nil {
		return 0, err
	}
	t.windows[h] = true
	if c.Dialog {
		t.dialogs[h] = true
	}
	return h, nil
}

// Destroy destroys a window made by Create; it must run on the thread.
func (t *Thread) Destroy(h win.HWND) {
	delete(t.dialogs, h)
	delete(t.windows, h)
	win.DestroyWindow(h)
}

func (t *Thread) create(c WindowConfig) (win.HWND, error) {
	inst := win.GetModuleHandle(nil)
	cls := utf16z(c.Class)
	procs.Lock()
	if procs.classes == nil {
		procs.classes = map[string]bool{}
		procs.byHwnd = map[win.HWND]Proc{}
		procs.creating = map[uint32]Proc{}
		procs.cb = syscall.NewCallback(wndProc)
	}
	if !procs.classes[c.Class] {
		wc := win.WNDCLASSEX{
			LpfnWndProc:   procs.cb,
			HInstance:     inst,
			HCursor:       win.LoadCursor(0, win.MAKEINTRESOURCE(win.IDC_ARROW)),
			HbrBackground: c.Background,
			LpszClassName: cls,
		}
		wc.CbSize = uint32(unsafe.Sizeof(wc))
		if win.RegisterClassEx(&wc) == 0 {
			procs.Unlock()
			return 0, fmt.Errorf("registering window class %s: %w", c.Class, windows.GetLastError())
		}
		procs.classes[c.Class] = true
	}
	procs.creating[t.tid] = c.Proc
	procs.Unlock()
	defer func() {
		procs.Lock()
		delete(procs.creating, t.tid)
		procs.Unlock()
	}()
	return CreateWindow(c.ExStyle, c.Class, c.Title, c.Style, c.X, c.Y, c.W, c.H, c.Parent, 0)
}

var (
	user32                         = windows.NewLazySystemDLL("user32.dll")
	gdi32                          = windows.NewLazySystemDLL("gdi32.dll")
	procCreateWindowExW            = user32.NewProc("CreateWindowExW")
	procSetWindowTextW             = user32.NewProc("SetWindowTextW")
	procGetWindowTextW             = user32.NewProc("GetWindowTextW")
	procGetWindowTextLengthW       = user32.NewProc("GetWindowTextLengthW")
	procFillRect                   = user32.NewProc("FillRect")
	procSetLayeredWindowAttributes = user32.NewProc("SetLayeredWindowAttributes")
	procGetClipboardOwner          = user32.NewProc("GetClipboardOwner")
	procRemoveClipboardFmtListener = user32.NewProc("RemoveClipboardFormatListener")
	procCreateSolidBrush           = gdi32.NewProc("CreateSolidBrush")
	procCreatePen                  = gdi32.NewProc("CreatePen")
)

// CreateWindow is CreateWindowExW with its error; the class may be a
// system one (EDIT, BUTTON, STATIC) for a child control, whose id is id.
func CreateWindow(exStyle uint32, class, title string, style uint32, x, y, w, h int32, parent win.HWND, id uintptr) (win.HWND, error) {
	r, _, err := procCreateWindowExW.Call(uintptr(exStyle),
		uintptr(unsafe.Pointer(utf16z(class))), uintptr(unsafe.Pointer(utf16z(title))),
		uintptr(style), uintptr(x), uintptr(y), uintptr(w), uintptr(h), uintptr(parent), id, uintptr(win.GetModuleHandle(nil)), 0)
	if r == 0 {
		return 0, fmt.Errorf("creating a %s window: %w", class, err)
	}
	return win.HWND(r), nil
}

// SetText sets a window's text (a control's content, a window's title).
func SetText(h win.HWND, s string) {
	procSetWindowTextW.Call(uintptr(h), uintptr(unsafe.Pointer(utf16z(s))))
}

// Text is a window's text.
func Text(h win.HWND) string {
	n, _, _ := procGetWindowTextLengthW.Call(uintptr(h))
	buf := make([]uint16, n+1)
	procGetWindowTextW.Call(uintptr(h), uintptr(unsafe.Pointer(&buf[0])), n+1)
	return windows.UTF16ToString(buf)
}

// FillRect fills r with brush.
func FillRect(dc win.HDC, r *win.RECT, brush win.HBRUSH) {
	procFillRect.Call(uintptr(dc), uintptr(unsafe.Pointer(r)), uintptr(brush))
}

// SolidBrush is a brush of colour rgb (0xRRGGBB).
func SolidBrush(rgb uint32) win.HBRUSH {
	r, _, _ := procCreateSolidBrush.Call(uintptr(ColorRef(rgb)))
	return win.HBRUSH(r)
}

// SolidPen is a pen of colour rgb (0xRRGGBB) and width pixels.
func SolidPen(rgb uint32, width int32) win.HPEN {
	r, _, _ := procCreatePen.Call(win.PS_SOLID, uintptr(width), uintptr(ColorRef(rgb)))
	return win.HPEN(r)
}

// ColorRef is 0xRRGGBB as a COLORREF (0x00BBGGRR).
func ColorRef(rgb uint32) win.COLORREF {
	return win.COLORREF(rgb>>16&0xff | rgb&0xff00 | (rgb&0xff)<<16)
}

// SetColorKey makes colour rgb of a WS_EX_LAYERED window transparent.
func SetColorKey(h win.HWND, rgb uint32) error {
	const lwaColorKey = 1
	if r, _, err := procSetLayeredWindowAttributes.Call(uintptr(h), uintptr(ColorRef(rgb)), 0, lwaColorKey); r == 0 {
		return fmt.Errorf("SetLayeredWindowAttributes: %w", err)
	}
	return nil
}

// ClipboardOwner is the window that set the clipboard's content.
func ClipboardOwner() win.HWND {
	r, _, _ := procGetClipboardOwner.Call()
	return win.HWND(r)
}

// RemoveClipboardFormatListener undoes AddClipboardFormatListener.
func RemoveClipboardFormatListener(h win.HWND) {
	procRemoveClipboardFmtListener.Call(uintptr(h))
}

var procIsWindow = user32.NewProc("IsWindow")

// IsWindow reports whether h is a window that exists.
func IsWindow(h win.HWND) bool {
	r, _, _ := procIsWindow.Call(uintptr(h))
	return r != 0
}

var (
	procGetClipboardSequenceNumber = user32.NewProc("GetClipboardSequenceNumber")
	procGlobalSize                 = windows.NewLazySystemDLL("kernel32.dll").NewProc("GlobalSize")
)

// ClipboardSequenceNumber changes each time the clipboard's content
// does; 0 when this process may not read it.
func ClipboardSequenceNumber() uint32 {
	r, _, _ := procGetClipboardSequenceNumber.Call()
	return uint32(r)
}

// GlobalSize is the size in bytes of a global memory block (clipboard
// data); 0 for an invalid handle.
func GlobalSize(h win.HGLOBAL) uintptr {
	r, _, _ := procGlobalSize.Call(uintptr(h))
	return r
}

var procAdjustWindowRectEx = user32.NewProc("AdjustWindowRectEx")

// AdjustWindowRectEx grows r, a client area, to the window around it.
func AdjustWindowRectEx(r *win.RECT, style uint32, menu bool, exStyle uint32) {
	var m uintptr
	if menu {
		m = 1
	}
	procAdjustWindowRectEx.Call(uintptr(unsafe.Pointer(r)), uintptr(style), m, uintptr(exStyle))
}

var procMonitorFromPoint = user32.NewProc("MonitorFromPoint")

// WorkArea is the work area (the screen less the taskbar) of the monitor
// that holds pt, or the nearest one.
func WorkArea(pt win.POINT) win.RECT {
	const monitorDefaultToNearest = 2
	// A POINT is passed by value: on 64-bit Windows, in one register.
	m, _, _ := procMonitorFromPoint.Call(uintptr(uint32(pt.X))|uintptr(uint32(pt.Y))<<32, monitorDefaultToNearest)
	mi := win.MONITORINFO{}
	mi.CbSize = uint32(unsafe.Sizeof(mi))
	if m == 0 || !win.GetMonitorInfo(win.HMONITOR(m), &mi) {
		return win.RECT{Right: win.GetSystemMetrics(win.SM_CXSCREEN), Bottom: win.GetSystemMetrics(win.SM_CYSCREEN)}
	}
	return mi.RcWork
}

// utf16z is s as a NUL-terminated UTF-16 string for Win32. A NUL inside s
// (which a peer's text may hold) is dropped rather than cutting the text
// or, as windows.StringToUTF16Ptr would, panicking.
func utf16z(s string) *uint16 {
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	p, _ := windows.UTF16PtrFromString(s)
	return p
}

// UTF16 is utf16z for callers outside the package.
func UTF16(s string) *uint16 { return utf16z(s) }

// UTF16Slice is s as NUL-terminated UTF-16, inner NULs dropped.
func UTF16Slice(s string) []uint16 {
	u, _ := windows.UTF16FromString(strings.ReplaceAll(s, "\x00", ""))
	return u
}

var procGetNextDlgTabItem = user32.NewProc("GetNextDlgTabItem")

// NextDlgCtl answers WM_NEXTDLGCTL for a window with Dialog set, which
// DefWindowProc ignores (IsDialogMessage sends it for Tab and the arrow
// keys): lp != 0 moves the focus to the control wp; otherwise to the
// next (wp == 0) or previous control. A radio button reached this way is
// checked, as in a dialog box.
func NextDlgCtl(h win.HWND, wp, lp uintptr) {
	to := win.HWND(wp)
	if lp == 0 {
		prev := uintptr(0)
		if wp != 0 {
			prev = 1
		}
		r, _, _ := procGetNextDlgTabItem.Call(uintptr(h), uintptr(win.GetFocus()), prev)
		to = win.HWND(r)
	}
	if to == 0 {
		return
	}
	win.SetFocus(to)
	const bsTypeMask, bsAutoRadio = 0xf, 9
	if cls := className(to); cls == "Button" || cls == "BUTTON" {
		if uint32(win.GetWindowLong(to, win.GWL_STYLE))&bsTypeMask == bsAutoRadio {
			win.SendMessage(to, win.BM_CLICK, 0, 0)
		}
	}
}

func className(h win.HWND) string {
	buf := make([]uint16, 64)
	n, _ := win.GetClassName(h, &buf[0], len(buf))
	return windows.UTF16ToString(buf[:n])
}

var procFlashWindowEx = user32.NewProc("FlashWindowEx")

// Flash flashes h's taskbar button until h comes to the foreground.
func Flash(h win.HWND) {
	const flashwTray, flashwTimerNoFG = 0x2, 0xC
	fi := struct {
		size    uint32
		hwnd    win.HWND
		flags   uint32
		count   uint32
		timeout uint32
	}{hwnd: h, flags: flashwTray | flashwTimerNoFG}
	fi.size = uint32(unsafe.Sizeof(fi))
	procFlashWindowEx.Call(uintptr(unsafe.Pointer(&fi)))
}

var procRegisterClipboardFormatW = user32.NewProc("RegisterClipboardFormatW")

// RegisterClipboardFormat is the id of the named clipboard format (0 if
// it cannot be registered).
func RegisterClipboardFormat(name string) uint32 {
	r, _, _ := procRegisterClipboardFormatW.Call(uintptr(unsafe.Pointer(utf16z(name))))
	return uint32(r)
}
