package desktop

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
	"unsafe"

	"github.com/lxn/win"
	"golang.org/x/sys/windows"

	"github.com/tetherdesk/tether/agent/internal/winui"
)

const (
	// clipOpenWait is how long Set waits for another program to close
	// the clipboard; programs hold it open for a moment only.
	clipOpenWait = time.Second
	// clipRetryTimer re-reads the clipboard after a change when another
	// program still had it open; clipRetries bounds those re-reads.
	clipRetryTimer = 1
	clipRetryEvery = 20 // ms
	clipRetries    = 50
)

var errClipClosed = errors.New("the clipboard was closed")

// winClipboard is the Windows text clipboard (CF_UNICODETEXT). A
// message-only window on its own thread listens for changes
// (AddClipboardFormatListener) and owns what Set puts there, which is
// how its own Sets are told from other programs' copies.
type winClipboard struct {
	t    *winui.Thread
	hwnd win.HWND
	log  *slog.Logger

	closeOnce sync.Once
	done      chan struct{} // closed by Close

	// Only on the window thread:
	watch   *clipQueue // the running Watch's queue; nil when none
	private []uint32   // formats that mark a copy as not for monitors
	lastSeq uint32     // the clipboard sequence number last looked at
	ownSeq  uint32     // the sequence number our last Set left
	tries   int        // re-reads of the current change
}

func newWinClipboard() (*winClipboard, error) {
	t, err := winui.Start()
	if err != nil {
		return nil, fmt.Errorf("starting the clipboard thread: %w", err)
	}
	c := &winClipboard{t: t, done: make(chan struct{}), log: slog.Default().With("component", "clipboard")}
	// Password managers mark what they copy with these formats, asking
	// clipboard monitors (history, cloud sync, and this) to leave it be.
	for _, name := range []string{"ExcludeClipboardContentFromMonitorProcessing", "Clipboard Viewer Ignore"} {
		if f := winui.RegisterClipboardFormat(name); f != 0 {
			c.private = append(c.private, f)
		}
	}
	var cerr error
	if err := t.Do(func() {
		h, err := t.Create(winui.WindowConfig{Class: "TetherClipboard", Parent: win.HWND_MESSAGE, Proc: c.proc})
		if err != nil {
			cerr = err
			return
		}
		if !win.AddClipboardFormatListener(h) {
			cerr = fmt.Errorf("AddClipboardFormatListener: %w", windows.GetLastError())
			t.Destroy(h)
			return
		}
		c.hwnd = h
	}); err != nil {
		cerr = err
	}
	if cerr != nil {
		t.Close()
		return nil, fmt.Errorf("making the clipboard listener window: %w", cerr)
	}
	return c, nil
}

// proc runs on the window thread.
func (c *winClipboard) proc(hwnd win.HWND, msg uint32, wp, lp uintptr) (uintptr, bool) {
	switch msg {
	case win.WM_CLIPBOARDUPDATE:
		c.tries = 0
		c.check(hwnd)
		return 0, true
	case win.WM_TIMER:
		if wp == clipRetryTimer {
			win.KillTimer(hwnd, clipRetryTimer)
			c.check(hwnd)
			return 0, true
		}
	case win.WM_DESTROY:
		winui.RemoveClipboardFormatListener(hwnd)
	}
	return 0, false
}

// check reports the clipboard's text to the running Watch if another
// program changed it since the last look.
func (c *winClipboard) check(hwnd win.HWND) {
	if c.watch == nil {
		return
	}
	if !win.OpenClipboard(hwnd) {
		// The program that changed it may still hold it open: look
		// again shortly rather than block the message loop.
		if c.tries < clipRetries {
			c.tries++
			win.SetTimer(hwnd, clipRetryTimer, clipRetryEvery, 0)
		} else {
			c.log.Debug("clipboard change not read: another program keeps the clipboard open")
		}
		return
	}
	defer win.CloseClipboard()
	// The content cannot change while we hold the clipboard open, so
	// the sequence number read here is that of the text read below. It
	// skips repeated notices of one change, and changes made before
	// Watch started (their notice can arrive after).
	seq := winui.ClipboardSequenceNumber()
	if seq != 0 && seq == c.lastSeq {
		c.log.Debug("clipboard notice without a change", "seq", seq)
		return
	}
	c.lastSeq = seq
	// Ours: the change our Set made, still owned by our window. The
	// owner alone is not enough: a program that opens the clipboard with
	// no window of its own may leave us the owner of its copy (Wine does).
	if winui.ClipboardOwner() == hwnd && seq == c.ownSeq {
		c.log.Debug("clipboard change is ours", "seq", seq)
		return // our own Set: the technician's text, not the user's
	}
	for _, f := range c.private {
		if win.IsClipboardFormatAvailable(f) {
			c.log.Debug("clipboard change marked private; not sent", "seq", seq)
			return // a password, say: never sent to the technician
		}
	}
	text, ok := clipboardText()
	c.log.Debug("clipboard changed", "seq", seq, "text", ok) // never the text itself
	if ok {
		c.watch.push(text)
	}
}

