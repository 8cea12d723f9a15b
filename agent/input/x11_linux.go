//go:build cgo

package input

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-vgo/robotgo"
	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"
	xtestx "github.com/jezek/xgb/xtest"
)

// x11 drives an X display: robotgo for the pointer and named keys, and an
// XTEST connection of its own (github.com/jezek/xgb) for
//
//   - the reachability check: robotgo v1.0.0 dereferences a NULL Display
//     (SIGSEGV) when it cannot open the display, so New fails first;
//   - text: characters on the keyboard are typed with their key (and
//     Shift); others on spare keycodes (ones with no keysyms) mapped to
//     the character's keysym, as many as there are spare keycodes at a
//     time, with one pause per batch for clients to take in the new
//     mapping. robotgo's TypeStr remaps one keycode per character with a
//     7 ms pause, and a client that reads the mapping late then sees the
//     wrong character (measured: Tk on a busy machine);
//   - numpad operators, which robotgo v1.0.0 maps to wrong keysyms on X11
//     (NumpadAdd would type "n").
//
// The spare keycodes are restored to NoSymbol on close.
type x11 struct {
	conn *xgb.Conn
	root xproto.Window
	dead atomic.Bool
	wg   sync.WaitGroup

	min    xproto.Keycode
	per    int             // keysyms per keycode
	keymap []xproto.Keysym // as last read, (keycode-min)*per
	spare  []xproto.Keycode
	used   []bool // spare[i] was remapped
	slot   map[rune]int
	owner  []rune // rune held by spare[i]
	next   int

	lastSlotUse time.Time // last key press on a spare keycode
}

// Keysyms robotgo v1.0.0 gets wrong on X11, by robotgo key name.
var x11Keysyms = map[string]xproto.Keysym{
	"num+":      0xffab, // XK_KP_Add
	"num-":      0xffad, // XK_KP_Subtract
	"num*":      0xffaa, // XK_KP_Multiply
	"num/":      0xffaf, // XK_KP_Divide
	"num_enter": 0xff8d, // XK_KP_Enter
	"num_equal": 0xffbd, // XK_KP_Equal
}

const (
	xkReturn = 0xff0d
	xkTab    = 0xff09
	xkShiftL = 0xffe1
)

func newX11Driver() (driver, error) {
	display := os.Getenv("DISPLAY")
	if display == "" {
		return nil, fmt.Errorf("%w: DISPLAY is not set", ErrNoDisplay)
	}
	conn, err := xgb.NewConnDisplay(display)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrNoDisplay, display, err)
	}
	if err := xtestx.Init(conn); err != nil {
		conn.Close()
		return nil, fmt.Errorf("input: X display %s has no XTEST extension: %w", display, err)
	}
	setup := xproto.Setup(conn)
	x := &x11{conn: conn, root: setup.DefaultScreen(conn).Root, min: setup.MinKeycode, slot: map[rune]int{}}
	if err := x.readKeymap(setup.MaxKeycode); err != nil {
		conn.Close()
		return nil, err
	}
	for i := 0; i*x.per < len(x.keymap); i++ {
		empty := true
		for _, s := range x.keymap[i*x.per : (i+1)*x.per] {
			empty = empty && s == 0
		}
		if empty {
			x.spare = append(x.spare, x.min+xproto.Keycode(i))
		}
	}
	x.used = make([]bool, len(x.spare))
	x.owner = make([]rune, len(x.spare))
	// Drain events (MappingNotify reaches every client) so xgb's queue
	// never fills, and notice when the server goes away.
	x.wg.Go(func() {
		for {
			ev, err := conn.WaitForEvent()
			if ev == nil && err == nil {
				x.dead.Store(true)
				return
			}
		}
	})
	// robotgo opens its own Xlib connection lazily; point it at the
	// display just checked instead of its fallback ":0.0".
	robotgoDisplay.Lock()
	robotgoDisplay.users++
	err = robotgo.SetXDisplayName(display)
	robotgoDisplay.Unlock()
	if err != nil {
		x.close()
		return nil, fmt.Errorf("input: robotgo display: %w", err)
	}
	return x, nil
}

// robotgoDisplay counts the drivers using robotgo's process-wide Xlib
// connection. The last one to close closes it: left open, Xlib's exit
// handler finds the server gone (session ended, test Xvfb stopped) and
// exits the process with "X connection broken".
var robotgoDisplay struct {
	sync.Mutex
	users int
}

