//go:build windows

// Command winpeek reads and drives another program's Win32 window for the
// e2e tests under Wine, as an end user's eyes and keyboard would:
//
//	winpeek text CLASS TITLE ID        prints the text of control ID
//	winpeek type CLASS TITLE ID TEXT   types TEXT into control ID, then Enter
//	winpeek click CLASS TITLE ID       clicks button ID
//
// A TITLE of "*" matches any window of the class.
//
//	winpeek clip                       prints the clipboard's text
//	winpeek copy TEXT                  copies TEXT to the clipboard
//
// The text is printed as Go quotes it, so line breaks survive.
package main

import (
	"fmt"
	"os"
	"strconv"
	"unicode/utf16"
	"unsafe"

	"golang.org/x/sys/windows"
)

var (
	user32       = windows.NewLazySystemDLL("user32.dll")
	findWindowW  = user32.NewProc("FindWindowW")
	getDlgItem   = user32.NewProc("GetDlgItem")
	sendMessageW = user32.NewProc("SendMessageW")
	postMessageW = user32.NewProc("PostMessageW")

	openClipboard    = user32.NewProc("OpenClipboard")
	createWindowExW  = user32.NewProc("CreateWindowExW")
	destroyWindow    = user32.NewProc("DestroyWindow")
	closeClipboard   = user32.NewProc("CloseClipboard")
	emptyClipboard   = user32.NewProc("EmptyClipboard")
	getClipboardData = user32.NewProc("GetClipboardData")
	setClipboardData = user32.NewProc("SetClipboardData")
	kernel32         = windows.NewLazySystemDLL("kernel32.dll")
	globalAlloc      = kernel32.NewProc("GlobalAlloc")
	globalLock       = kernel32.NewProc("GlobalLock")
	globalUnlock     = kernel32.NewProc("GlobalUnlock")
)

const cfUnicodeText = 13

const (
	wmGetText       = 0x000D
	wmGetTextLength = 0x000E
	wmKeyDown       = 0x0100
	wmChar          = 0x0102
	vkReturn        = 0x0D
	bmClick         = 0x00F5
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "winpeek:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	switch {
	case len(args) == 1 && args[0] == "clip":
		return clip()
	case len(args) == 2 && args[0] == "copy":
		return copyText(args[1])
	}
	if len(args) < 4 {
		return fmt.Errorf("usage: winpeek text|type|click CLASS TITLE ID [TEXT]")
	}
	var title uintptr
	if args[2] != "*" {
		title = uintptr(unsafe.Pointer(windows.StringToUTF16Ptr(args[2])))
	}
	top, _, _ := findWindowW.Call(uintptr(unsafe.Pointer(windows.StringToUTF16Ptr(args[1]))), title)
	if top == 0 {
		return fmt.Errorf("no window %q of class %s", args[2], args[1])
	}
	id, err := strconv.Atoi(args[3])
	if err != nil {
		return err
	}
	ctl, _, _ := getDlgItem.Call(top, uintptr(id))
	if ctl == 0 {
		return fmt.Errorf("window %q has no control %d", args[2], id)
	}
	switch {
	case args[0] == "text":
		// WM_GETTEXT, not GetWindowText: the latter does not ask another
		// process's controls for their text.
		n, _, _ := sendMessageW.Call(ctl, wmGetTextLength, 0, 0)
		buf := make([]uint16, n+1)
		sendMessageW.Call(ctl, wmGetText, n+1, uintptr(unsafe.Pointer(&buf[0])))
		fmt.Println(strconv.Quote(windows.UTF16ToString(buf)))
	case args[0] == "type" && len(args) == 5:
		// Posted, as keys arrive: through the window's own message loop.
		for _, u := range utf16.Encode([]rune(args[4])) {
			postMessageW.Call(ctl, wmChar, uintptr(u), 1)
		}
		postMessageW.Call(ctl, wmKeyDown, vkReturn, 1)
	case args[0] == "click":
		postMessageW.Call(ctl, bmClick, 0, 0)
	default:
		return fmt.Errorf("unknown command %q", args[0])
	}
	return nil
}

// clip prints the clipboard's text, quoted.
func clip() error {
	if r, _, err := openClipboard.Call(0); r == 0 {
		return fmt.Errorf("OpenClipboard: %w", err)
	}
	defer closeClipboard.Call()
	h, _, _ := getClipboardData.Call(cfUnicodeText)
	if h == 0 {
		fmt.Println(`""`)
		return nil
	}
	p, _, _ := globalLock.Call(h)
	defer globalUnlock.Call(h)
	fmt.Println(strconv.Quote(windows.UTF16PtrToString(*(**uint16)(unsafe.Pointer(&p)))))
	return nil
}

// copyText puts text on the clipboard as a program's Copy does: opened
// with a window of its own, which becomes the clipboard's owner (opened
// with none, EmptyClipboard leaves no owner and Windows then refuses
// SetClipboardData).
func copyText(text string) error {
	u := utf16.Encode([]rune(text + "\x00"))
	const hwndMessage = ^uintptr(2) // HWND_MESSAGE, (HWND)-3
	owner, _, err := createWindowExW.Call(0, uintptr(unsafe.Pointer(windows.StringToUTF16Ptr("STATIC"))), 0, 0, 0, 0, 0, 0, hwndMessage, 0, 0, 0)
	if owner == 0 {
		return fmt.Errorf("CreateWindowExW: %w", err)
	}
	defer destroyWindow.Call(owner)
	if r, _, err := openClipboard.Call(owner); r == 0 {
		return fmt.Errorf("OpenClipboard: %w", err)
	}
	defer closeClipboard.Call()
	emptyClipboard.Call()
	const gmemMoveable = 2
	h, _, err := globalAlloc.Call(gmemMoveable, uintptr(len(u)*2))
	if h == 0 {
		return fmt.Errorf("GlobalAlloc: %w", err)
	}
	p, _, _ := globalLock.Call(h)
	copy(unsafe.Slice(*(**uint16)(unsafe.Pointer(&p)), len(u)), u)
	globalUnlock.Call(h)
	if r, _, err := setClipboardData.Call(cfUnicodeText, h); r == 0 {
		return fmt.Errorf("SetClipboardData: %w", err)
	}
	return nil
}
