package session

// A support tool's session (Start.Tool, design: support tools): no
// screen, no modes, no recording; each viewer's peer carries the control
// channel and the tool's own (terminal, or admin and file: admin.go,
// filetool.go). The end user is asked
// as the policy says (ToolsAcceptanceRequired) and sees the session bar
// while it runs. A terminal's output of every shell the session ran is
// kept, size-capped, and uploaded to the server when the session ends.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/tetherdesk/tether/agent/client"
	"github.com/tetherdesk/tether/agent/tools/terminal"
	"github.com/tetherdesk/tether/shared/protocol"
)

// transcriptFor bounds the transcript's upload at the end of a session.
const transcriptFor = 30 * time.Second

var toolNames = map[string]string{
	protocol.ToolTerminal:       "open a terminal (a command line) on this computer as you",
	protocol.ToolTerminalSystem: "open a terminal (a command line) on this computer with administrator rights",
	protocol.ToolProcesses:      "see this computer's programs and processes, and end them",
	protocol.ToolServices:       "see this computer's services, and start or stop them",
	protocol.ToolFiles:          "browse your files on this computer, and copy files to and from it",
	protocol.ToolFilesSystem:    "browse all of this computer's files with administrator rights, and copy files to and from it",
}

// ToolText says what a tool lets the technician do, as the end user reads
// it in a prompt ("open a terminal … as you").
func ToolText(tool string) string {
	if s, ok := toolNames[tool]; ok {
		return s
	}
	return "use the support tool " + tool
}

// What is what the prompt says the technician asks to do: the tool's
// text for a tool's session, else the mode's.
func (r AskRequest) What() string {
	if r.Tool != "" {
		return ToolText(r.Tool)
	}
	return ModeText(r.Mode)
}

// isTool reports whether this is a support tool's session.
func (s *Session) isTool() bool { return s.cfg.Start.Tool != "" }

// toolRefusal says why this runner cannot open the session's tool ("" when
// it can): each runner serves the tools of Config.Tools only (the helper a
// shell as its user, the service one as root), and the policy decides
// whether the end user is asked.
func (s *Session) toolRefusal() string {
	t := s.cfg.Start.Tool
	if !slices.Contains(protocol.Tools, t) {
		return fmt.Sprintf("this agent does not know the support tool %q", t)
	}
	if !slices.Contains(s.cfg.Tools, t) {
		return fmt.Sprintf("the support tool %q does not run in this part of the agent", t)
	}
	if s.cfg.NoUser && !s.cfg.Policy.ToolsWithoutUser {
		return "nobody is logged on to this endpoint, and its policy opens no support tools then (screenshare.tools_without_user)"
	}
	if !s.cfg.Start.Attended && s.cfg.Policy.ToolsAcceptanceRequired && !s.cfg.NoUser {
		return "this endpoint's policy asks the user before a support tool opens (screenshare.tools_acceptance_required)"
	}
	return ""
}

// allowTerminal is the terminal bridges' rule: the shell the session was
// opened for, and no other.
func (s *Session) allowTerminal(as string) error {
	switch t := s.cfg.Start.Tool; {
	case t == protocol.ToolTerminal && as == protocol.TerminalAsUser,
		t == protocol.ToolTerminalSystem && as == protocol.TerminalAsSystem:
		return nil
	default:
		return fmt.Errorf("this session was opened for %q, not a shell as %s", t, as)
	}
}

