package desktop

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tetherdesk/tether/agent/ipc"
	"github.com/tetherdesk/tether/shared/protocol"
)

// TestNotificationWindowLiteral: hostile text (Tcl substitutions, Tk and
// Pango markup, HTML) shows as the characters it is, and nothing in it
// runs.
func TestNotificationWindowLiteral(t *testing.T) {
	xsrv.Setenv(t)
	pwned := filepath.Join(t.TempDir(), "pwned")
	title := `[exec touch ` + pwned + `] $env(HOME) <b>bold</b>`
	msg := "<span foreground=\"red\">red</span> {*}[exec touch " + pwned + "]\n\\x41 &amp; see https://it.example/help."
	n := ipc.Notification{ID: "n1", Version: 1, Title: title, Message: msg, Severity: protocol.SeverityWarning,
		Buttons:  []protocol.NotificationButton{{Label: "[exec touch " + pwned + "]", Value: "ok"}},
		Postpone: []int64{900, 3600}, PostponesLeft: 2}
	w, err := NewNotificationWindow(n, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	tw := w.(*tkNotice)
	select {
	case r := <-w.Results():
		if r.Kind != protocol.NotifyEventShown || r.ID != "n1" {
			t.Fatalf("first result %+v", r)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the window never said it was shown")
	}
	shown := dumpNotice(t, tw)
	if shown[0] != title {
		t.Errorf("title shows %q, want %q", shown[0], title)
	}
	if shown[1] != msg {
		t.Errorf("message shows %q, want %q", shown[1], msg)
	}
	if shown[2] != NotificationWindowTitle+" \u2014 "+title {
		t.Errorf("window title %q", shown[2])
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Fatal("text in the notification ran a command")
	}
	if len(tw.links) != 1 || tw.links[0] != "https://it.example/help" {
		t.Errorf("links %q", tw.links)
	}
}

// dumpNotice asks the window what it shows: title, message, window
// title, logo image, accent colour, size.
func dumpNotice(t *testing.T, tw *tkNotice) []string {
	t.Helper()
	tw.p.sendRaw("dump")
	var got string
	select {
	case got = <-tw.dumps:
	case <-time.After(10 * time.Second):
		t.Fatal("no dump")
	}
	parts := strings.Fields(got)
	if len(parts) != 6 {
		t.Fatalf("dump %q", got)
	}
	var shown []string
	for _, p := range parts {
		s, ok := tkDecode(p)
		if !ok {
			t.Fatalf("dump part %q", p)
		}
		shown = append(shown, s)
	}
	return shown
}

// TestNotificationWindowBrandedAndScaled: a group's logo and accent show;
// at 200 % (GDK_SCALE=2) the window is about twice as large.
func TestNotificationWindowBrandedAndScaled(t *testing.T) {
	xsrv.Setenv(t)
	img := image.NewRGBA(image.Rect(0, 0, 32, 32))
	for i := range img.Pix {
		img.Pix[i] = 0x80
	}
	var logo bytes.Buffer
	if err := png.Encode(&logo, img); err != nil {
		t.Fatal(err)
	}
	n := ipc.Notification{ID: "n1", Version: 1, Title: "VPN changes on Monday", Message: "OK?",
		Buttons:  []protocol.NotificationButton{{Label: "OK", Value: "ok"}},
		Branding: &protocol.NotificationBranding{Name: "Finance IT", Accent: "#0b5cad", Logo: logo.Bytes()}}
	size := func(scale string) (int, int, []string) {
		t.Helper()
		t.Setenv("GDK_SCALE", scale)
		w, err := NewNotificationWindow(n, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		<-w.Results() // shown
		d := dumpNotice(t, w.(*tkNotice))
		var x, y int
		if _, err := fmt.Sscanf(d[5], "%dx%d", &x, &y); err != nil {
			t.Fatalf("size %q", d[5])
		}
		return x, y, d
	}
	w1, h1, d := size("1")
	if d[3] == "" || d[4] != "#0b5cad" {
		t.Errorf("logo %q, accent %q", d[3], d[4])
	}
	w2, h2, _ := size("2")
	if w2 < w1*17/10 || h2 < h1*17/10 {
		t.Errorf("at 200 %%: %dx%d, at 100 %%: %dx%d", w2, h2, w1, h1)
	}
}

func TestNotificationSegments(t *testing.T) {
	got := segments("See https://a.example/x?y=1, then http://b.example. Done")
	var links []string
	for _, s := range got {
		if s.link {
			links = append(links, s.text)
		}
	}
	if strings.Join(links, " ") != "https://a.example/x?y=1 http://b.example" {
		t.Errorf("links %q", links)
	}
	for _, tc := range []struct {
		s    int64
		want string
	}{{60, "1 minute"}, {900, "15 minutes"}, {3600, "1 hour"}, {86400, "1 day"}, {45, "45 seconds"}} {
		if got := intervalText(tc.s); got != tc.want {
			t.Errorf("intervalText(%d) = %q, want %q", tc.s, got, tc.want)
		}
	}
}
