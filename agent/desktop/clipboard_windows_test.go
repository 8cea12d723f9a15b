package desktop

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/lxn/win"
	"golang.org/x/sys/windows"

	"github.com/tetherdesk/tether/agent/internal/winui"
)

// clipOther is "another program": its own thread and window, touching the
// clipboard with plain Win32 calls only.
type clipOther struct {
	t    *winui.Thread
	hwnd win.HWND
}

func newClipOther(t *testing.T) *clipOther {
	t.Helper()
	th, err := winui.Start()
	if err != nil {
		t.Fatal(err)
	}
	o := &clipOther{t: th}
	var cerr error
	th.Do(func() {
		o.hwnd, cerr = th.Create(winui.WindowConfig{Class: "TetherClipTestOther", Parent: win.HWND_MESSAGE,
			Proc: func(win.HWND, uint32, uintptr, uintptr) (uintptr, bool) { return 0, false }})
	})
	if cerr != nil {
		th.Close()
		t.Fatal(cerr)
	}
	t.Cleanup(th.Close)
	return o
}

// open opens the clipboard on o's thread (with owner as its window),
// retrying while some other thread (Wine's clipboard manager, say) holds
// it, and runs f with it open.
func (o *clipOther) open(t *testing.T, owner win.HWND, f func() error) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var opened bool
		var err error
		o.t.Do(func() {
			if opened = win.OpenClipboard(owner); opened {
				err = f()
				win.CloseClipboard()
			} else {
				err = windows.GetLastError()
			}
		})
		if opened {
			if err != nil {
				t.Fatal(err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the other program cannot open the clipboard: %v", err)
		}
		time.Sleep(10 * time.Millisecond) // waiting out another holder, not synchronising
	}
}

// set copies data in format, as a program does on Ctrl+C.
func (o *clipOther) set(t *testing.T, format uint32, data []byte) {
	t.Helper()
	o.open(t, o.hwnd, func() error {
		if !win.EmptyClipboard() {
			return errors.New("EmptyClipboard failed")
		}
		h := win.GlobalAlloc(win.GMEM_MOVEABLE, uintptr(len(data)))
		p := win.GlobalLock(h)
		copy(unsafe.Slice((*byte)(p), len(data)), data)
		win.GlobalUnlock(h)
		if win.SetClipboardData(format, win.HANDLE(h)) == 0 {
			win.GlobalFree(h)
			return errors.New("SetClipboardData failed")
		}
		return nil
	})
}

// setSecret copies s as a password manager does: with the format that
// asks clipboard monitors to ignore it.
func (o *clipOther) setSecret(t *testing.T, s string) {
	t.Helper()
	u, _ := windows.UTF16FromString(s)
	exclude := winui.RegisterClipboardFormat("ExcludeClipboardContentFromMonitorProcessing")
	o.open(t, o.hwnd, func() error {
		if !win.EmptyClipboard() {
			return errors.New("EmptyClipboard failed")
		}
		for _, it := range []struct {
			format uint32
			data   []byte
		}{{win.CF_UNICODETEXT, unsafe.Slice((*byte)(unsafe.Pointer(&u[0])), len(u)*2)}, {exclude, []byte{0, 0, 0, 0}}} {
			h := win.GlobalAlloc(win.GMEM_MOVEABLE, uintptr(len(it.data)))
			p := win.GlobalLock(h)
			copy(unsafe.Slice((*byte)(p), len(it.data)), it.data)
			win.GlobalUnlock(h)
			if win.SetClipboardData(it.format, win.HANDLE(h)) == 0 {
				win.GlobalFree(h)
				return errors.New("SetClipboardData failed")
			}
		}
		return nil
	})
}

func (o *clipOther) setText(t *testing.T, s string) {
	t.Helper()
	u, _ := windows.UTF16FromString(s)
	o.set(t, win.CF_UNICODETEXT, unsafe.Slice((*byte)(unsafe.Pointer(&u[0])), len(u)*2))
}

// text pastes: OpenClipboard(NULL), GetClipboardData(CF_UNICODETEXT).
func (o *clipOther) text(t *testing.T) string {
	t.Helper()
	var s string
	o.open(t, 0, func() error {
		h := win.HGLOBAL(win.GetClipboardData(win.CF_UNICODETEXT))
		if h == 0 {
			return errors.New("no CF_UNICODETEXT on the clipboard")
		}
		p := win.GlobalLock(h)
		if p == nil {
			return errors.New("GlobalLock failed")
		}
		defer win.GlobalUnlock(h)
		s = windows.UTF16PtrToString((*uint16)(p))
		return nil
	})
	return s
}