func (x *x11) readKeymap(max xproto.Keycode) error {
	r, err := xproto.GetKeyboardMapping(x.conn, x.min, byte(max-x.min+1)).Reply()
	if err != nil {
		return fmt.Errorf("input: reading the keyboard mapping: %w", err)
	}
	if r.KeysymsPerKeycode == 0 {
		return fmt.Errorf("input: empty keyboard mapping")
	}
	x.per, x.keymap = int(r.KeysymsPerKeycode), r.Keysyms
	return nil
}

func (x *x11) alive() error {
	if x.dead.Load() {
		return fmt.Errorf("%w: the X server closed the connection", ErrNoDisplay)
	}
	return nil
}

func (x *x11) move(px, py int) error {
	if err := x.alive(); err != nil {
		return err
	}
	return rgMove(px, py)
}

func (x *x11) button(b int, down bool) error {
	if err := x.alive(); err != nil {
		return err
	}
	return rgButton(b, down)
}

func (x *x11) scroll(dx, dy int) error {
	if err := x.alive(); err != nil {
		return err
	}
	return rgScroll(dx, dy)
}

func (x *x11) key(name string, down bool) error {
	if err := x.alive(); err != nil {
		return err
	}
	if sym, ok := x11Keysyms[name]; ok {
		kc, ok := x.keycodeOf(sym)
		if !ok {
			return fmt.Errorf("key %q: no keycode for keysym %#x", name, sym)
		}
		return x.fake(kc, down)
	}
	return rgKey(name, down)
}

