package desktop

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"

	"github.com/tetherdesk/tether/shared/protocol"

	"github.com/tetherdesk/tether/agent/session"
)

// clipPoll is how often the X11 clipboard is read for changes. Core X
// tells an owner nothing when another client copies (XFIXES would, but
// its xgb tables are process-wide and the capture package owns them), so
// the watcher asks: one small round trip, the text only when it is there.
const clipPoll = 700 * time.Millisecond

// x11Clipboard is the CLIPBOARD selection of the X display, over a
// connection of its own (github.com/jezek/xgb): the helper becomes the
// selection's owner to set it and answers other clients' requests for
// TARGETS, UTF8_STRING, TEXT and STRING; it reads it by converting the
// selection to UTF8_STRING into a property of its own window.
type x11Clipboard struct {
	c   *xgb.Conn
	win xproto.Window
	a   struct {
		clipboard, utf8, targets, text, str, prop, incr, manager, saveTargets xproto.Atom
	}
	notify chan xproto.SelectionNotifyEvent
	done   chan struct{}

	mu     sync.Mutex
	owned  string
	owning bool
	closed bool
}

func NewClipboard() (session.Clipboard, error) { return newX11Clipboard() }

func newX11Clipboard() (*x11Clipboard, error) {
	c, err := xgb.NewConn()
	if err != nil {
		return nil, fmt.Errorf("connecting to the X display for the clipboard: %w", err)
	}
	x := &x11Clipboard{c: c, notify: make(chan xproto.SelectionNotifyEvent, 4), done: make(chan struct{})}
	fail := func(err error) (*x11Clipboard, error) {
		c.Close()
		return nil, fmt.Errorf("clipboard: %w", err)
	}
	for _, at := range []struct {
		dst  *xproto.Atom
		name string
	}{
		{&x.a.clipboard, "CLIPBOARD"}, {&x.a.utf8, "UTF8_STRING"}, {&x.a.targets, "TARGETS"}, {&x.a.text, "TEXT"},
		{&x.a.str, "STRING"}, {&x.a.prop, "TETHER_CLIPBOARD"}, {&x.a.incr, "INCR"},
		{&x.a.manager, "CLIPBOARD_MANAGER"}, {&x.a.saveTargets, "SAVE_TARGETS"},
	} {
		r, err := xproto.InternAtom(c, false, uint16(len(at.name)), at.name).Reply()
		if err != nil {
			return fail(fmt.Errorf("atom %s: %w", at.name, err))
		}
		*at.dst = r.Atom
	}
	screen := xproto.Setup(c).DefaultScreen(c)
	if x.win, err = xproto.NewWindowId(c); err != nil {
		return fail(err)
	}
	if err := xproto.CreateWindowChecked(c, 0, x.win, screen.Root, -10, -10, 1, 1, 0,
		xproto.WindowClassInputOnly, screen.RootVisual, 0, nil).Check(); err != nil {
		return fail(fmt.Errorf("creating its window: %w", err))
	}
	go x.events()
	return x, nil
}

// events answers other clients and passes conversions on to read.
func (x *x11Clipboard) events() {
	defer close(x.done)
	for {
		ev, err := x.c.WaitForEvent()
		if ev == nil && err == nil {
			return // connection closed
		}
		switch e := ev.(type) {
		case xproto.SelectionRequestEvent:
			x.serve(e)
		case xproto.SelectionClearEvent:
			x.mu.Lock()
			x.owning = false
			x.mu.Unlock()
		case xproto.SelectionNotifyEvent:
			select {
			case x.notify <- e:
			default:
			}
		}
	}
}

// serve answers a request for the selection we own (ICCCM 2.2).
func (x *x11Clipboard) serve(e xproto.SelectionRequestEvent) {
	prop := e.Property
	if prop == xproto.AtomNone {
		prop = e.Target // an obsolete client
	}
	x.mu.Lock()
	text, owning := x.owned, x.owning
	x.mu.Unlock()
	ok := owning && e.Selection == x.a.clipboard
	if ok {
		switch e.Target {
		case x.a.targets:
			atoms := []xproto.Atom{x.a.targets, x.a.utf8, x.a.text, x.a.str}
			b := make([]byte, 0, 4*len(atoms))
			for _, a := range atoms {
				b = binary.LittleEndian.AppendUint32(b, uint32(a))
			}
			xproto.ChangeProperty(x.c, xproto.PropModeReplace, e.Requestor, prop, xproto.AtomAtom, 32, uint32(len(atoms)), b)
		case x.a.utf8, x.a.text:
			xproto.ChangeProperty(x.c, xproto.PropModeReplace, e.Requestor, prop, x.a.utf8, 8, uint32(len(text)), []byte(text))
		case x.a.str:
			b := latin1(text)
			xproto.ChangeProperty(x.c, xproto.PropModeReplace, e.Requestor, prop, x.a.str, 8, uint32(len(b)), b)
		default:
			ok = false
		}
	}
	if !ok {
		prop = xproto.AtomNone
	}
	n := xproto.SelectionNotifyEvent{Time: e.Time, Requestor: e.Requestor, Selection: e.Selection, Target: e.Target, Property: prop}
	xproto.SendEvent(x.c, false, e.Requestor, 0, string(n.Bytes()))
}

