package session

import (
	"context"
	"slices"
	"sync"
	"unicode/utf8"

	"github.com/tetherdesk/tether/shared/protocol"
)

// clipSync keeps the endpoint's clipboard (text) and the control holder's
// in step, in Active mode where the policy allows it: what the holder
// copies goes to the endpoint's clipboard, what the end user copies during
// the session goes to the holder. Contents are never logged.
type clipSync struct {
	s *Session

	mu     sync.Mutex
	cb     Clipboard
	failed bool
	stop   context.CancelFunc // the running watcher
	last   string             // last text either side set
	closed bool
}

func newClipSync(s *Session) *clipSync { return &clipSync{s: s} }

func (c *clipSync) enabled() bool {
	return slices.Contains(c.s.features(c.s.currentMode()), protocol.FeatureClipboard)
}

// open returns the clipboard, opening it on first use. c.mu is held.
func (c *clipSync) openLocked() Clipboard {
	if c.cb != nil || c.failed || c.closed {
		return c.cb
	}
	cb, err := c.s.cfg.NewClipboard()
	if err != nil {
		c.failed = true
		c.s.log.Warn("clipboard sync unavailable", "error", err)
		return nil
	}
	c.cb = cb
	return cb
}

// modeChanged starts watching the endpoint's clipboard in a mode with
// clipboard sync, and stops it in any other.
func (c *clipSync) modeChanged(protocol.Mode) {
	on := c.enabled()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !on {
		if c.stop != nil {
			c.stop()
			c.stop = nil
		}
		return
	}
	if c.stop != nil {
		return
	}
	cb := c.openLocked()
	if cb == nil {
		return
	}
	ctx, cancel := context.WithCancel(c.s.ctx)
	if !c.s.spawn(func() {
		if err := cb.Watch(ctx, c.changed); err != nil && ctx.Err() == nil {
			c.s.log.Warn("watching the clipboard", "error", err)
		}
	}) {
		cancel()
		return
	}
	c.stop = cancel
}

// changed: the end user copied text on the endpoint.
func (c *clipSync) changed(text string) {
	if !c.enabled() || len(text) > protocol.MaxClipboardText || !utf8.ValidString(text) {
		return
	}
	c.mu.Lock()
	if text == c.last {
		c.mu.Unlock()
		return
	}
	c.last = text
	c.mu.Unlock()
	c.s.mu.Lock()
	v := c.s.viewers[c.s.holder]
	c.s.mu.Unlock()
	if v != nil {
		v.sendControl(protocol.ControlMsg{T: protocol.ControlClipboard, Text: text})
	}
}

// fromViewer: a viewer's clipboard; only the control holder's is taken.
func (c *clipSync) fromViewer(v *viewer, text string) {
	c.s.mu.Lock()
	holder := c.s.holder == v.id
	c.s.mu.Unlock()
	if !holder || !c.enabled() || len(text) > protocol.MaxClipboardText || !utf8.ValidString(text) {
		c.s.log.Debug("ignoring a viewer's clipboard", "viewer_id", v.id, "holder", holder)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cb := c.openLocked()
	if cb == nil || text == c.last {
		return
	}
	c.last = text
	if err := cb.Set(text); err != nil {
		c.s.log.Warn("setting the clipboard", "error", err)
	}
}

// holderChanged: nothing to do yet; the new holder gets the next change
// (what the user copied before stays private).
func (c *clipSync) holderChanged(string) {}

func (c *clipSync) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.stop != nil {
		c.stop()
		c.stop = nil
	}
	if c.cb != nil {
		if err := c.cb.Close(); err != nil {
			c.s.log.Debug("closing the clipboard", "error", err)
		}
		c.cb = nil
	}
}
