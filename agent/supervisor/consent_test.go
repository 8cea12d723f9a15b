package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tetherdesk/tether/agent/ipc"
	"github.com/tetherdesk/tether/shared/protocol"
)

// TestDecideMove is the consent rule of a desktop change, as a table.
func TestDecideMove(t *testing.T) {
	const aliceSID, bobSID = "S-1-5-21-1-2-3-1001", "S-1-5-21-1-2-3-1002"
	alice := Desktop{Key: "x11:1000::0", UID: 1000, GID: 1000, User: "alice"}
	alice2 := Desktop{Key: "x11:1000::1", UID: 1000, GID: 1000, User: "alice"}
	bob := Desktop{Key: "x11:1001::1", UID: 1001, GID: 1001, User: "bob"}
	greeter := Desktop{Key: "x11:greeter::0", UID: 120, GID: 120, User: "lightdm", Greeter: true}
	rootGreeter := Desktop{Key: "x11:greeter::0", UID: -1, GID: -1, User: "root", Greeter: true}
	winAlice3 := Desktop{Key: "wts:3:" + aliceSID, UID: 3, GID: -1, Owner: aliceSID}
	winAlice5 := Desktop{Key: "wts:5:" + aliceSID, UID: 5, GID: -1, Owner: aliceSID}
	winBob3 := Desktop{Key: "wts:3:" + bobSID, UID: 3, GID: -1, Owner: bobSID}
	winLogon := Desktop{Key: "wts:1:", UID: -1, GID: -1, User: "SYSTEM", Greeter: true}
	by := func(d Desktop) *deskUser { u := userOf(d); return &u }
	tests := []struct {
		name     string
		attended bool
		state    protocol.SessionState
		accepted *deskUser
		to       Desktop
		want     moveKind
	}{
		{"same user, other display: resume", true, protocol.SessionActive, by(alice), alice2, moveResume},
		{"same user, connecting: resume", true, protocol.SessionConnecting, by(alice), alice2, moveResume},
		{"another uid: user_changed", true, protocol.SessionActive, by(alice), bob, moveEnd},
		{"the login screen: user_changed", true, protocol.SessionActive, by(alice), greeter, moveEnd},
		{"a root login screen: user_changed", true, protocol.SessionActive, by(alice), rootGreeter, moveEnd},
		{"accepted at the login screen, then a user: user_changed", true, protocol.SessionActive, by(greeter), alice, moveEnd},
		{"accepted at the login screen, login screen again: user_changed", true, protocol.SessionActive, by(greeter), greeter, moveEnd},
		{"accepted, nobody recorded: user_changed", true, protocol.SessionActive, nil, alice2, moveEnd},
		{"unattended to another user: resume", false, protocol.SessionActive, nil, bob, moveResume},
		{"unattended to the login screen: resume", false, protocol.SessionConnecting, nil, greeter, moveResume},
		{"unattended, not started yet: start", false, protocol.SessionRequested, nil, bob, moveStart},
		{"awaiting acceptance: asks again", true, protocol.SessionAwaitingAcceptance, nil, bob, moveStart},
		{"requested: asks there", true, protocol.SessionRequested, nil, greeter, moveStart},
		{"windows: same SID, other session: resume", true, protocol.SessionActive, by(winAlice3), winAlice5, moveResume},
		{"windows: same session id, another SID: user_changed", true, protocol.SessionActive, by(winAlice3), winBob3, moveEnd},
		{"windows: Winlogon: user_changed", true, protocol.SessionActive, by(winAlice3), winLogon, moveEnd},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := &tracked{start: protocol.ScreenShareStart{SessionID: "s1", Attended: tt.attended}, state: tt.state, acceptedBy: tt.accepted}
			if got := decideMove(ts, tt.to); got != tt.want {
				t.Errorf("decideMove = %s, want %s", got, tt.want)
			}
		})
	}
}

// ended is a Config.EndSession that records the ends.
type ended struct{ calls chan [2]string }

func newEnded() *ended { return &ended{calls: make(chan [2]string, 16)} }