// latin1 is text as ISO 8859-1 (the STRING target), '?' for what it lacks.
func latin1(s string) []byte {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff {
			r = '?'
		}
		b = append(b, byte(r))
	}
	return b
}

// Set implements session.Clipboard.
func (x *x11Clipboard) Set(text string) error {
	x.mu.Lock()
	x.owned, x.owning = text, true
	x.mu.Unlock()
	if err := xproto.SetSelectionOwnerChecked(x.c, x.win, x.a.clipboard, xproto.TimeCurrentTime).Check(); err != nil {
		return fmt.Errorf("taking the clipboard: %w", err)
	}
	r, err := xproto.GetSelectionOwner(x.c, x.a.clipboard).Reply()
	if err != nil {
		return fmt.Errorf("taking the clipboard: %w", err)
	}
	if r.Owner != x.win {
		x.mu.Lock()
		x.owning = false
		x.mu.Unlock()
		return errors.New("another program kept the clipboard")
	}
	return nil
}

// read returns the clipboard's text; ok is false when it holds none (or
// we own it, or it is too large for the session).
func (x *x11Clipboard) read(ctx context.Context) (text string, ok bool, err error) {
	r, err := xproto.GetSelectionOwner(x.c, x.a.clipboard).Reply()
	if err != nil {
		return "", false, fmt.Errorf("clipboard owner: %w", err)
	}
	if r.Owner == xproto.WindowNone || r.Owner == x.win {
		return "", false, nil
	}
	for len(x.notify) > 0 {
		<-x.notify
	}
	xproto.ConvertSelection(x.c, x.win, x.a.clipboard, x.a.utf8, x.a.prop, xproto.TimeCurrentTime)
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	var n xproto.SelectionNotifyEvent
	select {
	case n = <-x.notify:
	case <-t.C:
		return "", false, nil // an owner that does not answer
	case <-ctx.Done():
		return "", false, nil
	}
	if n.Property == xproto.AtomNone {
		return "", false, nil // no text in it
	}
	p, err := xproto.GetProperty(x.c, true, x.win, x.a.prop, xproto.GetPropertyTypeAny, 0, protocol.MaxClipboardText/4+1).Reply()
	if err != nil {
		return "", false, fmt.Errorf("reading the clipboard: %w", err)
	}
	if p.Type == x.a.incr || p.BytesAfter > 0 || p.Format != 8 {
		return "", false, nil // too large to sync, or not text
	}
	s := string(p.Value)
	if p.Type == x.a.str {
		s = fromLatin1(p.Value)
	}
	if !utf8.ValidString(s) {
		return "", false, nil
	}
	return s, true, nil
}

func fromLatin1(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

// Watch implements session.Clipboard.
func (x *x11Clipboard) Watch(ctx context.Context, changed func(string)) error {
	last, _, err := x.read(ctx)
	if err != nil {
		return err
	}
	tick := time.NewTicker(clipPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-x.done:
			return errors.New("the X connection closed")
		case <-tick.C:
		}
		text, ok, err := x.read(ctx)
		if err != nil {
			return err
		}
		if ok && text != last {
			last = text
			changed(text)
		}
	}
}

// Close implements session.Clipboard. Text the helper still owns is handed to a
// clipboard manager where one runs (ICCCM SAVE_TARGETS), so it outlives
// the session.
func (x *x11Clipboard) Close() error {
	x.mu.Lock()
	if x.closed {
		x.mu.Unlock()
		return nil
	}
	x.closed = true
	owning := x.owning
	x.mu.Unlock()
	if owning {
		if r, err := xproto.GetSelectionOwner(x.c, x.a.manager).Reply(); err == nil && r.Owner != xproto.WindowNone {
			xproto.ConvertSelection(x.c, x.win, x.a.manager, x.a.saveTargets, x.a.prop, xproto.TimeCurrentTime)
			select {
			case <-x.notify:
			case <-time.After(time.Second):
			}
		}
	}
	x.c.Close()
	<-x.done
	return nil
}
