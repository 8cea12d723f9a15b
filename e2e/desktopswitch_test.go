//go:build linux

package e2e

// The endpoint's active desktop changes during a live session (a user logs
// in at the login screen, or switches): the agent moves the session to the
// new desktop's helper and the viewer reconnects by itself, in the same
// page. Two Xvfb displays stand for the two desktops; the agent takes its
// desktops from a file (TETHER_DESKTOPS_FILE, a development aid) that the
// test rewrites to switch the active one.

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/tetherdesk/tether/internal/testenv"
	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
)

// switchTimeout bounds a desktop switch: file rewritten → the new desktop's
// picture on the canvas (the helper of the new desktop runs already).
const switchTimeout = 20 * time.Second

// writeDesktops writes the agent's desktops file atomically.
func writeDesktops(t testing.TB, path, active string, displays map[string]string) {
	t.Helper()
	type desk struct {
		Key     string `json:"key"`
		Display string `json:"display"`
		Greeter bool   `json:"greeter,omitempty"`
		UID     *int   `json:"uid,omitempty"`
		GID     *int   `json:"gid,omitempty"`
	}
	doc := struct {
		Active   string `json:"active"`
		Desktops []desk `json:"desktops"`
	}{Active: active}
	// The login screen's helper runs as the agent; the user's desktop is
	// the desktop user's (as startAgentEnv gives it where tests run as root).
	doc.Desktops = append(doc.Desktops, desk{Key: "greeter", Display: displays["greeter"], Greeter: true})
	user := desk{Key: "user", Display: displays["user"]}
	if asDesktopUser() {
		uid, gid := desktopUser()
		user.UID, user.GID = &uid, &gid
	}
	doc.Desktops = append(doc.Desktops, user)
	b, _ := json.Marshal(doc)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

type switchStats struct {
	State      string `json:"state"`
	Frames     int    `json:"frames"`
	Sizes      int    `json:"sizes"`
	Offers     int    `json:"offers"`
	Reconnects int    `json:"reconnects"`
	Holder     string `json:"holder"`
	ViewerID   string `json:"viewerId"`
	Reason     string `json:"reason"`
	// EndpointNotice is what the endpoint withholds and why (the login
	// screen's helper: no chat, no files).
	EndpointNotice string   `json:"endpointNotice"`
	Features       []string `json:"features"`
}

func TestDesktopSwitch(t *testing.T) {
	s := startServer(t)
	requireSessionsAPI(t, s)
	displays := map[string]string{"greeter": startXvfb(t), "user": startXvfb(t)}
	wA, wB := startWish(t, displays["greeter"]), startWish(t, displays["user"])
	// Colour A on the login screen, colour B on the user's desktop, at q1.
	colourA, colourB := [3]int{0xe0, 0x20, 0x20}, [3]int{0x20, 0xa0, 0xf0}
	wB.eval(".c itemconfigure q1 -fill #20a0f0")
	at := clientShapes[0]

	file := filepath.Join(t.TempDir(), "desktops.json")
	writeDesktops(t, file, "greeter", displays)
	startAgentEnv(t, s, s.enrollmentToken(), t.TempDir(), "TETHER_DESKTOPS_FILE="+file)
	ep := waitEndpoint(t, s.api, hostname(t))
	doc := map[string]any{"screenshare": map[string]any{"unattended_allowed": true}}
	if err := s.api.do(http.MethodPut, "/api/v1/policies/global", "", doc, nil); err != nil {
		t.Fatalf("PUT /api/v1/policies/global: %v", err)
	}
	if err := s.api.do(http.MethodPost, "/api/v1/users", "", protocol.CreateUserRequest{Name: tech1, Password: tech1Password,
		Roles: []string{perm.RoleAdministrator, perm.RoleScreenShareUnattended}}, nil); err != nil {
		t.Fatalf("create user: %v", err)
	}
	tech := s.userClient(tech1, tech1Password)
	br := startBrowser(t)
	tb := br.firstTab().on(t)
	tb.signIn(s.url, tech1, tech1Password)

	var sess protocol.Session
	if err := tech.do(http.MethodPost, "/api/v1/sessions", "", protocol.CreateSessionRequest{EndpointID: ep.ID}, &sess); err != nil {
		t.Fatalf("POST /api/v1/sessions: %v", err)
	}
	tb.openViewer(s.url, sess.ID)
	st := tb.waitLive(liveTimeout)
	tb.waitPixel(paintTimeout, "colour A of the login screen", at.x, at.y, colourA)
	control(t, tech, sess.ID, protocol.ControlRequestOp, st.ViewerID)
	waitHolder(t, st.ViewerID, tb)

	stats := func() (switchStats, error) {
		return evalJS[switchStats](tb, `JSON.parse(JSON.stringify(window.tetherStats))`)
	}
	before, err := stats()
	if err != nil {
		t.Fatal(err)
	}
	// On the login screen nothing may open a dialog: the viewer is told.
	testenv.Eventually(t, switchTimeout, "the login screen's notice in the viewer", func() (bool, error) {
		cur, err := stats()
		return err == nil && cur.EndpointNotice != "", err
	})
	if cur, _ := stats(); slices.Contains(cur.Features, protocol.FeatureChat) || slices.Contains(cur.Features, protocol.FeatureFile) {
		t.Errorf("the login screen offers %v", cur.Features)
	}

	// The user's desktop becomes the active one.
	switched := time.Now()
	writeDesktops(t, file, "user", displays)
	testenv.Eventually(t, switchTimeout, "the viewer to hear of the desktop change and take a new offer", func() (bool, error) {
		cur, err := stats()
		if cur.State == "ended" {
			t.Fatalf("the session ended on the switch: %+v", cur)
		}
		return err == nil && cur.Reconnects > before.Reconnects && cur.Offers > before.Offers, err
	})
	tb.waitPixel(switchTimeout, "colour B of the user's desktop", at.x, at.y, colourB)
	testenv.Eventually(t, switchTimeout, "the user's desktop to offer chat again, without the login screen's notice", func() (bool, error) {
		cur, err := stats()
		return err == nil && cur.EndpointNotice == "" && slices.Contains(cur.Features, protocol.FeatureChat), err
	})
	after := tb.waitStats(switchTimeout, "the viewer to be live again", func(v viewerStats) bool { return v.State == "live" })
	t.Logf("colour B on the canvas %s after the switch", time.Since(switched).Round(10*time.Millisecond))
	if after.ViewerID != st.ViewerID || after.Holder != st.ViewerID {
		t.Errorf("after the switch: viewer %q holder %q, want both %q", after.ViewerID, after.Holder, st.ViewerID)
	}
	got, err := sessionState(tech, sess.ID)
	if err != nil || got.State != protocol.SessionActive || got.ControlHolder != st.ViewerID {
		t.Fatalf("session after the switch: %+v, %v", got, err)
	}

	// Input from the holder lands on the new desktop, not the old one.
	r := tb.canvasRect()
	tb.mouse(r, chromedp.MouseMoved, 300, 200, input.MouseButtonNone, 0)
	tb.mouse(r, chromedp.MousePressed, 300, 200, input.MouseButtonLeft, 1)
	tb.mouse(r, chromedp.MouseReleased, 300, 200, input.MouseButtonLeft, 0)
	testenv.Eventually(t, inputTimeout, "the click to reach the user's desktop", func() (bool, error) {
		return countPress(wB, 1) >= 1, nil
	})
	if n := countPress(wA, 1); n != 0 {
		t.Errorf("the login screen received %d clicks after the switch", n)
	}

	// And back to the login screen.
	writeDesktops(t, file, "greeter", displays)
	tb.waitPixel(switchTimeout, "colour A again", at.x, at.y, colourA)
	if cur, err := stats(); err != nil || cur.Reconnects < before.Reconnects+2 {
		t.Errorf("viewer stats after switching back: %+v, %v", cur, err)
	}
}

func sessionState(c *apiClient, id string) (protocol.Session, error) {
	var s protocol.Session
	err := c.do(http.MethodGet, "/api/v1/sessions/"+id, "", nil, &s)
	return s, err
}
