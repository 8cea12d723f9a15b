//go:build linux && cgo

package input

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tetherdesk/tether/agent/internal/xtest"
	"github.com/tetherdesk/tether/shared/protocol"
)

var xsrv *xtest.Server

func TestMain(m *testing.M) {
	os.Exit(xtest.Main(m, xtest.Options{Width: 1280, Height: 720, Depth: 24}, &xsrv))
}

// recorder is a full-screen Tk window printing what it receives:
//
//	press B X Y STATE / release B X Y / motion X Y STATE / wheel D
//	key CODEPOINT KEYSYM STATE / keyup KEYSYM
const recorder = `
fconfigure stdout -encoding utf-8 -buffering line
wm overrideredirect . 1
wm geometry . 1280x720+0+0
. configure -background #808080
proc key {a k s} {
	if {$a eq ""} { set c 0 } else { scan $a %c c }
	puts "key $c $k $s"
}
bind . <ButtonPress> {puts "press %b %x %y %s"}
bind . <ButtonRelease> {puts "release %b %x %y"}
bind . <Motion> {puts "motion %x %y %s"}
bind . <MouseWheel> {puts "wheel %D"}
bind . <KeyPress> {key %A %K %s}
bind . <KeyRelease> {puts "keyup %K"}
tkwait visibility .
focus -force .
update
puts ready
`

const wait = 15 * time.Second

var fullHD = protocol.Monitor{W: 1280, H: 720, Primary: true}

type rig struct {
	t   *testing.T
	in  Injector
	rec *xtest.Client
}

func newRig(t *testing.T) *rig {
	t.Helper()
	xsrv.Setenv(t)
	rec := xsrv.Wish(t, recorder)
	rec.WaitPrefix(t, wait, "ready")
	in, err := New()
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { in.Close() })
	return &rig{t: t, in: in, rec: rec}
}

func (r *rig) apply(mon protocol.Monitor, evs ...protocol.InputEvent) {
	r.t.Helper()
	for _, ev := range evs {
		if err := r.in.Apply(ev, mon); err != nil {
			r.t.Fatalf("Apply(%+v): %v", ev, err)
		}
	}
}

func (r *rig) want(line string) {
	r.t.Helper()
	r.rec.WaitLine(r.t, wait, func(l string) bool { return l == line })
}

// typed collects the characters of the next n key lines with a character.
func (r *rig) typed(n int) string {
	r.t.Helper()
	var b strings.Builder
	for i := 0; i < n; i++ {
		l := r.rec.WaitLine(r.t, wait, func(l string) bool { return strings.HasPrefix(l, "key ") && !strings.HasPrefix(l, "key 0 ") })
		f := strings.Fields(l)
		c, err := strconv.Atoi(f[1])
		if err != nil {
			r.t.Fatalf("line %q: %v", l, err)
		}
		b.WriteRune(rune(c))
	}
	return b.String()
}

func TestClick(t *testing.T) {
	r := newRig(t)
	for _, tc := range []struct {
		name   string
		mon    protocol.Monitor
		x, y   int
		button int
		want   string // X button and window coordinates
	}{
		{"left", fullHD, 100, 200, ButtonLeft, "1 100 200"},
		{"right", fullHD, 640, 360, ButtonRight, "3 640 360"},
		{"middle", fullHD, 1279, 719, ButtonMiddle, "2 1279 719"},
		{"monitor offset", protocol.Monitor{X: 200, Y: 100, W: 800, H: 600}, 10, 20, ButtonLeft, "1 210 120"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r.t = t
			r.apply(tc.mon,
				protocol.InputEvent{T: EvMove, X: tc.x, Y: tc.y},
				protocol.InputEvent{T: EvDown, X: tc.x, Y: tc.y, Button: tc.button},
				protocol.InputEvent{T: EvUp, X: tc.x, Y: tc.y, Button: tc.button})
			r.rec.WaitPrefix(t, wait, "press "+tc.want)
			r.want("release " + tc.want)
		})
	}
}