func (e *ended) end(_ context.Context, start protocol.ScreenShareStart, reason protocol.Reason) error {
	e.calls <- [2]string{start.SessionID, string(reason)}
	return nil
}

func (e *ended) wait(t *testing.T) [2]string {
	t.Helper()
	select {
	case c := <-e.calls:
		return c
	case <-time.After(wait):
		t.Fatal("the supervisor never reported the session ended")
		return [2]string{}
	}
}

// TestConsentOnDesktopChange runs the rule with real helper processes: an
// attended session accepted on one desktop resumes on another of the same
// user; on another user's desktop or the login screen it ends
// user_changed (reported by the supervisor, the old helper dropping it),
// and the new desktop's helper never gets it, whether the old desktop is
// still there (a user switch) or gone (a logout). Unattended sessions
// move; a session still awaiting acceptance is asked again.
func TestConsentOnDesktopChange(t *testing.T) {
	alice := Desktop{Key: "alice", UID: 64001, GID: 64001, User: "alice"}
	alice2 := Desktop{Key: "alice-2", UID: 64001, GID: 64001, User: "alice"}
	bob := Desktop{Key: "bob", UID: 64002, GID: 64002, User: "bob"}
	greeter := Desktop{Key: "greeter", UID: -1, GID: -1, User: "root", Greeter: true}
	tests := []struct {
		name     string
		mode     string // fake helper mode
		attended bool
		from, to Desktop
		gone     bool // from vanishes as to becomes active (a logout)
		// want: "resume" (to reports active), "ask" (to reports
		// awaiting_acceptance) or "end" (user_changed, to never hears of it).
		want string
	}{
		{"same user", "serve", true, alice, alice2, false, "resume"},
		{"another user", "serve", true, alice, bob, false, "end"},
		{"the login screen", "serve", true, alice, greeter, false, "end"},
		{"logout to the login screen", "serve", true, alice, greeter, true, "end"},
		{"from the login screen to a user", "serve", true, greeter, alice, true, "end"},
		{"unattended to another user", "serve", false, alice, bob, false, "resume"},
		{"unattended to the login screen", "serve", false, alice, greeter, true, "resume"},
		{"awaiting acceptance asks again", "ask", true, alice, bob, false, "ask"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sw := &switchable{}
			sw.set(tt.from.Key, tt.from, tt.to)
			ends := newEnded()
			f := start(t, tt.mode, nil, func(c *Config) {
				c.Desktops = sw.list
				c.ScanInterval = 10 * time.Millisecond
				c.EndSession = ends.end
			})
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			payload, _ := json.Marshal(protocol.ScreenShareStart{SessionID: "s1", AgentToken: "tok", Attended: tt.attended})
			if out, err := f.sup.Handle(ctx, payload); err != nil || out.(HandOutput).Desktop != tt.from.Key {
				t.Fatalf("Handle = %+v, %v; want it on %s", out, err, tt.from.Key)
			}
			first := protocol.SessionConnecting
			if tt.mode == "ask" && tt.attended {
				first = protocol.SessionAwaitingAcceptance
			}
			f.recs.waitState(t, "s1", tt.from.Key, first)
			// The new desktop's helper is up before the switch, as after
			// a fast user switch.
			f.recs.waitFor(t, "session helper connected", 2)

			if tt.gone {
				sw.set(tt.to.Key, tt.to)
			} else {
				sw.set(tt.to.Key)
			}
			switch tt.want {
			case "resume":
				f.recs.waitState(t, "s1", tt.to.Key, protocol.SessionActive)
			case "ask":
				f.recs.waitState(t, "s1", tt.to.Key, protocol.SessionAwaitingAcceptance)
				// The old desktop's answer, given as the session left it,
				// does not count: the session still waits for the new
				// desktop's user, and nobody's consent is recorded.
				f.recs.waitState(t, "s1", tt.from.Key, ipc.StateDropped)
				f.sup.mu.Lock()
				ts := f.sup.sessions["s1"]
				f.sup.mu.Unlock()
				if ts == nil || ts.desktop != tt.to.Key || ts.state != protocol.SessionAwaitingAcceptance || ts.acceptedBy != nil {
					t.Errorf("after a late answer on the old desktop: %+v", ts)
				}
			case "end":
				if got := ends.wait(t); got != [2]string{"s1", string(protocol.EndedUserChanged)} {
					t.Errorf("ended %v, want s1 %s", got, protocol.EndedUserChanged)
				}
				if !tt.gone {
					f.recs.waitState(t, "s1", tt.from.Key, ipc.StateDropped)
				}
				f.recs.waitFor(t, "the active desktop belongs to another user (or is the login screen): consent does not carry over; ending the attended session", 1)
				f.sup.mu.Lock()
				_, still := f.sup.sessions["s1"]
				f.sup.mu.Unlock()
				if still {
					t.Error("the supervisor still tracks the ended session")
				}
			}
			// Let any stray hand-over show before the supervisor stops.
			f.sup.reconcile(ctx)
			f.stop()
			if tt.want == "end" {
				if n := f.recs.count("session moved to the active desktop"); n != 0 {
					t.Errorf("the session was moved %d times", n)
				}
				for _, st := range []protocol.SessionState{protocol.SessionConnecting, protocol.SessionActive, protocol.SessionAwaitingAcceptance} {
					if f.recs.stateSeen("s1", tt.to.Key, st) {
						t.Errorf("the new desktop's helper reported %s for the session", st)
					}
				}
			}
			if tt.want != "end" {
				select {
				case c := <-ends.calls:
					t.Errorf("the supervisor ended %v", c)
				default:
				}
			}
		})
	}
}

