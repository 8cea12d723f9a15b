//go:build linux

package terminal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetherdesk/tether/shared/protocol"
)

// fakeChannel is a data channel in memory whose buffer empties only when
// the test says so.
type fakeChannel struct {
	mu       sync.Mutex
	out      bytes.Buffer
	texts    []protocol.TerminalMsg
	buffered uint64
	hold     bool // keep what is sent "buffered"
	over     int  // BufferedAmount asked while over HighWater: the bridge holds back
	changed  chan struct{}
}

func newFake() *fakeChannel { return &fakeChannel{changed: make(chan struct{}, 1)} }

func (c *fakeChannel) poke() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

func (c *fakeChannel) Send(b []byte) error {
	c.mu.Lock()
	c.out.Write(b)
	if c.hold {
		c.buffered += uint64(len(b))
	}
	c.mu.Unlock()
	c.poke()
	return nil
}

func (c *fakeChannel) SendText(s string) error {
	m, err := protocol.DecodeTerminalMsg([]byte(s))
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.texts = append(c.texts, m)
	c.mu.Unlock()
	c.poke()
	return nil
}

func (c *fakeChannel) BufferedAmount() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.buffered > HighWater {
		c.over++
		c.poke()
	}
	return c.buffered
}

// wait waits until cond holds over the channel's state.
func (c *fakeChannel) wait(t testing.TB, what string, cond func(out string, texts []protocol.TerminalMsg) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		ok := cond(c.out.String(), c.texts)
		out, texts := c.out.String(), c.texts
		c.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-c.changed:
		case <-deadline:
			t.Fatalf("no %s within 10 s; output %q, messages %+v", what, out[max(0, len(out)-300):], texts)
		}
	}
}

func lastIs(kind string) func(string, []protocol.TerminalMsg) bool {
	return func(_ string, ms []protocol.TerminalMsg) bool { return len(ms) > 0 && ms[len(ms)-1].T == kind }
}

