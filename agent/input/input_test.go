package input

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tetherdesk/tether/shared/protocol"
)

// fake records driver calls.
type fake struct {
	calls []string
	fail  error
}

func (f *fake) rec(s string) error {
	f.calls = append(f.calls, s)
	return f.fail
}
func (f *fake) move(x, y int) error           { return f.rec(fmt.Sprintf("move %d %d", x, y)) }
func (f *fake) button(b int, down bool) error { return f.rec(fmt.Sprintf("button %d %v", b, down)) }
func (f *fake) scroll(dx, dy int) error       { return f.rec(fmt.Sprintf("scroll %d %d", dx, dy)) }
func (f *fake) key(n string, down bool) error {
	return f.rec(fmt.Sprintf("key %s %v", n, down))
}
func (f *fake) text(s string) error { return f.rec("text " + s) }
func (f *fake) ctrlAltDel() error   { return f.rec("cad") }
func (f *fake) close() error        { return f.rec("close") }

func TestApplyPlans(t *testing.T) {
	mon := protocol.Monitor{X: 1920, Y: -100, W: 1280, H: 1024}
	for _, tc := range []struct {
		name string
		ev   protocol.InputEvent
		want string
		err  error
	}{
		{"move", protocol.InputEvent{T: EvMove, X: 10, Y: 20}, "move 1930 -80", nil},
		{"move origin", protocol.InputEvent{T: EvMove}, "move 1920 -100", nil},
		{"move last pixel", protocol.InputEvent{T: EvMove, X: 1279, Y: 1023}, "move 3199 923", nil},
		{"move outside", protocol.InputEvent{T: EvMove, X: 1280, Y: 0}, "", ErrOutOfRange},
		{"move negative", protocol.InputEvent{T: EvMove, X: 0, Y: -1}, "", ErrOutOfRange},
		{"down with position", protocol.InputEvent{T: EvDown, X: 5, Y: 6, Button: 2}, "move 1925 -94|button 2 true", nil},
		{"up without position", protocol.InputEvent{T: EvUp, Button: 1}, "button 1 false", nil},
		{"bad button", protocol.InputEvent{T: EvDown, Button: 3}, "", ErrInvalid},
		{"wheel", protocol.InputEvent{T: EvWheel, X: 1, Y: 1, DY: 3, DX: -2}, "move 1921 -99|scroll -2 3", nil},
		{"wheel zero", protocol.InputEvent{T: EvWheel}, "", nil},
		{"wheel absurd", protocol.InputEvent{T: EvWheel, DY: MaxWheel + 1}, "", ErrInvalid},
		{"wheel absurd negative", protocol.InputEvent{T: EvWheel, DX: -1 << 40}, "", ErrInvalid},
		{"key", protocol.InputEvent{T: EvKey, Key: "KeyQ", Down: true}, "key q true", nil},
		{"key up", protocol.InputEvent{T: EvKey, Key: "F24"}, "key f24 false", nil},
		{"unknown key", protocol.InputEvent{T: EvKey, Key: "KeyÄ", Down: true}, "", ErrUnknownKey},
		{"empty key", protocol.InputEvent{T: EvKey}, "", ErrUnknownKey},
		{"text", protocol.InputEvent{T: EvText, Text: "héllo\r\nwörld\r"}, "text héllo\nwörld\n", nil},
		{"empty text", protocol.InputEvent{T: EvText}, "", nil},
		{"text control", protocol.InputEvent{T: EvText, Text: "a\x1bb"}, "", ErrInvalid},
		{"text not utf8", protocol.InputEvent{T: EvText, Text: "a\xffb"}, "", ErrInvalid},
		{"text too long", protocol.InputEvent{T: EvText, Text: strings.Repeat("ж", MaxTextRunes+1)}, "", ErrInvalid},
		{"alt-tab", protocol.InputEvent{T: EvCombo, Combo: ComboAltTab}, "key lalt true|key tab true|key tab false|key lalt false", nil},
		{"win", protocol.InputEvent{T: EvCombo, Combo: ComboWin}, "key lcmd true|key lcmd false", nil},
		{"ctrl-alt-del", protocol.InputEvent{T: EvCombo, Combo: ComboCtrlAltDel}, "cad", nil},
		{"bad combo", protocol.InputEvent{T: EvCombo, Combo: "alt-f4"}, "", ErrInvalid},
		{"bad type", protocol.InputEvent{T: "paste"}, "", ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fake{}
			err := newInjector(f).Apply(tc.ev, mon)
			if !errors.Is(err, tc.err) || (err != nil) != (tc.err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if got := strings.Join(f.calls, "|"); got != tc.want {
				t.Fatalf("calls %q, want %q", got, tc.want)
			}
		})
	}
}

func TestBadMonitor(t *testing.T) {
	for _, mon := range []protocol.Monitor{{}, {W: -1, H: 10}, {W: 10, H: 1 << 20}, {X: 1 << 30, W: 10, H: 10}} {
		if err := newInjector(&fake{}).Apply(protocol.InputEvent{T: EvMove}, mon); !errors.Is(err, ErrInvalid) {
			t.Errorf("monitor %+v: %v, want ErrInvalid", mon, err)
		}
	}
}

