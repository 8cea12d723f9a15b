package tray

import (
	"context"
	"errors"
	"testing"
	"time"
	"unsafe"

	"github.com/lxn/win"
	"golang.org/x/sys/windows"

	"github.com/tetherdesk/tether/agent/internal/winui"
)

// TestWindowsEnterCode: the tray's Enter Connection Code dialog is a Win32
// dialog whose field groups the digits as they are typed; Connect returns
// the code, Cancel ErrCancelled.
func TestWindowsEnterCode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	type result struct {
		code string
		err  error
	}
	enter := func(prefill string) (chan result, win.HWND) {
		t.Helper()
		ch := make(chan result, 1)
		go func() { s, err := (WinDialogs{}).EnterCode(ctx, prefill); ch <- result{s, err} }()
		deadline := time.Now().Add(10 * time.Second)
		for {
			h := win.FindWindow(windows.StringToUTF16Ptr(winui.DialogClass), windows.StringToUTF16Ptr(CodeEntryTitle))
			if h != 0 && win.IsWindowVisible(h) {
				return ch, h
			}
			if time.Now().After(deadline) {
				t.Fatal("no window titled " + CodeEntryTitle)
			}
			time.Sleep(20 * time.Millisecond) // polling for the window
		}
	}
	wait := func(ch chan result) result {
		t.Helper()
		select {
		case r := <-ch:
			return r
		case <-time.After(10 * time.Second):
			t.Fatal("the dialog did not answer")
		}
		return result{}
	}

	got, dlg := enter("")
	entry := win.GetDlgItem(dlg, winui.DialogEntry)
	for _, c := range "12345 6789" {
		win.PostMessage(entry, win.WM_CHAR, uintptr(c), 1)
	}
	deadline := time.Now().Add(10 * time.Second)
	for winui.Text(entry) != "123-456-789" {
		if time.Now().After(deadline) {
			t.Fatalf("typed 12345 6789, the field shows %q", winui.Text(entry))
		}
		time.Sleep(20 * time.Millisecond) // polling the field
	}
	// A digit typed in the middle is regrouped without the caret jumping
	// to the end: after "12", a 9 gives "129-345-678" (the tenth digit
	// drops) with the caret after the 9.
	win.PostMessage(entry, win.EM_SETSEL, 2, 2)
	win.PostMessage(entry, win.WM_CHAR, '9', 1)
	deadline = time.Now().Add(10 * time.Second)
	for winui.Text(entry) != "129-345-678" {
		if time.Now().After(deadline) {
			t.Fatalf("a 9 typed after 12 gives %q", winui.Text(entry))
		}
		time.Sleep(20 * time.Millisecond) // polling the field
	}
	var start, end uint32
	win.SendMessage(entry, win.EM_GETSEL, uintptr(unsafe.Pointer(&start)), uintptr(unsafe.Pointer(&end)))
	if start != 3 || end != 3 {
		t.Errorf("the caret is at %d-%d, want 3 (after the 9)", start, end)
	}
	// Enter presses Connect.
	win.PostMessage(entry, win.WM_KEYDOWN, win.VK_RETURN, 1)
	if r := wait(got); r.err != nil || r.code != "129-345-678" {
		t.Errorf("Connect gave %q, %v", r.code, r.err)
	}

	got, dlg = enter("987654321")
	if s := winui.Text(win.GetDlgItem(dlg, winui.DialogEntry)); s != "987-654-321" {
		t.Errorf("the prefill shows as %q", s)
	}
	win.PostMessage(win.GetDlgItem(dlg, winui.DialogCancel), win.BM_CLICK, 0, 0)
	if r := wait(got); !errors.Is(r.err, ErrCancelled) {
		t.Errorf("Cancel gave %q, %v", r.code, r.err)
	}
}