// ctrlAltDel sends the keys; what they do is up to the desktop.
func (x *x11) ctrlAltDel() error {
	if err := x.alive(); err != nil {
		return err
	}
	keys := []string{"lctrl", "lalt", "delete"}
	for i, k := range keys {
		if err := rgKey(k, true); err != nil {
			for j := i - 1; j >= 0; j-- {
				_ = rgKey(keys[j], false)
			}
			return err
		}
	}
	var firstErr error
	for i := len(keys) - 1; i >= 0; i-- {
		if err := rgKey(keys[i], false); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

func (x *x11) keycodeOf(sym xproto.Keysym) (xproto.Keycode, bool) {
	for i, s := range x.keymap {
		if s == sym {
			return x.min + xproto.Keycode(i/x.per), true
		}
	}
	return 0, false
}

func (x *x11) fake(kc xproto.Keycode, down bool) error {
	typ := byte(xproto.KeyPress)
	if !down {
		typ = xproto.KeyRelease
	}
	if err := xtestx.FakeInputChecked(x.conn, typ, byte(kc), 0, x.root, 0, 0, 0).Check(); err != nil {
		return fmt.Errorf("xtest: %w", err)
	}
	return nil
}

func (x *x11) tapKeycode(kc xproto.Keycode) error {
	if err := x.fake(kc, true); err != nil {
		return err
	}
	return x.fake(kc, false)
}

// runeKeysym is the X keysym of r: Latin-1 keysyms equal the code point,
// all others are 0x01000000 + code point.
func runeKeysym(r rune) xproto.Keysym {
	if (r >= 0x20 && r <= 0x7e) || (r >= 0xa0 && r <= 0xff) {
		return xproto.Keysym(r)
	}
	return xproto.Keysym(0x01000000 | uint32(r))
}

func (x *x11) text(s string) error {
	if err := x.alive(); err != nil {
		return err
	}
	if len(x.spare) == 0 {
		// A keyboard mapping with no free keycode: robotgo's way.
		robotgo.TypeStr(s)
		return nil
	}
	runes := []rune(s)
	for start := 0; start < len(runes); {
		end, err := x.prepare(runes[start:])
		if err != nil {
			return fmt.Errorf("text: %w", err)
		}
		for _, r := range runes[start : start+end] {
			if err := x.typeRune(r); err != nil {
				return fmt.Errorf("text: %w", err)
			}
		}
		start += end
	}
	return nil
}

// settle is how long clients get to take in a keyboard mapping change
// before a key on a changed keycode is pressed, and before a keycode
// pressed for a character is changed again. Xlib with XKB reads the new
// mapping after the MappingNotify, so a key pressed right after a change
// can be looked up in the old mapping.
const settle = 40 * time.Millisecond

// prepare maps spare keycodes for the runes at the start of rs that the
// keyboard mapping lacks, as many as fit at once, waits for clients to see
// the change and returns how many runes can now be typed.
func (x *x11) prepare(rs []rune) (int, error) {
	pinned := map[rune]bool{} // runes of this batch that hold a slot
	var need []rune
	n := 0
	for ; n < len(rs); n++ {
		r := rs[n]
		if _, _, ok := x.lookup(r); ok || pinned[r] {
			continue
		}
		if _, ok := x.slot[r]; ok {
			pinned[r] = true
			continue
		}
		if len(need)+len(pinned) == len(x.spare) {
			break
		}
		need = append(need, r)
		pinned[r] = true
	}
	if len(need) == 0 {
		return n, nil
	}
	// Evicting a keycode typed moments ago could change a character a
	// client has not looked up yet.
	if wait := settle - time.Since(x.lastSlotUse); wait > 0 {
		time.Sleep(wait)
	}
	for _, r := range need {
		i := x.victim(pinned)
		if x.used[i] {
			delete(x.slot, x.owner[i])
		}
		if err := x.mapKeycode(x.spare[i], runeKeysym(r)); err != nil {
			return 0, err
		}
		x.used[i], x.owner[i], x.slot[r] = true, r, i
	}
	time.Sleep(settle)
	return n, nil
}

// victim picks the spare keycode to remap next: round-robin, skipping
// those holding runes of the current batch.
func (x *x11) victim(pinned map[rune]bool) int {
	for {
		i := x.next
		x.next = (x.next + 1) % len(x.spare)
		if !x.used[i] || !pinned[x.owner[i]] {
			return i
		}
	}
}

// lookup finds r on the keyboard as it is: keycode and whether Shift is
// needed (first group, levels 1 and 2 only).
func (x *x11) lookup(r rune) (xproto.Keycode, bool, bool) {
	sym := runeKeysym(r)
	for i := 0; i*x.per < len(x.keymap); i++ {
		if x.isSpare(i) {
			continue
		}
		row := x.keymap[i*x.per : (i+1)*x.per]
		for level := 0; level < 2 && level < len(row); level++ {
			if row[level] == sym {
				return x.min + xproto.Keycode(i), level == 1, true
			}
		}
	}
	return 0, false, false
}

func (x *x11) isSpare(i int) bool {
	kc := x.min + xproto.Keycode(i)
	for _, s := range x.spare {
		if s == kc {
			return true
		}
	}
	return false
}

func (x *x11) typeRune(r rune) error {
	switch r {
	case '\n', '\t':
		sym := xproto.Keysym(xkReturn)
		if r == '\t' {
			sym = xkTab
		}
		kc, ok := x.keycodeOf(sym)
		if !ok {
			return fmt.Errorf("no keycode for keysym %#x", sym)
		}
		return x.tapKeycode(kc)
	}
	if i, ok := x.slot[r]; ok {
		x.lastSlotUse = time.Now()
		return x.tapKeycode(x.spare[i])
	}
	kc, shift, ok := x.lookup(r)
	if !ok {
		return fmt.Errorf("no keycode for U+%04X", r)
	}
	if !shift {
		return x.tapKeycode(kc)
	}
	sh, ok := x.keycodeOf(xkShiftL)
	if !ok {
		return fmt.Errorf("no Shift key")
	}
	if err := x.fake(sh, true); err != nil {
		return err
	}
	err := x.tapKeycode(kc)
	return errors.Join(err, x.fake(sh, false))
}

// mapKeycode gives kc the keysym sym on both shift levels (0 clears it).
func (x *x11) mapKeycode(kc xproto.Keycode, sym xproto.Keysym) error {
	row := make([]xproto.Keysym, x.per)
	if sym != 0 {
		row[0] = sym
		if x.per > 1 {
			row[1] = sym
		}
	}
	if err := xproto.ChangeKeyboardMappingChecked(x.conn, 1, kc, byte(x.per), row).Check(); err != nil {
		return fmt.Errorf("mapping keycode %d: %w", kc, err)
	}
	copy(x.keymap[int(kc-x.min)*x.per:], row)
	return nil
}

func (x *x11) close() error {
	var firstErr error
	if !x.dead.Load() {
		for i, u := range x.used {
			if u {
				if err := x.mapKeycode(x.spare[i], 0); err != nil && firstErr == nil {
					firstErr = err
				}
			}
		}
	}
	x.conn.Close()
	x.wg.Wait()
	robotgoDisplay.Lock()
	if robotgoDisplay.users--; robotgoDisplay.users == 0 {
		robotgo.CloseMainDisplay()
	}
	robotgoDisplay.Unlock()
	return firstErr
}