// TestWindowsClipboard: text set through winClipboard is what another
// program pastes; what another program copies during Watch is reported
// once each, while the text held before Watch, our own Sets and non-text
// content are not; a held clipboard makes Set fail after its wait; Watch
// ends with its context and fails after Close.
func TestWindowsClipboard(t *testing.T) {
	c, err := newWinClipboard()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	other := newClipOther(t)

	other.setText(t, "held before Watch")

	got := make(chan string, 16)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watchErr := make(chan error, 1)
	go func() {
		watchErr <- c.Watch(ctx, func(s string) {
			got <- s
			time.Sleep(200 * time.Millisecond) // a slow receiver must not hold up the window thread
		})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for watching := false; !watching; {
		c.t.Do(func() { watching = c.watch != nil })
		if time.Now().After(deadline) {
			t.Fatal("Watch did not start")
		}
		time.Sleep(10 * time.Millisecond) // polling the state, not synchronising
	}

	// next is the next reported text; want is what it must be.
	next := func(want string) {
		t.Helper()
		select {
		case s := <-got:
			if s != want {
				t.Fatalf("reported %q, want %q", s, want)
			}
		case err := <-watchErr:
			t.Fatalf("Watch ended: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatalf("%q was not reported", want)
		}
	}

	fromTech := "ticket #4711 — Grüße ✓"
	if err := c.Set(fromTech); err != nil {
		t.Fatal(err)
	}
	if s := other.text(t); s != fromTech {
		t.Fatalf("another program pastes %q, want %q", s, fromTech)
	}

	// Reports come in order, so anything that should not have been
	// reported (the text before Watch, our Set, a repeat) shows up
	// ahead of the next expected one.
	copied := "copied by the user: naïve café ✂"
	other.setText(t, copied)
	next(copied)
	if err := c.Set("second text from the technician"); err != nil {
		t.Fatal(err)
	}
	other.set(t, 0x200 /* CF_PRIVATEFIRST: not text */, []byte("picture"))
	other.setText(t, "copied again")
	next("copied again")
	// A password manager's copy is never reported.
	other.setSecret(t, "hunter2 from the password manager")
	other.setText(t, "copied after the secret")
	next("copied after the secret")
	select {
	case s := <-got:
		t.Fatalf("reported %q after the last copy", s)
	case <-time.After(500 * time.Millisecond): // nothing more may come
	}

	// Another program holding the clipboard open makes Set fail after
	// about a second, and it succeeds once the clipboard is free.
	held, release := make(chan struct{}), make(chan struct{})
	go other.t.Do(func() {
		if win.OpenClipboard(other.hwnd) {
			close(held)
			<-release
			win.CloseClipboard()
		}
	})
	select {
	case <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("the other program could not open the clipboard")
	}
	start := time.Now()
	err = c.Set("while held")
	close(release)
	if err == nil || !strings.Contains(err.Error(), "opening the clipboard") {
		t.Fatalf("Set with the clipboard held open: %v, want an error opening it", err)
	}
	// It tried for about the wait before giving up (a loaded machine only
	// makes that longer: the upper bound only catches a Set that never
	// gives up).
	if d := time.Since(start); d < clipOpenWait/2 || d > 30*clipOpenWait {
		t.Errorf("Set gave up after %v, want about %v", d, clipOpenWait)
	}
	if err := c.Set("after release"); err != nil {
		t.Fatal(err)
	}
	if s := other.text(t); s != "after release" {
		t.Fatalf("another program pastes %q, want %q", s, "after release")
	}

	cancel()
	select {
	case err := <-watchErr:
		if err != nil {
			t.Fatalf("Watch after its context ended: %v", err)
		}
	case s := <-got:
		t.Fatalf("reported %q", s)
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not end with its context")
	}

	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := c.Watch(context.Background(), func(string) {}); err == nil {
		t.Fatal("Watch after Close succeeded")
	}
	if err := c.Set("x"); err == nil {
		t.Fatal("Set after Close succeeded")
	}
}
