package desktop

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/lxn/win"
	"golang.org/x/sys/windows"

	"github.com/tetherdesk/tether/agent/internal/winui"
	"github.com/tetherdesk/tether/agent/session"
	"github.com/tetherdesk/tether/shared/protocol"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, got := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %s", what, got)
		}
		time.Sleep(20 * time.Millisecond) // polling the windows, not synchronising
	}
}

// TestWindowsChatWindow: the technician's lines show in the Win32 chat
// window's transcript (read back from the control), a line typed into
// its input and sent with Enter reaches the session, transfer status
// lines come and go, "Send file…" follows AllowFiles, and closing the
// window hides it until the next line.
func TestWindowsChatWindow(t *testing.T) {
	said := make(chan string, 4)
	c, err := newWinChat(session.ChatWindowConfig{Technician: "Alex", Say: func(s string) { said <- s }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	h := win.FindWindow(windows.StringToUTF16Ptr("TetherChat"), windows.StringToUTF16Ptr(ChatWindowTitle))
	if h == 0 {
		t.Fatal("no window titled " + ChatWindowTitle)
	}
	ctl := func(id int32) win.HWND {
		t.Helper()
		c := win.GetDlgItem(h, id)
		if c == 0 {
			t.Fatalf("the chat window has no control %d", id)
		}
		return c
	}
	transcript, input, status, file := ctl(chatTranscript), ctl(chatInput), ctl(chatStatus), ctl(chatFile)
	if win.IsWindowVisible(h) {
		t.Error("the window shows before any line")
	}
	if got := winui.Text(ctl(chatHead)); got != "Chat with Alex" {
		t.Errorf("heading %q", got)
	}

	at := time.Date(2026, 12, 4, 9, 30, 0, 0, time.Local)
	c.Add(protocol.ChatLine{Role: protocol.ChatTechnician, From: "Alex", Time: at, Text: "Hello — can you see my pointer? ✓\n<b>not bold</b> Q&A\x00!"})
	waitFor(t, "the line in the transcript", func() (bool, string) {
		got := winui.Text(transcript)
		return win.IsWindowVisible(h) && strings.Contains(got, "09:30 Alex: Hello — can you see my pointer? ✓\r\n<b>not bold</b> Q&A!\r\n"), got
	})
	// A line comes up without taking the keyboard from what the user is
	// doing.
	if win.GetForegroundWindow() == h {
		t.Error("a technician's line took the foreground")
	}

	// Typed into the input and sent with Enter, through the window's own
	// message loop (the Enter key goes through IsDialogMessage).
	for _, u := range utf16.Encode([]rune("Yes, I see it ✓")) {
		win.PostMessage(input, win.WM_CHAR, uintptr(u), 1)
	}
	win.PostMessage(input, win.WM_KEYDOWN, win.VK_RETURN, 1)
	select {
	case got := <-said:
		if got != "Yes, I see it ✓" {
			t.Errorf("the session got %q", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("Enter sent nothing; the input holds %q", winui.Text(input))
	}
	waitFor(t, "the input to empty", func() (bool, string) { got := winui.Text(input); return got == "", got })
	c.Add(protocol.ChatLine{Role: protocol.ChatUser, From: "end user", Time: at, Text: "Yes, I see it ✓"})
	waitFor(t, "the user's line", func() (bool, string) {
		got := winui.Text(transcript)
		return strings.HasSuffix(got, "09:30 You: Yes, I see it ✓\r\n"), got
	})

	c.Status("a", "Receiving report.pdf: 40 %")
	c.Status("b", "Sending notes.txt: 10 %")
	waitFor(t, "two status lines", func() (bool, string) {
		got := winui.Text(status)
		return got == "Receiving report.pdf: 40 %\r\nSending notes.txt: 10 %", got
	})
	c.Status("a", "")
	waitFor(t, "one status line", func() (bool, string) {
		got := winui.Text(status)
		return got == "Sending notes.txt: 10 %", got
	})

	if win.IsWindowEnabled(file) {
		t.Error(`"Send file…" is enabled before files are allowed`)
	}
	c.AllowFiles(true)
	waitFor(t, `"Send file…" enabled`, func() (bool, string) { return win.IsWindowEnabled(file), "disabled" })

	// Closing hides; the next line brings it back.
	win.PostMessage(h, win.WM_CLOSE, 0, 0)
	waitFor(t, "the window to hide", func() (bool, string) { return !win.IsWindowVisible(h), "visible" })
	if !winui.IsWindow(h) {
		t.Fatal("closing the window destroyed it")
	}
	c.Add(protocol.ChatLine{Role: protocol.ChatTechnician, From: "Alex", Time: at, Text: "Still there?"})
	waitFor(t, "the window back", func() (bool, string) { return win.IsWindowVisible(h), "hidden" })

	// Past the control's default limit the transcript keeps taking lines.
	long := strings.Repeat("0123456789", 390)
	for i := range 20 {
		c.Add(protocol.ChatLine{Role: protocol.ChatTechnician, From: "Alex", Time: at, Text: fmt.Sprintf("%s #%d", long, i)})
	}
	waitFor(t, "the 20th long line", func() (bool, string) {
		got := winui.Text(transcript)
		return strings.HasSuffix(got, " #19\r\n"), fmt.Sprintf("%d characters ending %q", len(got), got[max(0, len(got)-20):])
	})

	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if winui.IsWindow(h) {
		t.Error("the window outlived Close")
	}
	c.Add(protocol.ChatLine{Role: protocol.ChatTechnician, From: "Alex", Text: "after close"}) // must not block or panic
}
