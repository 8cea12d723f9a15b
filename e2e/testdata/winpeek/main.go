//go:build windows

// Command winpeek reads and drives another program's Win32 window for the
// e2e tests under Wine, as an end user's eyes and keyboard would:
//
//	winpeek text CLASS TITLE ID        prints the text of control ID
//	winpeek type CLASS TITLE ID TEXT   types TEXT into control ID, then Enter
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
)

const (
	wmGetText       = 0x000D
	wmGetTextLength = 0x000E
	wmKeyDown       = 0x0100
	wmChar          = 0x0102
	vkReturn        = 0x0D
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "winpeek:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) < 4 {
		return fmt.Errorf("usage: winpeek text|type CLASS TITLE ID [TEXT]")
	}
	top, _, _ := findWindowW.Call(uintptr(unsafe.Pointer(windows.StringToUTF16Ptr(args[1]))), uintptr(unsafe.Pointer(windows.StringToUTF16Ptr(args[2]))))
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
	default:
		return fmt.Errorf("unknown command %q", args[0])
	}
	return nil
}
