package session

import (
	"bytes"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/tetherdesk/tether/agent/vp8"
	"github.com/tetherdesk/tether/shared/policy"
	"github.com/tetherdesk/tether/shared/protocol"
	"github.com/tetherdesk/tether/shared/screen"
)

// TestRecordedSession: a session the policy records says so on the prompt
// and the bar, records the screen and the timeline, uploads both with the
// session's token when it ends, and keeps nothing afterwards.
func TestRecordedSession(t *testing.T) {
	if err := vp8.Available(); err != nil {
		t.Skipf("no libvpx: %v", err)
	}
	h := newHarness(t, protocol.ScreenShareStart{Attended: true, Mode: protocol.ModeActive, Record: true}, policy.Default())
	h.cfg.RecordDir = t.TempDir()
	h.src.colour.Store(0x336699)
	a := h.run()
	a.expectState(protocol.SessionAwaitingAcceptance, "")
	if req := <-h.ui.asked; !req.Recorded {
		t.Error("the prompt was not told the session is recorded")
	}
	h.ui.answers <- Answer{Accepted: true, Mode: protocol.ModeActive}
	a.expectState(protocol.SessionConnecting, "")
	<-h.ui.live
	if !h.ui.recorded.Load() {
		t.Error("the session bar was not told the session is recorded")
	}
	a.send(protocol.Signal{Type: protocol.SignalSession, Session: &protocol.Session{ID: "s1", Mode: protocol.ModeActive,
		State: protocol.SessionConnecting, Viewers: []protocol.Viewer{{ID: "v1", User: "tess"}}}})
	v := joinViewer(t, a, protocol.Signal{})
	h.src.colour.Store(0xff0000)
	for {
		if m := v.screenMsg(); m.Kind == screen.KindTile && string(m.Tile.Payload) == "\xff\x00\x00" {
			break
		}
	}
	v.say("hello from tech")
	v.chatMsg()
	a.send(protocol.Signal{Type: protocol.SignalControl, Holder: "v1"})
	v.waitHolder("v1")
	h.cancel(EndError{Reason: protocol.EndedByTechnician})
	h.ended(wait)

	var u upload
	select {
	case u = <-h.srv.recordings:
	case <-time.After(wait):
		t.Fatal("no recording was uploaded")
	}
	if u.auth != "Bearer sess-token" {
		t.Errorf("uploaded with %q", u.auth)
	}
	if !bytes.HasPrefix(u.video, []byte{0x1a, 0x45, 0xdf, 0xa3}) {
		t.Errorf("the video is not WebM: % x", u.video[:min(8, len(u.video))])
	}
	tl := u.timeline
	if tl.Width != 128 || tl.Height != 96 || tl.DurationMS <= 0 {
		t.Errorf("timeline %dx%d of %d ms", tl.Width, tl.Height, tl.DurationMS)
	}
	want := []protocol.RecordingEvent{
		{Kind: protocol.RecEventMode, Text: "active"},
		{Kind: protocol.RecEventViewer, Actor: "tess", Text: "joined"},
		{Kind: protocol.RecEventChat, Actor: "tess", Text: "hello from tech"},
		{Kind: protocol.RecEventControl, Actor: "tess", Text: "has control"},
	}
	var got []protocol.RecordingEvent
	last := int64(0)
	for _, e := range tl.Events {
		if e.AtMS < last || e.AtMS > tl.DurationMS {
			t.Errorf("event %+v out of order or past the end (%d ms)", e, tl.DurationMS)
		}
		last = e.AtMS
		e.AtMS = 0
		got = append(got, e)
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("the timeline lacks %+v: %+v", w, got)
		}
	}
	if left, _ := os.ReadDir(h.cfg.RecordDir); len(left) != 0 {
		t.Errorf("left on the endpoint after the upload: %v", left)
	}
}
