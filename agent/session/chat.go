package session

import (
	"slices"
	"sync"
	"time"

	"github.com/tetherdesk/tether/shared/protocol"
)

// maxChatLines bounds the chat kept in the helper for viewers that join
// later; the server keeps the whole history.
const maxChatLines = 500

// chatHub is the session's chat. The helper is its hub: a technician's
// line goes to the end user's window and to every viewer; the end user's
// likewise, and to the server (the session's history). Contents are never
// logged.
type chatHub struct {
	s *Session

	mu      sync.Mutex
	lines   []protocol.ChatLine
	win     ChatWindow
	failed  bool // the window could not be opened: do not retry per line
	files   bool // "Send file…" offered
	closed  bool
	opening bool
	status  map[string]string // status lines set before the window opened
}

func newChatHub(s *Session) *chatHub { return &chatHub{s: s, status: map[string]string{}} }

// fromViewer takes a message of a viewer's chat channel.
func (c *chatHub) fromViewer(v *viewer, data []byte) {
	m, err := protocol.DecodeChatMsg(data)
	if err != nil {
		c.s.log.Debug("ignoring chat message", "viewer_id", v.id, "error", err)
		return
	}
	if !slices.Contains(c.s.features(c.s.currentMode()), protocol.FeatureChat) {
		c.s.log.Debug("ignoring chat message: no chat in this session", "viewer_id", v.id)
		return
	}
	c.s.mu.Lock()
	name := c.s.names[v.id]
	c.s.mu.Unlock()
	if name == "" {
		name = "Technician"
	}
	c.add(protocol.ChatLine{Time: time.Now().UTC(), Role: protocol.ChatTechnician, From: name, Text: m.Text}, v.id)
}

// fromUser takes a line the end user sent from the chat window.
func (c *chatHub) fromUser(text string) {
	if protocol.CheckChatText(text) != nil {
		return
	}
	c.add(protocol.ChatLine{Time: time.Now().UTC(), Role: protocol.ChatUser, Text: text}, "")
}

// add records a line, shows it everywhere and reports it to the server.
func (c *chatHub) add(l protocol.ChatLine, viewerID string) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.lines = append(c.lines, l)
	if len(c.lines) > maxChatLines {
		c.lines = c.lines[len(c.lines)-maxChatLines:]
	}
	c.mu.Unlock()
	who := l.From
	if l.Role == protocol.ChatUser {
		who = "end user"
	}
	c.s.recEvent(protocol.RecEventChat, who, l.Text)
	c.s.mu.Lock()
	vs := c.s.viewerList()
	c.s.mu.Unlock()
	msg := protocol.ChatMsg{T: "line", Line: &l}
	for _, v := range vs {
		v.sendJSON(v.chat, &v.chatOpen, msg)
	}
	if w := c.window(); w != nil {
		w.Add(l)
	}
	// Only the end user's lines: a technician's line is reported by that
	// technician's viewer over its own signalling, so the server never
	// takes the endpoint's word for what a technician said.
	if viewerID != "" {
		return
	}
	if err := c.s.send(protocol.Signal{Type: protocol.SignalChat, Chat: &protocol.ChatLine{Text: l.Text}}); err != nil {
		c.s.log.Warn("reporting a chat line to the server", "error", err)
	}
}

// history sends the lines so far to a viewer whose chat channel opened.
func (c *chatHub) history(v *viewer) {
	c.mu.Lock()
	lines := append([]protocol.ChatLine{}, c.lines...)
	c.mu.Unlock()
	if len(lines) > 0 {
		v.sendJSON(v.chat, &v.chatOpen, protocol.ChatMsg{T: "history", Lines: lines})
	}
}

// window returns the end user's chat window, opening it on first use.
func (c *chatHub) window() ChatWindow {
	c.mu.Lock()
	if c.win != nil || c.failed || c.closed || c.opening {
		w := c.win
		c.mu.Unlock()
		return w
	}
	c.opening = true
	c.mu.Unlock()
	w, err := c.s.cfg.NewChatWindow(ChatWindowConfig{
		Technician: c.s.cfg.Start.Technician,
		Say:        c.fromUser,
		SendFile:   c.s.files.SendFromUser,
		Logger:     c.s.log,
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	c.opening = false
	if err != nil {
		c.failed = true
		c.s.log.Warn("cannot open the chat window", "error", err)
		return nil
	}
	if c.closed {
		go w.Close()
		return nil
	}
	c.win = w
	w.AllowFiles(c.files)
	for _, l := range c.lines {
		w.Add(l)
	}
	for k, t := range c.status {
		w.Status(k, t)
	}
	return w
}

// open opens or raises the window (the tray's "open chat", and the
// screen-less modes).
func (c *chatHub) open() {
	if w := c.window(); w != nil {
		w.Raise()
	}
}

// setStatus shows a transfer's progress in the window ("" removes it).
func (c *chatHub) setStatus(key, text string) {
	c.mu.Lock()
	if text == "" {
		delete(c.status, key)
	} else {
		c.status[key] = text
	}
	w := c.win
	c.mu.Unlock()
	if w != nil {
		w.Status(key, text)
	}
}

// modeChanged offers "Send file…" where the mode allows files, and opens
// the window in the modes that have nothing else to show.
func (c *chatHub) modeChanged(mode protocol.Mode) {
	on := false
	for _, f := range c.s.features(mode) {
		on = on || f == protocol.FeatureFile
	}
	c.mu.Lock()
	c.files = on
	w := c.win
	c.mu.Unlock()
	if w != nil {
		w.AllowFiles(on)
	}
	if !hasScreen(mode) {
		c.s.spawn(c.open)
	}
}

func (c *chatHub) close() {
	c.mu.Lock()
	c.closed = true
	w := c.win
	c.win = nil
	c.lines = nil
	c.mu.Unlock()
	if w != nil {
		if err := w.Close(); err != nil {
			c.s.log.Debug("closing the chat window", "error", err)
		}
	}
}
