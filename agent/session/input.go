package session

import "github.com/tetherdesk/tether/shared/protocol"

type inputItem struct {
	viewer string
	ev     protocol.InputEvent
}

// onInput takes one message of a viewer's input channel. Only the control
// holder's input in Active mode goes on; everything else is dropped and
// counted. Contents are never logged.
func (s *Session) onInput(v *viewer, data []byte) {
	ev, err := protocol.DecodeInputEvent(data)
	if err != nil {
		s.dropInput(v.id, "invalid")
		return
	}
	if _, ok := s.inputMonitor(v.id); !ok {
		s.dropInput(v.id, "not allowed")
		return
	}
	select {
	case s.input <- inputItem{viewer: v.id, ev: ev}:
	default:
		s.dropInput(v.id, "queue full")
	}
}

// inputMonitor reports whether viewer may control now and the monitor its
// input is relative to.
func (s *Session) inputMonitor(viewer string) (protocol.Monitor, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mode != protocol.ModeActive || s.holder == "" || s.holder != viewer {
		return protocol.Monitor{}, false
	}
	v := s.viewers[viewer]
	if v == nil || v.monitor < 0 || v.monitor >= len(s.monitors) {
		return protocol.Monitor{}, false
	}
	return s.monitors[v.monitor], true
}

func (s *Session) dropInput(viewer, why string) {
	s.mu.Lock()
	s.drops++
	n := s.drops
	s.mu.Unlock()
	s.log.Debug("input dropped", "viewer_id", viewer, "why", why, "dropped", n)
	if s.cfg.onDrop != nil {
		s.cfg.onDrop(viewer, why)
	}
}

// inputLoop applies allowed input with the injector, made at the start
// (or, where that failed, on first use).
func (s *Session) inputLoop() {
	var inj Injector
	defer func() {
		if inj != nil {
			if err := inj.Close(); err != nil {
				s.log.Debug("closing the injector", "error", err)
			}
		}
	}()
	// The injector is made now rather than at the first event: a Wayland
	// compositor announces a new virtual pointer and keyboard to its
	// clients, and a click sent before they took notice would be lost.
	if i, err := s.cfg.NewInjector(); err == nil {
		inj = i
	}
	for {
		var it inputItem
		select {
		case <-s.ctx.Done():
			return
		case it = <-s.input:
		}
		// The holder or mode may have changed since the event was queued.
		mon, ok := s.inputMonitor(it.viewer)
		if !ok {
			s.dropInput(it.viewer, "not allowed")
			continue
		}
		if !it.ev.InMonitor(mon) {
			s.dropInput(it.viewer, "outside the monitor")
			continue
		}
		if inj == nil {
			var err error
			if inj, err = s.cfg.NewInjector(); err != nil {
				inj = nil
				s.log.Warn("cannot inject input", "error", err)
				s.dropInput(it.viewer, "no injector")
				continue
			}
		}
		if it.ev.T == "combo" && it.ev.Combo == "ctrl-alt-del" && s.cfg.SecureAttention != nil {
			if err := s.cfg.SecureAttention(); err != nil {
				s.log.Warn("Ctrl+Alt+Del through the service failed", "error", err)
			}
			continue
		}
		if err := inj.Apply(it.ev, mon); err != nil {
			s.log.Debug("input not applied", "viewer_id", it.viewer, "type", it.ev.T)
		}
	}
}
