package session

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/tetherdesk/tether/shared/protocol"
)

// modeConfirmTimeout bounds the wait for the server to record a mode
// change the user accepted; after it the asking viewer hears it failed.
const modeConfirmTimeout = 15 * time.Second

// spawn runs f in a goroutine the session owns (teardown waits for it),
// unless the session is being torn down. It is safe from any goroutine,
// pion's callbacks included.
func (s *Session) spawn(f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing || s.ctx.Err() != nil {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}

// modeMsg is the "mode" control message for mode: the mode with what it
// offers.
func (s *Session) modeMsg(mode protocol.Mode) protocol.ControlMsg {
	m := protocol.ControlMsg{T: protocol.ControlMode, Mode: mode, Features: s.features(mode), FileMax: fileMax(s.cfg.Policy),
		Modes: s.plan.Enabled}
	if s.cfg.Privileged {
		m.Notice = PrivilegedNotice
	}
	return m
}

// enterMode makes the session work in mode (from old, "" when it goes
// live): the stream loop sees the screen channels only in modes that show
// the screen and starts the first time one does; every viewer hears the
// mode and its features; the overlay, the clipboard, file transfers and
// the chat window follow.
func (s *Session) enterMode(old, mode protocol.Mode) {
	s.mu.Lock()
	screen := hasScreen(mode)
	for _, v := range s.viewers {
		v.screenOpen = screen && v.screenUp
		if screen {
			v.needFull = true
			v.needMons = v.controlOpen
		}
	}
	start := screen && !s.streaming && !s.closing && s.ctx.Err() == nil
	if start {
		s.streaming = true
		s.wg.Add(1)
	}
	vs := s.viewerList()
	s.mu.Unlock()
	if start {
		go func() {
			defer s.wg.Done()
			s.streamLoop()
		}()
	}
	if old != "" {
		s.log.Info("session mode changed", "from", old, "to", mode)
	}
	msg := s.modeMsg(mode)
	for _, v := range vs {
		v.sendControl(msg)
	}
	s.wake()
	s.guide.modeChanged(mode)
	s.clip.modeChanged(mode)
	s.files.ModeChanged(slices.Contains(s.features(mode), protocol.FeatureFile))
	s.chat.modeChanged(mode)
}

// consentNeeded reports whether a mode change needs the end user's yes.
func (s *Session) consentNeeded() bool {
	return s.cfg.Start.Attended && s.cfg.Policy.AcceptanceRequired
}

// serverMode applies the mode the server has for the session (hello and
// "session" updates). The endpoint's own decision stands: a mode is taken
// only when it is the change the user accepted (or one needing no
// acceptance) and the endpoint's policy enables it, so a stale update can
// never move an attended session into a mode its user did not accept.
func (s *Session) serverMode(m protocol.Mode) {
	s.mu.Lock()
	cur := s.mode
	if m == cur {
		if s.pendingMode == m {
			s.pendingMode, s.modeAsker, s.modeBusy = "", "", false
		}
		s.mu.Unlock()
		return
	}
	ok := slices.Contains(s.plan.Enabled, m) && (m == s.pendingMode || !s.consentNeeded())
	if !ok {
		s.mu.Unlock()
		s.log.Debug("ignoring the server's mode: not one this endpoint accepted", "mode", m, "current", cur)
		return
	}
	s.mode = m
	if s.pendingMode == m {
		s.pendingMode, s.modeAsker, s.modeBusy = "", "", false
	}
	live := s.live
	s.mu.Unlock()
	if !live {
		return // startLive enters it
	}
	s.recEvent(protocol.RecEventMode, "", string(m))
	s.enterMode(cur, m)
	if n, ok := s.cfg.UI.(Notifier); ok {
		s.spawn(func() {
			n.Notice(s.ctx, "The technician switched the session to: "+ModeText(m)+".")
		})
	}
}

// onModeRequest takes a technician's request to switch mode (control
// channel): checked against the policy, asked of the end user where the
// policy wants it, then reported to the server, which records it and tells
// everyone; the switch happens when the server's update comes back.
func (s *Session) onModeRequest(v *viewer, requested protocol.Mode) {
	refuse := func(why string) {
		v.sendControl(protocol.ControlMsg{T: protocol.ControlModeRefused, Mode: requested, Text: why})
	}
	s.mu.Lock()
	cur, busy, live, tech := s.mode, s.modeBusy, s.live, s.names[v.id]
	if !busy && live {
		s.modeBusy, s.modeAsker = true, v.id
	}
	s.mu.Unlock()
	switch {
	case !live:
		refuse("the session is not live yet")
		return
	case busy:
		refuse("another mode change is being decided")
		return
	}
	ask, err := checkModeChange(s.plan, s.cfg.Policy, s.cfg.Start.Attended, cur, requested)
	if err != nil {
		s.modeDone()
		refuse(err.Error())
		return
	}
	if !ask {
		s.requestMode(requested)
		return
	}
	if tech == "" {
		tech = s.cfg.Start.Technician
	}
	timeout := s.cfg.Policy.AcceptanceTimeoutS
	if !s.spawn(func() {
		ma, ok := s.cfg.UI.(ModeAsker)
		yes, err := false, error(nil)
		if ok {
			ctx, cancel := context.WithTimeout(s.ctx, time.Duration(timeout)*time.Second)
			yes, err = ma.AskMode(ctx, ModeRequest{Technician: tech, From: cur, To: requested, TimeoutS: timeout})
			cancel()
		}
		switch {
		case s.ctx.Err() != nil:
			return
		case errors.Is(err, context.DeadlineExceeded):
			s.modeDone()
			refuse("the user did not answer in time")
		case err != nil:
			s.log.Warn("asking the user about a mode change", "error", err)
			s.modeDone()
			refuse("the user could not be asked")
		case !yes:
			s.modeDone()
			refuse("the user declined")
		default:
			s.requestMode(requested)
		}
	}) {
		s.modeDone()
	}
}

// modeDone ends a mode request without a change.
func (s *Session) modeDone() {
	s.mu.Lock()
	s.pendingMode, s.modeAsker, s.modeBusy = "", "", false
	s.mu.Unlock()
}

// requestMode reports an accepted mode change to the server and waits
// (up to modeConfirmTimeout) for it to come back recorded.
func (s *Session) requestMode(m protocol.Mode) {
	s.mu.Lock()
	s.pendingMode = m
	s.modeSeq++
	seq, state := s.modeSeq, s.state
	s.mu.Unlock()
	if err := s.send(protocol.Signal{Type: protocol.SignalState, State: state, Mode: m}); err != nil {
		s.log.Warn("reporting a mode change", "error", err)
		s.refusePending(seq, "the server could not be told")
		return
	}
	time.AfterFunc(modeConfirmTimeout, func() {
		select {
		case s.modeExpired <- seq:
		case <-s.ctx.Done():
		}
	})
}

// refusePending drops the pending request seq (0: whichever is pending)
// and tells the viewer that asked.
func (s *Session) refusePending(seq int, why string) {
	s.mu.Lock()
	if s.pendingMode == "" || (seq != 0 && seq != s.modeSeq) {
		s.mu.Unlock()
		return
	}
	m, asker := s.pendingMode, s.modeAsker
	s.pendingMode, s.modeAsker, s.modeBusy = "", "", false
	v := s.viewers[asker]
	s.mu.Unlock()
	s.log.Info("mode change not recorded", "mode", m, "why", why)
	if v != nil {
		v.sendControl(protocol.ControlMsg{T: protocol.ControlModeRefused, Mode: m, Text: why})
	}
}

// modeRefusedByServer: the server answered an error while a mode change
// waited for it (it checks the policy too).
func (s *Session) modeRefusedByServer(msg string) {
	s.refusePending(0, "the server refused: "+msg)
}
