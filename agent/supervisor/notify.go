package supervisor

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tetherdesk/tether/agent/ipc"
	"github.com/tetherdesk/tether/agent/notify"
)

// The supervisor is agent/notify's display: it reaches the helpers.

// Desks lists the desktops whose helpers are connected, login screens
// excluded (nobody's desktop: nobody to tell).
func (s *Supervisor) Desks() []notify.Desk {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []notify.Desk
	for k, h := range s.helpers {
		if h.conn == nil || h.desk.Greeter {
			continue
		}
		out = append(out, notify.Desk{Key: k, User: h.desk.User, Active: h.desk.Active})
	}
	slices.SortFunc(out, func(a, b notify.Desk) int { return strings.Compare(a.Key, b.Key) })
	return out
}

func (s *Supervisor) helperConn(key string) *ipc.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h := s.helpers[key]; h != nil {
		return h.conn
	}
	return nil
}

// Show sends a notification to desktop key's helper.
func (s *Supervisor) Show(key string, n ipc.Notification) error {
	c := s.helperConn(key)
	if c == nil {
		return fmt.Errorf("no helper on desktop %s", key)
	}
	return c.Send(ipc.Msg{Type: ipc.TypeNotify, Notification: &n})
}

// Close takes a notification down on desktop key.
func (s *Supervisor) Close(key, id string) {
	if c := s.helperConn(key); c != nil {
		if err := c.Send(ipc.Msg{Type: ipc.TypeNotifyClose, NotifyID: id}); err != nil {
			s.log.Debug("closing a notification", "desktop", key, "error", err)
		}
	}
}