// toolChannels is a tool session's set: control and the tool's channel.
// The screen share's channels stay closed stand-ins, so that nothing of
// the session's screen, input, chat or file paths ever sends.
func (v *viewer) toolChannels(tool string) []chanSpec {
	v.screen, v.input, v.chat, v.file = closedChannel{}, closedChannel{}, closedChannel{}, closedChannel{}
	v.terminal, v.admin = closedChannel{}, closedChannel{}
	specs := []chanSpec{{&v.control, protocol.ChannelControl, protocol.ChannelControlID}}
	switch tool {
	case protocol.ToolTerminal, protocol.ToolTerminalSystem:
		specs = append(specs, chanSpec{&v.terminal, protocol.ChannelTerminal, protocol.ChannelTerminalID})
	case protocol.ToolProcesses, protocol.ToolServices:
		specs = append(specs, chanSpec{&v.admin, protocol.ChannelAdmin, protocol.ChannelAdminID})
	case protocol.ToolFiles, protocol.ToolFilesSystem:
		specs = append(specs, chanSpec{&v.admin, protocol.ChannelAdmin, protocol.ChannelAdminID},
			chanSpec{&v.file, protocol.ChannelFile, protocol.ChannelFileID})
	}
	return specs
}

// wireTool connects a tool session's channels: the terminal to a bridge
// of its own; the control channel opening makes the session active.
func (s *Session) wireTool(v *viewer) {
	v.control.OnOpen(func() {
		s.mu.Lock()
		v.controlOpen = true
		s.mu.Unlock()
		s.becameActive()
	})
	v.control.OnMessage(func(webrtc.DataChannelMessage) {}) // a tool takes nothing there
	switch s.cfg.Start.Tool {
	case protocol.ToolProcesses, protocol.ToolServices:
		s.wireAdmin(v)
		return
	case protocol.ToolFiles, protocol.ToolFilesSystem:
		s.wireAdmin(v)
		s.wireFileTool(v)
		return
	}
	b, err := terminal.NewBridge(terminal.BridgeConfig{
		Channel: v.terminal, Allow: s.allowTerminal, Shell: s.cfg.Terminal, Logger: s.log.With("viewer_id", v.id),
		Ended:  func(out []byte, total int64, code int) { s.tools.ended(s.viewerName(v.id), out, total, code) },
		Keep:   func(t *terminal.Term, as string) { s.keepShell(v.id, t, as) },
		Resume: func(as string) *terminal.Term { return s.resumeShell(v.id, as) },
	})
	if err != nil {
		s.log.Error("terminal bridge", "error", err)
		return
	}
	v.term = b
	v.terminal.SetBufferedAmountLowThreshold(terminal.LowWater)
	v.terminal.OnBufferedAmountLow(b.Drained)
	v.terminal.OnMessage(func(m webrtc.DataChannelMessage) { b.Handle(m.IsString, m.Data) })
}

// toolLog keeps the terminal output of a tool session's shells, and the
// shells whose viewer's connection dropped, until it comes back (the
// outage limit) or the session ends.
type toolLog struct {
	mu     sync.Mutex
	tr     *terminal.Transcript
	total  int64
	shells int
	kept   map[string]*keptShell // by viewer id
}

type keptShell struct {
	t     *terminal.Term
	as    string
	timer *time.Timer
}

// keepShell holds viewer's running shell for its return.
func (s *Session) keepShell(viewer string, t *terminal.Term, as string) {
	l := &s.tools
	l.mu.Lock()
	if l.kept == nil {
		l.kept = map[string]*keptShell{}
	}
	old := l.kept[viewer]
	if old != nil {
		old.timer.Stop()
	}
	k := &keptShell{t: t, as: as}
	k.timer = time.AfterFunc(s.cfg.OutageLimit, func() {
		l.mu.Lock()
		mine := l.kept[viewer] == k
		if mine {
			delete(l.kept, viewer)
		}
		l.mu.Unlock()
		if mine {
			s.log.Info("a kept terminal's viewer did not come back; ending it", "viewer_id", viewer)
			s.endShell(viewer, t)
		}
	})
	l.kept[viewer] = k
	l.mu.Unlock()
	if old != nil {
		s.endShell(viewer, old.t) // its output goes to the transcript
	}
}

