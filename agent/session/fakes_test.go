package session

import (
	"context"
	"image"
	"sync"

	"github.com/tetherdesk/tether/shared/protocol"
)

// fakeChat is the end user's chat window in tests: what it shows, and the
// config to act as the user through.
type fakeChat struct {
	mu      sync.Mutex
	cfg     ChatWindowConfig
	opened  int
	lines   chan protocol.ChatLine
	status  map[string]string
	files   bool
	changed chan struct{}
}

func newFakeChat() *fakeChat {
	return &fakeChat{lines: make(chan protocol.ChatLine, 64), status: map[string]string{}, changed: make(chan struct{}, 1)}
}

func (f *fakeChat) open(cfg ChatWindowConfig) (ChatWindow, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cfg = cfg
	f.opened++
	f.poke()
	return f, nil
}

func (f *fakeChat) poke() {
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

func (f *fakeChat) config() ChatWindowConfig {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cfg
}

func (f *fakeChat) Add(l protocol.ChatLine) { f.lines <- l }
func (f *fakeChat) Status(k, t string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status[k] = t
	f.poke()
}
func (f *fakeChat) AllowFiles(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.files = on
	f.poke()
}
func (f *fakeChat) Raise()       {}
func (f *fakeChat) Close() error { return nil }

// fakeClipboard is the endpoint's clipboard in tests.
type fakeClipboard struct {
	mu      sync.Mutex
	text    string
	set     chan string
	changed func(string)
	watched chan struct{}
	once    sync.Once
}

func newFakeClipboard() *fakeClipboard {
	return &fakeClipboard{set: make(chan string, 16), watched: make(chan struct{})}
}

func (f *fakeClipboard) Watch(ctx context.Context, changed func(string)) error {
	f.mu.Lock()
	f.changed = changed
	f.mu.Unlock()
	f.once.Do(func() { close(f.watched) })
	<-ctx.Done()
	return nil
}

// copy plays the end user copying text on the endpoint.
func (f *fakeClipboard) copy(text string) {
	f.mu.Lock()
	c := f.changed
	f.text = text
	f.mu.Unlock()
	c(text)
}

func (f *fakeClipboard) Set(text string) error {
	f.mu.Lock()
	f.text = text
	f.mu.Unlock()
	f.set <- text
	return nil
}
func (f *fakeClipboard) Close() error { return nil }

// fakeOverlay records what Guidance draws.
type fakeOverlay struct {
	pointers chan image.Point
	marks    chan []image.Point
}

func newFakeOverlay() *fakeOverlay {
	return &fakeOverlay{pointers: make(chan image.Point, 16), marks: make(chan []image.Point, 16)}
}

func (f *fakeOverlay) Pointer(_ protocol.Monitor, x, y int, show bool) error {
	if show {
		f.pointers <- image.Pt(x, y)
	}
	return nil
}
func (f *fakeOverlay) Mark(_ protocol.Monitor, pts []image.Point) error { f.marks <- pts; return nil }
func (f *fakeOverlay) Close() error                                     { return nil }