func text(t *testing.T, m protocol.TerminalMsg) []byte {
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func bridge(t *testing.T, ch Channel, allow func(string) error, ended func([]byte, int64, int)) *Bridge {
	t.Helper()
	b, err := NewBridge(BridgeConfig{Channel: ch, Allow: allow, Ended: ended,
		Shell: Config{Shell: []string{"/bin/sh"}, Env: []string{"PATH=/usr/bin:/bin", "PS1=$ ", "HOME=" + os.TempDir()}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

func userOnly(as string) error {
	if as != protocol.TerminalAsUser {
		return errors.New("not allowed")
	}
	return nil
}

func TestBridge(t *testing.T) {
	ch := newFake()
	var mu sync.Mutex
	var transcript []byte
	code := -1
	b := bridge(t, ch, userOnly, func(tr []byte, _ int64, c int) {
		mu.Lock()
		transcript, code = tr, c
		mu.Unlock()
	})
	// Keystrokes before open, a refused shell, garbage: nothing runs.
	b.Handle(false, []byte("echo early\n"))
	b.Handle(true, text(t, protocol.TerminalMsg{T: protocol.TerminalOpen, As: protocol.TerminalAsSystem, Cols: 80, Rows: 24}))
	ch.wait(t, "refusal", lastIs(protocol.TerminalError))
	b.Handle(true, []byte(`{"t":"open","as":"user","cols":0,"rows":24}`))
	b.Handle(true, []byte(`not json`))
	b.Handle(true, text(t, protocol.TerminalMsg{T: protocol.TerminalResize, Cols: 80, Rows: 24}))
	ch.wait(t, "four refusals", func(_ string, ms []protocol.TerminalMsg) bool { return len(ms) == 4 })
	ch.mu.Lock()
	early := append([]protocol.TerminalMsg(nil), ch.texts...)
	ch.mu.Unlock()
	for _, m := range early {
		if m.T != protocol.TerminalError {
			t.Fatalf("%+v before a terminal was open", m)
		}
	}

	b.Handle(true, text(t, protocol.TerminalMsg{T: protocol.TerminalOpen, As: protocol.TerminalAsUser, Cols: 100, Rows: 30}))
	ch.wait(t, "opened", lastIs(protocol.TerminalOpened))
	b.Handle(true, text(t, protocol.TerminalMsg{T: protocol.TerminalOpen, As: protocol.TerminalAsUser, Cols: 100, Rows: 30}))
	ch.wait(t, "a second open refused", lastIs(protocol.TerminalError))
	b.Handle(false, []byte("stty size; echo he''llo\n"))
	ch.wait(t, "hello", func(out string, _ []protocol.TerminalMsg) bool { return strings.Contains(out, "hello") })
	ch.mu.Lock()
	out := ch.out.String()
	ch.mu.Unlock()
	if !strings.Contains(out, "30 100") || strings.Contains(out, "early") {
		t.Errorf("output %q: want the size 30 100 and nothing typed before open", out)
	}
	b.Handle(true, text(t, protocol.TerminalMsg{T: protocol.TerminalResize, Cols: 120, Rows: 40}))
	b.Handle(false, []byte("stty size; exit 7\n"))
	ch.wait(t, "exit", lastIs(protocol.TerminalExit))
	ch.mu.Lock()
	m := ch.texts[len(ch.texts)-1]
	ch.mu.Unlock()
	if m.Code != 7 {
		t.Errorf("exit %+v, want code 7", m)
	}
	b.Close()
	mu.Lock()
	defer mu.Unlock()
	if code != 7 || !bytes.Contains(transcript, []byte("40 120")) {
		t.Errorf("ended with code %d, transcript %q", code, transcript)
	}
}

// TestBridgeHoldsBackOutput: with the channel full the shell is not read
// (it blocks on its own output) until the channel drains.
func TestBridgeHoldsBackOutput(t *testing.T) {
	ch := newFake()
	ch.hold = true
	b := bridge(t, ch, userOnly, nil)
	b.Handle(true, text(t, protocol.TerminalMsg{T: protocol.TerminalOpen, As: protocol.TerminalAsUser, Cols: 80, Rows: 24}))
	ch.wait(t, "opened", lastIs(protocol.TerminalOpened))
	const size = 4 << 20
	b.Handle(false, []byte(fmt.Sprintf("stty raw -echo; head -c %d /dev/zero | tr '\\0' x; echo EN''D\n", size)))
	// The bridge looks at the channel, finds it full and waits (wait
	// holds ch.mu: the condition reads the fields itself).
	ch.wait(t, "the bridge holding back", func(string, []protocol.TerminalMsg) bool { return ch.over > 0 })
	if held := ch.BufferedAmount(); held > HighWater+chunk {
		t.Fatalf("%d bytes sent past the high-water mark of %d", held, HighWater)
	}
	// Drain: the rest comes.
	ch.mu.Lock()
	ch.hold, ch.buffered = false, 0
	ch.mu.Unlock()
	b.Drained()
	ch.wait(t, "the whole burst", func(out string, _ []protocol.TerminalMsg) bool { return strings.Contains(out, "END") })
	ch.mu.Lock()
	n := strings.Count(ch.out.String(), "x")
	ch.mu.Unlock()
	if n < size {
		t.Errorf("%d bytes of the burst arrived, want %d", n, size)
	}
}

// BenchmarkBridgeBurst: bytes/s of a shell's output through a bridge (the
// terminal channel's figure before the network).
func BenchmarkBridgeBurst(b *testing.B) {
	ch := newFake()
	br, err := NewBridge(BridgeConfig{Channel: ch, Allow: userOnly,
		Shell: Config{Shell: []string{"/bin/sh"}, Env: []string{"PATH=/usr/bin:/bin", "PS1="}}})
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	br.Handle(true, []byte(`{"t":"open","as":"user","cols":80,"rows":24}`))
	ch.wait(b, "opened", lastIs(protocol.TerminalOpened))
	br.Handle(false, []byte("stty raw -echo\n"))
	const size = 1 << 20
	b.SetBytes(size)
	for i := 0; b.Loop(); i++ {
		br.Handle(false, []byte(fmt.Sprintf("head -c %d /dev/zero | tr '\\0' x; echo EN''D%d\n", size, i)))
		want := []byte(fmt.Sprintf("END%d", i))
		for {
			ch.mu.Lock()
			o := ch.out.Bytes()
			done := bytes.Contains(o[max(0, len(o)-64):], want)
			if done {
				ch.out.Reset()
			}
			ch.mu.Unlock()
			if done {
				break
			}
			<-ch.changed
		}
	}
}