// resumeShell gives viewer back its kept shell of the same kind, if any.
func (s *Session) resumeShell(viewer, as string) *terminal.Term {
	l := &s.tools
	l.mu.Lock()
	k := l.kept[viewer]
	if k == nil || k.as != as {
		l.mu.Unlock()
		return nil
	}
	delete(l.kept, viewer)
	k.timer.Stop()
	l.mu.Unlock()
	if !k.t.Running() {
		s.endShell(viewer, k.t)
		return nil
	}
	return k.t
}

// endShell ends a kept shell and records its output.
func (s *Session) endShell(viewer string, t *terminal.Term) {
	t.Close()
	s.tools.ended(s.viewerName(viewer), t.Transcript().Bytes(), t.Transcript().Total(), t.ExitCode())
}

// endKept ends every kept shell (the session ends).
func (s *Session) endKept() {
	l := &s.tools
	l.mu.Lock()
	kept := l.kept
	l.kept = nil
	l.mu.Unlock()
	for viewer, k := range kept {
		k.timer.Stop()
		s.endShell(viewer, k.t)
	}
}

// ended adds one shell's output, and a line saying how it ended.
func (l *toolLog) ended(who string, out []byte, total int64, code int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tr == nil {
		// Room for the lines the transcript adds of its own.
		l.tr = terminal.NewTranscript(protocol.MaxTranscript - 4<<10)
	}
	l.shells++
	line := fmt.Sprintf("\r\n[shell %d of %s ended with exit code %d]\r\n", l.shells, strings.ReplaceAll(who, "\n", " "), code)
	l.tr.Write(out)
	l.tr.Write([]byte(line))
	l.total += total + int64(len(line))
}

// uploadTranscript sends the kept output to the server, once, at the
// session's end.
func (s *Session) uploadTranscript() {
	l := &s.tools
	l.mu.Lock()
	if l.tr == nil {
		l.mu.Unlock()
		return
	}
	data, total := l.tr.Bytes(), l.total
	l.mu.Unlock()
	if len(data) > protocol.MaxTranscript {
		data = data[len(data)-protocol.MaxTranscript:]
	}
	total = max(total, int64(len(data)))
	ctx, cancel := context.WithTimeout(context.Background(), transcriptFor)
	defer cancel()
	if err := s.postTranscript(ctx, data, total); err != nil {
		s.log.Error("the terminal transcript could not be uploaded", "bytes", len(data), "error", err)
		return
	}
	s.log.Info("terminal transcript uploaded", "bytes", len(data), "total", total)
}

func (s *Session) postTranscript(ctx context.Context, data []byte, total int64) error {
	base, err := client.ParseServerURL(s.cfg.Server)
	if err != nil {
		return err
	}
	hc, err := s.httpClient()
	if err != nil {
		return err
	}
	u := base.JoinPath(strings.Replace(protocol.PathAgentTranscript, "{id}", s.cfg.Start.SessionID, 1))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.cfg.Start.AgentToken)
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set(protocol.TranscriptTotalHeader, strconv.FormatInt(total, 10))
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("posting the transcript: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("posting the transcript: the server answered %s", resp.Status)
	}
	return nil
}

// closedChannel stands in for a channel a session does not carry: it
// never opens, and sending on it fails.
type closedChannel struct{}

var errNoChannel = errors.New("this session does not carry that channel")

func (closedChannel) Label() string                             { return "" }
func (closedChannel) Send([]byte) error                         { return errNoChannel }
func (closedChannel) SendText(string) error                     { return errNoChannel }
func (closedChannel) BufferedAmount() uint64                    { return 0 }
func (closedChannel) ReadyState() webrtc.DataChannelState       { return webrtc.DataChannelStateClosed }
func (closedChannel) OnOpen(func())                             {}
func (closedChannel) OnMessage(func(webrtc.DataChannelMessage)) {}
func (closedChannel) SetBufferedAmountLowThreshold(uint64)      {}
func (closedChannel) OnBufferedAmountLow(func())                {}
func (closedChannel) Close() error                              { return nil }