func TestDrag(t *testing.T) {
	r := newRig(t)
	r.apply(fullHD,
		protocol.InputEvent{T: EvMove, X: 50, Y: 60},
		protocol.InputEvent{T: EvDown, X: 50, Y: 60},
		protocol.InputEvent{T: EvMove, X: 120, Y: 90},
		protocol.InputEvent{T: EvMove, X: 300, Y: 250},
		protocol.InputEvent{T: EvUp, X: 300, Y: 250})
	r.rec.WaitPrefix(t, wait, "press 1 50 60 ")
	// Tk compresses motion events, so intermediate positions may not
	// show; the last one does, with Button1Mask (256) held.
	r.want("motion 300 250 256")
	r.want("release 1 300 250")
}

func TestWheel(t *testing.T) {
	r := newRig(t)
	r.apply(fullHD, protocol.InputEvent{T: EvMove, X: 400, Y: 300})
	for _, tc := range []struct {
		name   string
		dx, dy int
		button string // X11 wheel buttons 4 up, 5 down; Tk 8.6 reports 6 left and 7 right as Shift+4 and Shift+5
		n      int
	}{
		{"down", 0, 2, "5 400 300 0", 2},
		{"up", 0, -1, "4 400 300 0", 1},
		{"right", 1, 0, "5 400 300 1", 1},
		{"left", -3, 0, "4 400 300 1", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r.t = t
			r.apply(fullHD, protocol.InputEvent{T: EvWheel, X: 400, Y: 300, DX: tc.dx, DY: tc.dy})
			for i := 0; i < tc.n; i++ {
				r.want("press " + tc.button)
			}
		})
	}
}

func TestKeys(t *testing.T) {
	r := newRig(t)
	key := func(code string, down bool) protocol.InputEvent {
		return protocol.InputEvent{T: EvKey, Key: code, Down: down}
	}
	// Shift+a is "A"; the modifier shows in the state (1 = ShiftMask).
	r.apply(fullHD, key("ShiftLeft", true), key("KeyA", true), key("KeyA", false), key("ShiftLeft", false))
	r.want("key 65 A 1")
	r.want("keyup Shift_L")
	for _, tc := range []struct{ code, keysym string }{
		// Numpad3 is KP_Next or KP_3 depending on NumLock.
		{"KeyZ", "z"}, {"Digit7", "7"}, {"Enter", "Return"}, {"Escape", "Escape"},
		{"ArrowLeft", "Left"}, {"F5", "F5"}, {"PageDown", "Next"}, {"Minus", "minus"},
		{"BracketLeft", "bracketleft"}, {"Backquote", "grave"}, {"Quote", "apostrophe"},
		{"Numpad3", "KP_Next"}, {"NumpadAdd", "KP_Add"}, {"NumpadEnter", "KP_Enter"},
		{"ControlRight", "Control_R"}, {"Space", "space"},
	} {
		t.Run(tc.code, func(t *testing.T) {
			r.t = t
			r.apply(fullHD, key(tc.code, true), key(tc.code, false))
			r.rec.WaitLine(t, wait, func(l string) bool {
				f := strings.Fields(l)
				return len(f) == 4 && f[0] == "key" && f[2] == tc.keysym
			})
			r.want("keyup " + tc.keysym)
		})
	}
	r.t = t
	// Ctrl held while clicking: the press carries ControlMask (4).
	r.apply(fullHD, key("ControlLeft", true),
		protocol.InputEvent{T: EvDown, X: 10, Y: 10}, protocol.InputEvent{T: EvUp, X: 10, Y: 10},
		key("ControlLeft", false))
	r.rec.WaitPrefix(t, wait, "press 1 10 10 4")
}

func TestText(t *testing.T) {
	r := newRig(t)
	for _, tc := range []struct{ name, text string }{
		{"ascii", "Hello, World! 123 ~`@#$%^&*()_+-={}[]|\\:;\"'<>?,./"},
		{"non-ascii", "héllo ✓ привет"},
		{"cjk and emoji", "日本語 ğ 😀"},
		{"repeated after many", "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZàéîõü"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r.t = t
			r.rec.Skip()
			r.apply(fullHD, protocol.InputEvent{T: EvText, Text: tc.text})
			if got := r.typed(len([]rune(tc.text))); got != tc.text {
				t.Fatalf("typed %q, want %q", got, tc.text)
			}
		})
	}
	r.t = t
	r.rec.Skip()
	r.apply(fullHD, protocol.InputEvent{T: EvText, Text: "a\tb\r\nc"})
	for _, ks := range []string{"a", "Tab", "b", "Return", "c"} {
		r.rec.WaitLine(t, wait, func(l string) bool {
			f := strings.Fields(l)
			return len(f) == 4 && f[0] == "key" && f[2] == ks
		})
	}
}

