package desktop

import (
	"strings"
	"testing"
	"time"

	"github.com/lxn/win"
	"golang.org/x/sys/windows"

	"github.com/tetherdesk/tether/agent/internal/winui"
	"github.com/tetherdesk/tether/agent/ipc"
	"github.com/tetherdesk/tether/shared/protocol"
)

// TestWindowsNotification: the Win32 notification window shows the title
// and message as typed (markup and ampersands literal), is keyboard
// operable (its first button is the default), postpones by the chosen
// interval, and a press reports the button's value.
func TestWindowsNotification(t *testing.T) {
	title := `<b>Restart</b> & [update]`
	n := ipc.Notification{ID: "n1", Version: 2, Title: title, Message: "Line <i>one</i>\nQ&A $HOME %PATH%",
		Severity: protocol.SeverityCritical, Buttons: []protocol.NotificationButton{{Label: "Restart &now", Value: "now"}, {Label: "Later", Value: "later"}},
		Postpone: []int64{600, 3600}, PostponesLeft: 1}
	w, err := NewNotificationWindow(n, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	next := func() ipc.NotifyResult {
		t.Helper()
		select {
		case r := <-w.Results():
			return r
		case <-time.After(10 * time.Second):
			t.Fatal("no result")
		}
		return ipc.NotifyResult{}
	}
	if r := next(); r.Kind != protocol.NotifyEventShown || r.ID != "n1" || r.Version != 2 {
		t.Fatalf("first result %+v", r)
	}
	h := win.FindWindow(windows.StringToUTF16Ptr("TetherNotification"), windows.StringToUTF16Ptr(NotificationWindowTitle+" \u2014 "+title))
	if h == 0 {
		t.Fatal("no notification window")
	}
	ctl := func(id int32) win.HWND {
		t.Helper()
		c := win.GetDlgItem(h, id)
		if c == 0 {
			t.Fatalf("no control %d", id)
		}
		return c
	}
	if got := winui.Text(ctl(noticeTitle)); got != title {
		t.Errorf("title shows %q", got)
	}
	if got := winui.Text(ctl(noticeMessage)); got != "Line <i>one</i>\r\nQ&A $HOME %PATH%" {
		t.Errorf("message shows %q", got)
	}
	if got := winui.Text(ctl(noticeButton0)); got != "Restart &&now" {
		t.Errorf("button label %q (an & is shown, not an accelerator)", got)
	}
	if !win.IsWindowVisible(h) {
		t.Error("not visible")
	}
	// The default button is the first one: Enter presses it.
	if id := win.SendMessage(h, winui.DMGetDefID, 0, 0) & 0xffff; id != noticeButton0 {
		t.Errorf("default button %d", id)
	}
	// Choose the second interval and postpone, as a user would.
	win.SendMessage(ctl(noticeInterval), win.CB_SETCURSEL, 1, 0)
	win.PostMessage(ctl(noticePostpone), win.BM_CLICK, 0, 0)
	if r := next(); r.Kind != protocol.NotifyEventPostponed || r.IntervalS != 3600 {
		t.Fatalf("postpone %+v", r)
	}
	<-w.Done()

	// Shown again: the second button's press says its value.
	w2, err := NewNotificationWindow(n, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	<-w2.Results()
	h = win.FindWindow(windows.StringToUTF16Ptr("TetherNotification"), nil)
	win.PostMessage(win.GetDlgItem(h, noticeButton0+1), win.BM_CLICK, 0, 0)
	select {
	case r := <-w2.Results():
		if r.Kind != protocol.NotifyEventPressed || r.Value != "later" {
			t.Fatalf("press %+v", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no press")
	}
	if strings.Contains(winui.Text(h), "\x00") {
		t.Error("NUL in the title")
	}
}
