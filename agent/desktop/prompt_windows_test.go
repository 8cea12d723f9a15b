package desktop

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lxn/win"
	"golang.org/x/sys/windows"

	"github.com/tetherdesk/tether/agent/internal/winui"
	"github.com/tetherdesk/tether/agent/session"
	"github.com/tetherdesk/tether/shared/protocol"
)

// findDialog waits for the dialog titled title and returns it.
func findDialog(t *testing.T, title string) win.HWND {
	t.Helper()
	var h win.HWND
	waitFor(t, "the dialog "+title, func() (bool, string) {
		h = win.FindWindow(windows.StringToUTF16Ptr(winui.DialogClass), windows.StringToUTF16Ptr(title))
		return h != 0 && win.IsWindowVisible(h), "not shown"
	})
	return h
}

// click presses a dialog's button as a mouse click would.
func click(t *testing.T, dlg win.HWND, id int32) {
	t.Helper()
	b := win.GetDlgItem(dlg, id)
	if b == 0 {
		t.Fatalf("the dialog has no control %d", id)
	}
	win.PostMessage(b, win.BM_CLICK, 0, 0)
}

// TestWindowsPrompt: the attended prompt is a Win32 dialog naming the
// technician, offering the asked mode and the alternatives as a choice,
// and counting down; the choice, Decline and the request's end each give
// the right answer, and the dialog goes away.
func TestWindowsPrompt(t *testing.T) {
	u := WinUI{}
	req := session.AskRequest{Technician: "Q&A Alex", Mode: protocol.ModeActive,
		Alternatives: []protocol.Mode{protocol.ModeMonitor}, TimeoutS: 60}
	type result struct {
		a   session.Answer
		err error
	}
	ask := func(ctx context.Context) chan result {
		ch := make(chan result, 1)
		go func() { a, err := u.Ask(ctx, req); ch <- result{a, err} }()
		return ch
	}
	wait := func(ch chan result) result {
		t.Helper()
		select {
		case r := <-ch:
			return r
		case <-time.After(10 * time.Second):
			t.Fatal("the prompt did not answer")
		}
		return result{}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	got := ask(ctx)
	dlg := findDialog(t, DialogTitle)
	if text := winui.Text(win.GetDlgItem(dlg, winui.DialogText)); !strings.Contains(text, "Q&A Alex asks to "+session.ModeText(protocol.ModeActive)) {
		t.Errorf("the prompt says %q", text)
	}
	if style := uint32(win.GetWindowLong(win.GetDlgItem(dlg, winui.DialogText), win.GWL_STYLE)); style&winui.SSNoPrefix == 0 {
		t.Error("the prompt's text takes & for a shortcut (no SS_NOPREFIX)")
	}
	// A key the user was typing elsewhere grants nothing: Accept starts
	// disabled, and Enter means Decline.
	if ok := win.GetDlgItem(dlg, winui.DialogOK); win.IsWindowEnabled(ok) {
		t.Error("Accept is enabled the moment the prompt appears")
	}
	if f := win.GetFocus(); f != 0 && f == win.GetDlgItem(dlg, winui.DialogOK) {
		t.Error("the focus is on Accept")
	}
	for i, m := range []protocol.Mode{protocol.ModeActive, protocol.ModeMonitor} {
		if text := winui.Text(win.GetDlgItem(dlg, winui.DialogChoice0+int32(i))); text != session.ModeText(m) {
			t.Errorf("choice %d is %q, want %q", i, text, session.ModeText(m))
		}
	}
	countdown := win.GetDlgItem(dlg, winui.DialogCountdown)
	secs := func() int {
		var n int
		fmt.Sscanf(winui.Text(countdown), "This request expires in %d second", &n)
		return n
	}
	first := secs()
	if first < 55 || first > 60 {
		t.Errorf("countdown %q, want about 60 seconds", winui.Text(countdown))
	}
	waitFor(t, "the countdown to go down", func() (bool, string) {
		n := secs()
		return n < first && n >= first-5, winui.Text(countdown)
	})
	// The choice by keyboard: Down from the first radio button.
	win.PostMessage(win.GetDlgItem(dlg, winui.DialogChoice0), win.WM_KEYDOWN, win.VK_DOWN, 1)
	waitFor(t, "the second choice to be checked", func() (bool, string) {
		return win.SendMessage(win.GetDlgItem(dlg, winui.DialogChoice0+1), win.BM_GETCHECK, 0, 0) == win.BST_CHECKED, "unchecked"
	})
	waitFor(t, "Accept to be enabled", func() (bool, string) {
		return win.IsWindowEnabled(win.GetDlgItem(dlg, winui.DialogOK)), "disabled"
	})
	click(t, dlg, winui.DialogOK)
	if r := wait(got); r.err != nil || !r.a.Accepted || r.a.Mode != protocol.ModeMonitor {
		t.Errorf("accepting view only gave %+v, %v", r.a, r.err)
	}
	waitFor(t, "the prompt to close", func() (bool, string) { return !winui.IsWindow(dlg), "still there" })

	got = ask(ctx)
	click(t, findDialog(t, DialogTitle), winui.DialogCancel)
	if r := wait(got); r.err != nil || r.a.Accepted {
		t.Errorf("Decline gave %+v, %v", r.a, r.err)
	}

	// Enter, as if typed into the prompt by mistake, declines.
	got = ask(ctx)
	dlg = findDialog(t, DialogTitle)
	waitFor(t, "Accept to be enabled", func() (bool, string) {
		return win.IsWindowEnabled(win.GetDlgItem(dlg, winui.DialogOK)), "disabled"
	})
	win.PostMessage(win.GetDlgItem(dlg, winui.DialogCancel), win.WM_KEYDOWN, win.VK_RETURN, 1)
	if r := wait(got); r.err != nil || r.a.Accepted {
		t.Errorf("Enter gave %+v, %v", r.a, r.err)
	}

	short, cancelShort := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancelShort()
	got = ask(short)
	dlg = findDialog(t, DialogTitle)
	if r := wait(got); !errors.Is(r.err, context.DeadlineExceeded) || r.a.Accepted {
		t.Errorf("an unanswered prompt gave %+v, %v", r.a, r.err)
	}
	waitFor(t, "the expired prompt to close", func() (bool, string) { return !winui.IsWindow(dlg), "still there" })

	// The mode question: Allow.
	asked := make(chan bool, 1)
	go func() {
		yes, _ := u.AskMode(ctx, session.ModeRequest{Technician: "Alex", From: protocol.ModeMonitor, To: protocol.ModeActive, TimeoutS: 30})
		asked <- yes
	}()
	q := findDialog(t, ModeDialogTitle)
	waitFor(t, "Allow to be enabled", func() (bool, string) {
		return win.IsWindowEnabled(win.GetDlgItem(q, winui.DialogOK)), "disabled"
	})
	click(t, q, winui.DialogOK)
	select {
	case yes := <-asked:
		if !yes {
			t.Error("Allow answered no")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the mode question did not answer")
	}
}