// clipboardText is the open clipboard's CF_UNICODETEXT; ok false when it
// holds no text.
func clipboardText() (text string, ok bool) {
	if !win.IsClipboardFormatAvailable(win.CF_UNICODETEXT) {
		return "", false
	}
	h := win.HGLOBAL(win.GetClipboardData(win.CF_UNICODETEXT))
	if h == 0 {
		return "", false
	}
	p := win.GlobalLock(h)
	if p == nil {
		return "", false
	}
	defer win.GlobalUnlock(h)
	// Bounded by the block's size: the writer may have left out the NUL.
	u := unsafe.Slice((*uint16)(p), winui.GlobalSize(h)/2)
	return windows.UTF16ToString(u), true
}

// Watch implements session.Clipboard.
func (c *winClipboard) Watch(ctx context.Context, changed func(text string)) error {
	q := &clipQueue{ready: make(chan struct{}, 1)}
	var busy bool
	err := c.t.Do(func() {
		if c.watch != nil {
			busy = true
			return
		}
		c.watch = q
		// What the clipboard holds now is not the user's copy during
		// the session.
		c.lastSeq = winui.ClipboardSequenceNumber()
	})
	if err != nil {
		return fmt.Errorf("watching the clipboard: %w", errClipClosed)
	}
	if busy {
		return errors.New("watching the clipboard: already watched")
	}
	defer c.t.Do(func() {
		if c.watch == q {
			c.watch = nil
		}
	})
	// changed runs here, off the window thread: a slow callback only
	// lets the queue grow.
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.done:
			return fmt.Errorf("watching the clipboard: %w", errClipClosed)
		case <-q.ready:
			for _, text := range q.take() {
				if ctx.Err() != nil {
					return nil
				}
				changed(text)
			}
		}
	}
}

// clipQueue carries texts from the window thread, which must never wait,
// to Watch.
type clipQueue struct {
	mu    sync.Mutex
	texts []string
	ready chan struct{}
}

func (q *clipQueue) push(text string) {
	q.mu.Lock()
	q.texts = append(q.texts, text)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

func (q *clipQueue) take() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	t := q.texts
	q.texts = nil
	return t
}

// Set implements session.Clipboard.
func (c *winClipboard) Set(text string) error {
	u, err := windows.UTF16FromString(text)
	if err != nil {
		return fmt.Errorf("setting the clipboard: %w", err) // a NUL in text
	}
	deadline := time.Now().Add(clipOpenWait)
	for {
		select {
		case <-c.done:
			return fmt.Errorf("setting the clipboard: %w", errClipClosed)
		default:
		}
		var opened bool
		if err2 := c.t.Do(func() { opened, err = c.set(u) }); err2 != nil {
			return fmt.Errorf("setting the clipboard: %w", errClipClosed)
		}
		if opened || time.Now().After(deadline) {
			return err
		}
		// Another program has it open; retried off the window thread
		// so its messages keep flowing.
		time.Sleep(20 * time.Millisecond)
	}
}

// set puts u (UTF-16 with its NUL) on the clipboard; it runs on the
// window thread. opened false: the clipboard was held by another program.
func (c *winClipboard) set(u []uint16) (opened bool, err error) {
	// Opening with our window makes it the owner after EmptyClipboard;
	// with the sequence number the change leaves, that is how check
	// knows this change as ours.
	if !win.OpenClipboard(c.hwnd) {
		return false, fmt.Errorf("opening the clipboard: another program holds it open: %w", windows.GetLastError())
	}
	defer func() {
		win.CloseClipboard()
		if err == nil {
			c.ownSeq = winui.ClipboardSequenceNumber()
		}
	}()
	if !win.EmptyClipboard() {
		return true, fmt.Errorf("emptying the clipboard: %w", windows.GetLastError())
	}
	n := uintptr(len(u)) * 2
	h := win.GlobalAlloc(win.GMEM_MOVEABLE, n)
	if h == 0 {
		return true, fmt.Errorf("allocating %d bytes for the clipboard: %w", n, windows.GetLastError())
	}
	p := win.GlobalLock(h)
	if p == nil {
		err := windows.GetLastError()
		win.GlobalFree(h)
		return true, fmt.Errorf("locking the clipboard memory: %w", err)
	}
	copy(unsafe.Slice((*uint16)(p), len(u)), u)
	win.GlobalUnlock(h)
	if win.SetClipboardData(win.CF_UNICODETEXT, win.HANDLE(h)) == 0 {
		err := windows.GetLastError()
		win.GlobalFree(h) // still ours: the system took it only on success
		return true, fmt.Errorf("setting the clipboard's text: %w", err)
	}
	return true, nil
}

// Close implements session.Clipboard.
func (c *winClipboard) Close() error {
	c.closeOnce.Do(func() {
		close(c.done)
		c.t.Do(func() { c.t.Destroy(c.hwnd) })
		c.t.Close()
	})
	return nil
}
