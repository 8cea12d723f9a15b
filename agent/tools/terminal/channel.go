package terminal

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/tetherdesk/tether/shared/protocol"
)

// Channel is what a Bridge uses of its data channel (WebRTC or the
// WebSocket relay).
type Channel interface {
	Send([]byte) error // binary: the terminal's output
	SendText(string) error
	BufferedAmount() uint64
}

// Output flow control: the shell is read no further while this much
// waits on the channel (a burst then slows the shell down, not the
// viewer's other channels), and again once it drained below LowWater.
const (
	HighWater = 1 << 20
	LowWater  = 256 << 10
	chunk     = 16 << 10
)

// BridgeConfig configures a Bridge.
type BridgeConfig struct {
	Channel Channel
	// Allow decides whether a shell as who (protocol.TerminalAsUser or
	// TerminalAsSystem) may open for this viewer; its error is sent back.
	Allow func(as string) error
	// Shell is the terminal's configuration but for the size (tests).
	Shell Config
	// Ended is called once with the terminal's transcript and exit
	// code when the shell has ended (by itself or by Close), if it ran.
	Ended  func(transcript []byte, total int64, code int)
	Logger *slog.Logger
	// Keep, when set, takes a shell that still runs when the bridge
	// closes (the viewer's connection dropped) instead of ending it; and
	// Resume gives an open message a kept shell to go on with (nil: a new
	// one starts). Ended is then the keeper's to report.
	Keep   func(t *Term, as string)
	Resume func(as string) *Term
}

// Bridge runs one terminal on one channel: the viewer's open message
// starts the shell, binary messages type into it, its output goes back.
type Bridge struct {
	cfg BridgeConfig
	log *slog.Logger

	mu      sync.Mutex
	term    *Term
	as      string
	resumed bool
	closed  bool
	stop    chan struct{} // closed by Close
	drained *sync.Cond    // BufferedAmount went below LowWater, or closed
	wg      sync.WaitGroup
}

// NewBridge returns a bridge waiting for the viewer's open message.
func NewBridge(cfg BridgeConfig) (*Bridge, error) {
	if cfg.Channel == nil || cfg.Allow == nil {
		return nil, errors.New("terminal: a bridge needs a channel and an Allow rule")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	b := &Bridge{cfg: cfg, log: cfg.Logger.With("component", "terminal"), stop: make(chan struct{})}
	b.drained = sync.NewCond(&b.mu)
	return b, nil
}

// Handle takes one message from the viewer.
func (b *Bridge) Handle(isText bool, data []byte) {
	if !isText {
		b.mu.Lock()
		t := b.term
		b.mu.Unlock()
		if t != nil {
			if _, err := t.Write(data); err != nil {
				b.log.Debug("typing into the shell", "error", err)
			}
		}
		return
	}
	m, err := protocol.DecodeTerminalMsg(data)
	if err != nil {
		b.fail(err)
		return
	}
	switch m.T {
	case protocol.TerminalOpen:
		b.open(m)
	case protocol.TerminalResize:
		b.mu.Lock()
		t := b.term
		b.mu.Unlock()
		if t == nil {
			b.fail(errors.New("resize: no terminal is open"))
		} else if err := t.Resize(m.Cols, m.Rows); err != nil {
			b.fail(err)
		}
	default:
		b.fail(fmt.Errorf("a viewer does not send %q", m.T))
	}
}

func (b *Bridge) fail(err error) {
	b.log.Debug("terminal message refused", "error", err)
	if s, e := marshal(protocol.TerminalMsg{T: protocol.TerminalError, Error: err.Error()}); e == nil {
		_ = b.cfg.Channel.SendText(s)
	}
}

func (b *Bridge) open(m protocol.TerminalMsg) {
	if err := b.cfg.Allow(m.As); err != nil {
		b.fail(err)
		return
	}
	t, err := b.start(m)
	if err != nil {
		b.fail(err)
		return
	}
	if t == nil {
		return // closed meanwhile
	}
	b.log.Info("terminal opened", "as", m.As, "resumed", b.resumed)
	if s, err := marshal(protocol.TerminalMsg{T: protocol.TerminalOpened, As: m.As, Shell: t.shell, Resumed: b.resumed}); err == nil {
		_ = b.cfg.Channel.SendText(s)
	}
	go b.pump(t) // after "opened": the viewer sees output only then
}

// start starts the channel's one shell; its pump is counted in wg.
func (b *Bridge) start(m protocol.TerminalMsg) (*Term, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, nil
	}
	if b.term != nil {
		return nil, errors.New("open: a terminal is open on this channel already")
	}
	b.as = m.As
	if b.cfg.Resume != nil {
		if t := b.cfg.Resume(m.As); t != nil {
			if err := t.Resize(m.Cols, m.Rows); err != nil {
				b.log.Debug("resizing a resumed shell", "error", err)
			}
			b.term, b.resumed = t, true
			b.wg.Add(1)
			return t, nil
		}
	}
	cfg := b.cfg.Shell
	cfg.Cols, cfg.Rows = m.Cols, m.Rows
	if cfg.Logger == nil {
		cfg.Logger = b.cfg.Logger
	}
	t, err := Start(cfg)
	if err != nil {
		return nil, err
	}
	b.term = t
	b.wg.Add(1)
	return t, nil
}

// pump sends the shell's output until it ends, holding back while the
// channel is full.
func (b *Bridge) pump(t *Term) {
	defer b.wg.Done()
	out := t.Output()
	detached := false
loop:
	for {
		b.mu.Lock()
		for !b.closed && b.cfg.Channel.BufferedAmount() > HighWater {
			b.drained.Wait()
		}
		closed := b.closed
		b.mu.Unlock()
		if closed {
			detached = true
			break
		}
		select {
		case d, ok := <-out:
			if !ok {
				break loop // the shell ended
			}
			if e := b.cfg.Channel.Send(d); e != nil {
				b.log.Debug("sending terminal output", "error", e)
			}
		case <-b.stop:
			detached = true
			break loop
		}
	}
	if detached && b.cfg.Keep != nil && t.Running() {
		b.log.Info("terminal kept for the viewer's return")
		b.cfg.Keep(t, b.as)
		return
	}
	t.Close()
	code := t.ExitCode()
	if s, err := marshal(protocol.TerminalMsg{T: protocol.TerminalExit, Code: code}); err == nil {
		_ = b.cfg.Channel.SendText(s)
	}
	b.log.Info("terminal ended", "code", code, "output_bytes", t.Transcript().Total())
	if b.cfg.Ended != nil {
		b.cfg.Ended(t.Transcript().Bytes(), t.Transcript().Total(), code)
	}
}

// Drained tells the bridge the channel's buffer went below LowWater
// (from the channel's OnBufferedAmountLow).
func (b *Bridge) Drained() {
	b.mu.Lock()
	b.drained.Broadcast()
	b.mu.Unlock()
}

// Close ends the shell, if one runs, and waits for its end to be
// reported.
func (b *Bridge) Close() {
	b.mu.Lock()
	if !b.closed {
		close(b.stop)
	}
	b.closed = true
	t := b.term
	b.drained.Broadcast()
	b.mu.Unlock()
	if t != nil && b.cfg.Keep == nil {
		t.Close()
	}
	b.wg.Wait()
}