// TestReportEnded: the supervisor's own end report is what a helper
// would say, on the session's agent signalling with its token; the
// server's "end" confirms it, its error refuses it for good.
func TestReportEnded(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer protocol.Signal
		want   error // nil, or errEndRefused
	}{
		{"ended", protocol.Signal{Type: protocol.SignalEnd, Reason: protocol.EndedUserChanged}, nil},
		{"refused", protocol.Signal{Type: protocol.SignalError, Message: "the session has ended"}, errEndRefused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan protocol.Signal, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/api/agent/v1/sessions/s1/signal" || r.Header.Get("Authorization") != "Bearer tok" {
					http.Error(w, "no", http.StatusUnauthorized)
					return
				}
				c, err := websocket.Accept(w, r, nil)
				if err != nil {
					return
				}
				defer c.CloseNow()
				hello, _ := json.Marshal(protocol.Signal{Type: protocol.SignalHello})
				c.Write(r.Context(), websocket.MessageText, hello)
				_, b, err := c.Read(r.Context())
				if err != nil {
					return
				}
				var s protocol.Signal
				json.Unmarshal(b, &s)
				got <- s
				a, _ := json.Marshal(tc.answer)
				c.Write(r.Context(), websocket.MessageText, a)
				c.Read(r.Context()) // until the agent closes
			}))
			defer srv.Close()
			cfg := Config{Server: srv.URL}
			err := cfg.reportEnded(context.Background(), protocol.ScreenShareStart{SessionID: "s1", AgentToken: "tok", SignalPath: protocol.PathAgentSignal}, protocol.EndedUserChanged)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("reportEnded = %v, want %v", err, tc.want)
			}
			s := <-got
			if s.Type != protocol.SignalState || s.State != protocol.SessionEnded || s.Reason != protocol.EndedUserChanged {
				t.Errorf("the server got %+v", s)
			}
		})
	}
	// A wrong token is refused at once, not tried again; a session that
	// is over already needs no end.
	for status, want := range map[int]error{http.StatusUnauthorized: errEndRefused, http.StatusConflict: errAlreadyEnded} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			json.NewEncoder(w).Encode(protocol.Error{Error: "no", Code: map[int]string{http.StatusConflict: protocol.CodeSessionEnded}[status]})
		}))
		cfg := Config{Server: srv.URL}
		if err := cfg.reportEnded(context.Background(), protocol.ScreenShareStart{SessionID: "s1", AgentToken: "tok"}, protocol.EndedUserChanged); !errors.Is(err, want) {
			t.Errorf("reportEnded answered %d = %v, want %v", status, err, want)
		}
		srv.Close()
	}
}