func TestReleaseAllAndClose(t *testing.T) {
	f := &fake{}
	in := newInjector(f)
	mon := protocol.Monitor{W: 100, H: 100}
	for _, ev := range []protocol.InputEvent{
		{T: EvKey, Key: "ShiftLeft", Down: true},
		{T: EvKey, Key: "ControlRight", Down: true},
		{T: EvKey, Key: "KeyA", Down: true},
		{T: EvKey, Key: "KeyA"},
		{T: EvDown, Button: ButtonRight},
	} {
		if err := in.Apply(ev, mon); err != nil {
			t.Fatal(err)
		}
	}
	f.calls = nil
	if err := in.ReleaseAll(); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(f.calls, "|"), "key lshift false|key rctrl false|button 2 false"; got != want {
		t.Fatalf("ReleaseAll: %q, want %q", got, want)
	}
	f.calls = nil
	if err := in.Close(); err != nil || strings.Join(f.calls, "|") != "close" {
		t.Fatalf("Close: %v, calls %q", err, f.calls)
	}
	if err := in.Apply(protocol.InputEvent{T: EvMove}, mon); !errors.Is(err, ErrClosed) {
		t.Fatalf("Apply after Close: %v", err)
	}
	if err := in.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestDriverErrorWrapped(t *testing.T) {
	boom := errors.New("boom")
	err := newInjector(&fake{fail: boom}).Apply(protocol.InputEvent{T: EvMove}, protocol.Monitor{W: 1, H: 1})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "move") {
		t.Fatalf("err = %v", err)
	}
}

func TestKeyNames(t *testing.T) {
	for code, want := range map[string]string{
		"KeyA": "a", "KeyZ": "z", "Digit0": "0", "Digit9": "9", "F1": "f1", "F24": "f24",
		"ArrowUp": "up", "ArrowDown": "down", "ArrowLeft": "left", "ArrowRight": "right",
		"Enter": "enter", "Tab": "tab", "Escape": "esc", "Backspace": "backspace", "Delete": "delete",
		"Home": "home", "End": "end", "PageUp": "pageup", "PageDown": "pagedown", "Insert": "insert",
		"ShiftLeft": "lshift", "ShiftRight": "rshift", "ControlLeft": "lctrl", "ControlRight": "rctrl",
		"AltLeft": "lalt", "AltRight": "ralt", "MetaLeft": "lcmd", "MetaRight": "rcmd", "Space": "space",
		"Minus": "-", "Equal": "=", "BracketLeft": "[", "BracketRight": "]", "Backslash": "\\",
		"Semicolon": ";", "Quote": "'", "Backquote": "`", "Comma": ",", "Period": ".", "Slash": "/",
		"Numpad0": "num0", "Numpad9": "num9", "NumpadAdd": "num+", "NumpadEnter": "num_enter",
	} {
		if got, err := KeyName(code); err != nil || got != want {
			t.Errorf("KeyName(%q) = %q, %v; want %q", code, got, err, want)
		}
	}
	for _, code := range []string{"", "keya", "KeyAA", "F25", "F0", "Digit", "Numpad", "Fn", "Unidentified"} {
		if _, err := KeyName(code); !errors.Is(err, ErrUnknownKey) {
			t.Errorf("KeyName(%q) = %v, want ErrUnknownKey", code, err)
		}
	}
}

// FuzzApply feeds arbitrary viewer events through validation: no panic,
// nothing off the monitor, no absurd repeat counts, only known key names,
// text that is bounded UTF-8.
func FuzzApply(f *testing.F) {
	f.Add("move", 10, 10, 0, 0, 0, "", false, "", "", 0, 0, 100, 100)
	f.Add("down", 99, 99, 2, 0, 0, "", true, "", "", -50, 20, 100, 100)
	f.Add("wheel", 1, 1, 0, 3, -3, "", false, "", "", 0, 0, 1920, 1080)
	f.Add("key", 0, 0, 0, 0, 0, "ShiftLeft", true, "", "", 0, 0, 10, 10)
	f.Add("text", 0, 0, 0, 0, 0, "", false, "héllo ✓ привет\r\n", "", 0, 0, 10, 10)
	f.Add("combo", 0, 0, 0, 0, 0, "", false, "", "ctrl-alt-del", 0, 0, 10, 10)
	f.Add("wheel", 1, 1, 0, 1<<31-1, -1<<31, "", false, "", "", 0, 0, 10, 10)
	f.Fuzz(func(t *testing.T, typ string, x, y, b, dx, dy int, key string, down bool, text, combo string, mx, my, mw, mh int) {
		fk := &fake{}
		mon := protocol.Monitor{X: mx, Y: my, W: mw, H: mh}
		ev := protocol.InputEvent{T: typ, X: x, Y: y, Button: b, DX: dx, DY: dy, Key: key, Down: down, Text: text, Combo: combo}
		err := newInjector(fk).Apply(ev, mon)
		if err != nil && len(fk.calls) != 0 {
			t.Fatalf("rejected event %+v reached the driver: %q", ev, fk.calls)
		}
		for _, c := range fk.calls {
			var px, py int
			switch {
			case strings.HasPrefix(c, "move "):
				fmt.Sscanf(c, "move %d %d", &px, &py)
				if px < mx || py < my || px >= mx+mw || py >= my+mh {
					t.Fatalf("move %d,%d off monitor %+v", px, py, mon)
				}
			case strings.HasPrefix(c, "scroll "):
				fmt.Sscanf(c, "scroll %d %d", &px, &py)
				if px < -MaxWheel || px > MaxWheel || py < -MaxWheel || py > MaxWheel {
					t.Fatalf("scroll %d,%d", px, py)
				}
			case strings.HasPrefix(c, "key "):
				name := strings.Fields(c)[1]
				found := false
				for _, n := range keyNames {
					found = found || n == name
				}
				if !found && name != "lalt" && name != "tab" {
					t.Fatalf("unknown key name %q reached the driver", name)
				}
			case strings.HasPrefix(c, "text "):
				s := strings.TrimPrefix(c, "text ")
				if !utf8.ValidString(s) || utf8.RuneCountInString(s) > MaxTextRunes || strings.ContainsRune(s, '\r') {
					t.Fatalf("text %q reached the driver", s)
				}
			}
		}
	})
}
