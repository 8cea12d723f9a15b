package desktop

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lxn/win"
	"golang.org/x/sys/windows"

	"github.com/tetherdesk/tether/agent/internal/winui"
	"github.com/tetherdesk/tether/agent/session"
	"github.com/tetherdesk/tether/shared/protocol"
)

// TestWindowsSessionBar: during a live session a small topmost bar sits at
// the top centre of the screen, never activated; its End session button
// (red) ends the session and its Chat button opens the chat; without the
// right to end, there is no End session; the bar goes with the session.
func TestWindowsSessionBar(t *testing.T) {
	var mode atomic.Value
	mode.Store(protocol.ModeActive)
	ended, chats := make(chan struct{}, 4), make(chan struct{}, 4)
	l := session.LiveInfo{Technician: "Alex", MayEnd: true,
		End:      func() { ended <- struct{}{} },
		Mode:     func() protocol.Mode { return mode.Load().(protocol.Mode) },
		OpenChat: func() { chats <- struct{}{} }}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		(WinUI{}).Live(ctx, l)
	}()

	var h win.HWND
	waitFor(t, "the session bar", func() (bool, string) {
		h = win.FindWindow(windows.StringToUTF16Ptr("TetherSessionBar"), windows.StringToUTF16Ptr(SessionBarTitle))
		return h != 0 && win.IsWindowVisible(h), "not shown"
	})
	var r win.RECT
	win.GetWindowRect(h, &r)
	sw, sh := win.GetSystemMetrics(win.SM_CXSCREEN), win.GetSystemMetrics(win.SM_CYSCREEN)
	if r.Top != 0 || r.Bottom-r.Top > 60 {
		t.Errorf("the bar is at %+v, want a thin bar at the top edge", r)
	}
	if mid := (r.Left + r.Right) / 2; mid-sw/2 > 2 || sw/2-mid > 2 {
		t.Errorf("the bar's middle is at x %d, want the screen's (%d)", mid, sw/2)
	}
	if r.Bottom > sh/4 {
		t.Errorf("the bar reaches down to %d of %d", r.Bottom, sh)
	}
	ex := uint32(win.GetWindowLong(h, win.GWL_EXSTYLE))
	if ex&win.WS_EX_TOPMOST == 0 || ex&win.WS_EX_NOACTIVATE == 0 {
		t.Errorf("extended style %#x: want topmost and never activated", ex)
	}
	if win.GetForegroundWindow() == h {
		t.Error("the bar took the foreground")
	}
	end, chat := win.GetDlgItem(h, barEnd), win.GetDlgItem(h, barChat)
	waitFor(t, "both buttons", func() (bool, string) {
		return win.IsWindowVisible(end) && win.IsWindowVisible(chat), "hidden"
	})
	// The End session button is drawn red on the screen.
	var br win.RECT
	win.GetWindowRect(end, &br)
	dc := win.GetDC(0)
	waitFor(t, "the red End session button", func() (bool, string) {
		c := uint32(win.GetPixel(dc, (br.Left+br.Right)/2, br.Top+2))
		return c == uint32(winui.ColorRef(SessionBarEnd)), fmt.Sprintf("COLORREF %#06x", c)
	})
	win.ReleaseDC(0, dc)
	win.PostMessage(end, win.BM_CLICK, 0, 0)
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("End session did not end the session")
	}
	win.PostMessage(chat, win.BM_CLICK, 0, 0)
	select {
	case <-chats:
	case <-time.After(10 * time.Second):
		t.Fatal("Chat did not open the chat")
	}
	cancel()
	<-done
	if winui.IsWindow(h) {
		t.Error("the bar outlived the session")
	}

	// Without the right to end: no End session.
	l.MayEnd = false
	ctx2, cancel2 := context.WithCancel(context.Background())
	done2 := make(chan struct{})
	go func() {
		defer close(done2)
		(WinUI{}).Live(ctx2, l)
	}()
	waitFor(t, "the second bar", func() (bool, string) {
		h = win.FindWindow(windows.StringToUTF16Ptr("TetherSessionBar"), windows.StringToUTF16Ptr(SessionBarTitle))
		return h != 0 && win.IsWindowVisible(h) && win.IsWindowVisible(win.GetDlgItem(h, barChat)), "not shown"
	})
	if win.IsWindowVisible(win.GetDlgItem(h, barEnd)) {
		t.Error("End session is offered without the right to end")
	}
	cancel2()
	<-done2
}