func TestCombos(t *testing.T) {
	r := newRig(t)
	r.apply(fullHD, protocol.InputEvent{T: EvCombo, Combo: ComboAltTab})
	r.rec.WaitPrefix(t, wait, "key 0 Alt_L")
	r.rec.WaitPrefix(t, wait, "key 9 Tab")
	r.want("keyup Tab")
	r.want("keyup Alt_L")
	r.apply(fullHD, protocol.InputEvent{T: EvCombo, Combo: ComboCtrlAltDel})
	r.rec.WaitPrefix(t, wait, "key 0 Control_L")
	r.rec.WaitPrefix(t, wait, "key 0 Alt_L")
	r.rec.WaitLine(t, wait, func(l string) bool { return strings.Contains(l, " Delete ") })
	r.want("keyup Control_L")
	r.apply(fullHD, protocol.InputEvent{T: EvCombo, Combo: ComboWin})
	r.rec.WaitPrefix(t, wait, "key 0 Super_L")
	r.want("keyup Super_L")
}

// Keys and buttons still held when the injector closes are released.
func TestCloseReleases(t *testing.T) {
	r := newRig(t)
	r.apply(fullHD,
		protocol.InputEvent{T: EvKey, Key: "ShiftRight", Down: true},
		protocol.InputEvent{T: EvDown, X: 30, Y: 40})
	r.rec.WaitPrefix(t, wait, "press 1 30 40")
	if err := r.in.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	r.want("keyup Shift_R")
	r.rec.WaitPrefix(t, wait, "release 1 30 40")
	if err := r.in.Apply(protocol.InputEvent{T: EvMove, X: 1, Y: 1}, fullHD); !errors.Is(err, ErrClosed) {
		t.Fatalf("Apply after Close = %v, want ErrClosed", err)
	}
}

// Rejected events inject nothing: the recorder sees only the marker click.
func TestRejected(t *testing.T) {
	r := newRig(t)
	for _, tc := range []struct {
		ev   protocol.InputEvent
		want error
	}{
		{protocol.InputEvent{T: EvKey, Key: "NoSuchKey", Down: true}, ErrUnknownKey},
		{protocol.InputEvent{T: EvMove, X: 1280, Y: 5}, ErrOutOfRange},
		{protocol.InputEvent{T: EvDown, X: -1, Y: 5}, ErrOutOfRange},
		{protocol.InputEvent{T: EvDown, X: 5, Y: 5, Button: 7}, ErrInvalid},
		{protocol.InputEvent{T: EvWheel, X: 5, Y: 5, DY: 1000000}, ErrInvalid},
		{protocol.InputEvent{T: EvText, Text: "a\x00b"}, ErrInvalid},
		{protocol.InputEvent{T: EvCombo, Combo: "reboot"}, ErrInvalid},
		{protocol.InputEvent{T: "teleport"}, ErrInvalid},
	} {
		if err := r.in.Apply(tc.ev, fullHD); !errors.Is(err, tc.want) {
			t.Errorf("Apply(%+v) = %v, want %v", tc.ev, err, tc.want)
		}
	}
	r.apply(fullHD, protocol.InputEvent{T: EvDown, X: 77, Y: 88}, protocol.InputEvent{T: EvUp, X: 77, Y: 88})
	r.rec.WaitPrefix(t, wait, "release 1 77 88")
	for _, l := range r.rec.Lines() {
		if strings.HasPrefix(l, "key") || strings.HasPrefix(l, "wheel") || (strings.HasPrefix(l, "press") && !strings.HasPrefix(l, "press 1 77 88")) {
			t.Errorf("rejected event reached the display: %q", l)
		}
	}
}

func TestNewWithoutDisplay(t *testing.T) {
	for _, d := range []string{"", ":65000"} {
		t.Run(fmt.Sprintf("DISPLAY=%q", d), func(t *testing.T) {
			t.Setenv("DISPLAY", d)
			in, err := New()
			if !errors.Is(err, ErrNoDisplay) {
				if in != nil {
					in.Close()
				}
				t.Fatalf("New = %v, want ErrNoDisplay", err)
			}
		})
	}
}
