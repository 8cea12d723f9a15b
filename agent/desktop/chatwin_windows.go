package desktop

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"unsafe"

	"github.com/lxn/win"
	"golang.org/x/sys/windows"

	"github.com/tetherdesk/tether/agent/internal/winui"
	"github.com/tetherdesk/tether/agent/session"
	"github.com/tetherdesk/tether/shared/protocol"
)

// The chat window's controls.
const (
	chatHead       = 100 // "Chat with …"
	chatTranscript = 101 // the lines so far (read-only)
	chatInput      = 102 // the line the user types
	chatFile       = 103 // "Send file…"
	chatStatus     = 104 // transfers' status lines
	chatSend       = win.IDOK

	chatKeep = 64_000 // characters of transcript kept on screen
)

// winChat is the end user's chat window on Windows: plain Win32 controls
// on a thread of its own. Closing it hides it; the session's next line or
// the tray brings it back.
type winChat struct {
	t   *winui.Thread
	cfg session.ChatWindowConfig
	log *slog.Logger

	// Touched on the window thread only.
	hwnd     win.HWND
	ctl      map[int32]win.HWND
	font     win.HFONT
	statuses []chatStatusLine
	files    bool

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup // callbacks under way
}

type chatStatusLine struct{ key, text string }

func newWinChat(cfg session.ChatWindowConfig) (*winChat, error) {
	t, err := winui.Start()
	if err != nil {
		return nil, fmt.Errorf("chat window: %w", err)
	}
	c := &winChat{t: t, cfg: cfg, log: cfg.Logger, ctl: map[int32]win.HWND{}}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if err := t.Do(func() { err = c.create() }); err == nil && c.hwnd == 0 {
		err = winui.ErrClosed
	}
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("chat window: %w", err)
	}
	return c, nil
}

// create makes the window and its controls, hidden until the first Raise.
func (c *winChat) create() error {
	h, err := c.t.Create(winui.WindowConfig{
		Class: "TetherChat", Title: ChatWindowTitle,
		Style: win.WS_OVERLAPPEDWINDOW | win.WS_CLIPCHILDREN,
		X:     win.CW_USEDEFAULT, Y: win.CW_USEDEFAULT, W: 520, H: 400,
		Background: win.HBRUSH(win.COLOR_BTNFACE + 1),
		Proc:       c.proc, Dialog: true,
	})
	if err != nil {
		return err
	}
	c.hwnd = h
	c.font = win.HFONT(win.GetStockObject(win.DEFAULT_GUI_FONT))
	head := "Chat with your technician"
	if c.cfg.Technician != "" {
		head = "Chat with " + c.cfg.Technician
	}
	for _, k := range []struct {
		id          int32
		class, text string
		style, ex   uint32
	}{
		// SS_NOPREFIX: an "&" in a name or a file name is shown as typed.
		{chatHead, "STATIC", head, win.SS_LEFT | winui.SSNoPrefix, 0},
		{chatTranscript, "EDIT", "", win.ES_MULTILINE | win.ES_READONLY | win.ES_AUTOVSCROLL | win.WS_VSCROLL, win.WS_EX_CLIENTEDGE},
		{chatStatus, "STATIC", "", win.SS_LEFT | winui.SSNoPrefix, 0},
		{chatInput, "EDIT", "", win.ES_AUTOHSCROLL | win.WS_TABSTOP, win.WS_EX_CLIENTEDGE},
		{chatSend, "BUTTON", "&Send", win.BS_DEFPUSHBUTTON | win.WS_TABSTOP, 0},
		{chatFile, "BUTTON", "Send &file…", win.BS_PUSHBUTTON | win.WS_TABSTOP | win.WS_DISABLED, 0},
	} {
		ch, err := winui.CreateWindow(k.ex, k.class, k.text, win.WS_CHILD|win.WS_VISIBLE|k.style, 0, 0, 10, 10, h, uintptr(k.id))
		if err != nil {
			c.t.Destroy(h)
			return err
		}
		win.SendMessage(ch, win.WM_SETFONT, uintptr(c.font), 1)
		c.ctl[k.id] = ch
	}
	win.SendMessage(c.ctl[chatInput], win.EM_LIMITTEXT, protocol.MaxChatText, 0)
	// The transcript's own limit (about 32,000 characters by default)
	// would silently drop lines; addLine trims it instead.
	win.SendMessage(c.ctl[chatTranscript], win.EM_LIMITTEXT, 0, 0)
	c.layout()
	return nil
}

// layout places the controls in the client area: the heading, the
// transcript, one line per transfer, and the input row.
func (c *winChat) layout() {
	var r win.RECT
	win.GetClientRect(c.hwnd, &r)
	const pad, rowH, btnW, lineH = 6, 24, 80, 16
	w, h := r.Right, r.Bottom
	stH := int32(len(c.statuses)) * lineH
	inputY := h - pad - rowH
	stY := inputY - pad - stH
	win.MoveWindow(c.ctl[chatHead], pad, pad, w-2*pad, lineH, true)
	win.MoveWindow(c.ctl[chatTranscript], pad, pad+lineH+4, w-2*pad, max(stY-(pad+lineH+4)-pad, 20), true)
	win.MoveWindow(c.ctl[chatStatus], pad, stY, w-2*pad, stH, true)
	win.MoveWindow(c.ctl[chatFile], w-pad-btnW, inputY, btnW, rowH, true)
	win.MoveWindow(c.ctl[chatSend], w-2*pad-2*btnW, inputY, btnW, rowH, true)
	win.MoveWindow(c.ctl[chatInput], pad, inputY, max(w-4*pad-2*btnW, 40), rowH, true)
}

func (c *winChat) proc(h win.HWND, msg uint32, wp, lp uintptr) (uintptr, bool) {
	switch msg {
	case win.WM_SIZE:
		c.layout()
		return 0, true
	case win.WM_GETMINMAXINFO:
		mmi := *(**win.MINMAXINFO)(unsafe.Pointer(&lp))
		mmi.PtMinTrackSize = win.POINT{X: 360, Y: 240}
		return 0, true
	case winui.DMGetDefID:
		return winui.DefID(chatSend), true
	case win.WM_NEXTDLGCTL:
		winui.NextDlgCtl(h, wp, lp)
		return 0, true
	case win.WM_COMMAND:
		switch int32(wp & 0xffff) {
		case chatSend:
			c.send()
		case chatFile:
			c.pickFile()
		case win.IDCANCEL: // Esc
			win.ShowWindow(h, win.SW_HIDE)
		}
		return 0, true
	case win.WM_CLOSE:
		// Hidden, not destroyed: the chat goes on and comes back with the
		// next line.
		win.ShowWindow(h, win.SW_HIDE)
		return 0, true
	}
	return 0, false
}

// send hands the typed line to the session and empties the input.
func (c *winChat) send() {
	text := strings.TrimSpace(winui.Text(c.ctl[chatInput]))
	if text == "" {
		return
	}
	if len(text) > protocol.MaxChatText {
		// Too long for one line (the limit is in bytes, the control's in
		// characters): kept in the input for the user to shorten.
		win.MessageBeep(win.MB_ICONWARNING)
		return
	}
	winui.SetText(c.ctl[chatInput], "")
	if c.cfg.Say != nil {
		c.callback(func() { c.cfg.Say(text) })
	}
}

// pickFile asks for a file to send (the standard Open dialog).
func (c *winChat) pickFile() {
	if !c.files || c.cfg.SendFile == nil {
		return
	}
	buf := make([]uint16, windows.MAX_LONG_PATH)
	ofn := win.OPENFILENAME{
		HwndOwner:  c.hwnd,
		LpstrFile:  &buf[0],
		NMaxFile:   uint32(len(buf)),
		LpstrTitle: windows.StringToUTF16Ptr(SendFileDialogTitle),
		Flags:      win.OFN_EXPLORER | win.OFN_FILEMUSTEXIST | win.OFN_PATHMUSTEXIST | win.OFN_NOCHANGEDIR,
	}
	ofn.LStructSize = uint32(unsafe.Sizeof(ofn))
	if !win.GetOpenFileName(&ofn) {
		return
	}
	path := windows.UTF16ToString(buf)
	c.callback(func() { c.cfg.SendFile(path) })
}

// callback runs f off the window thread, so a slow session never stalls
// the window; Close waits for it.
func (c *winChat) callback(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.wg.Go(f)
}

// do runs f on the window thread unless the window is closed.
func (c *winChat) do(f func()) {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if !closed {
		if err := c.t.Do(f); err != nil {
			c.log.Debug("chat window gone", "error", err)
		}
	}
}

// Add implements session.ChatWindow.
func (c *winChat) Add(l protocol.ChatLine) {
	from := l.From + ": "
	if l.Role == protocol.ChatUser {
		from = "You: "
	}
	// An EDIT control breaks lines at CR LF only; the text is shown as
	// typed, never interpreted.
	text := strings.ReplaceAll(strings.ReplaceAll(l.Text, "\r\n", "\n"), "\n", "\r\n")
	line := l.Time.Local().Format("15:04") + " " + from + text + "\r\n"
	c.do(func() {
		t := c.ctl[chatTranscript]
		n := win.SendMessage(t, win.WM_GETTEXTLENGTH, 0, 0)
		if n > chatKeep {
			// The oldest half goes; the session's history keeps it all.
			win.SendMessage(t, win.EM_SETSEL, 0, n/2)
			win.SendMessage(t, win.EM_REPLACESEL, 0, uintptr(unsafe.Pointer(winui.UTF16("…\r\n"))))
			n = win.SendMessage(t, win.WM_GETTEXTLENGTH, 0, 0)
		}
		win.SendMessage(t, win.EM_SETSEL, n, n)
		win.SendMessage(t, win.EM_REPLACESEL, 0, uintptr(unsafe.Pointer(winui.UTF16(line))))
		win.SendMessage(t, win.EM_SCROLLCARET, 0, 0)
		c.show()
	})
}

// Status implements session.ChatWindow.
func (c *winChat) Status(key, text string) {
	c.do(func() {
		i := 0
		for i < len(c.statuses) && c.statuses[i].key != key {
			i++
		}
		switch {
		case i < len(c.statuses) && text == "":
			c.statuses = append(c.statuses[:i], c.statuses[i+1:]...)
		case i < len(c.statuses):
			c.statuses[i].text = text
		case text != "":
			c.statuses = append(c.statuses, chatStatusLine{key, text})
		}
		lines := make([]string, len(c.statuses))
		for i, s := range c.statuses {
			lines[i] = s.text
		}
		winui.SetText(c.ctl[chatStatus], strings.Join(lines, "\r\n"))
		c.layout()
	})
}

// AllowFiles implements session.ChatWindow.
func (c *winChat) AllowFiles(on bool) {
	c.do(func() {
		c.files = on
		win.EnableWindow(c.ctl[chatFile], on)
	})
}

// Raise implements session.ChatWindow: the user asked for the window.
func (c *winChat) Raise() { c.do(c.raise) }

// show brings up the window for a new line without taking the focus:
// what the user is typing elsewhere must not land in the chat (and be
// sent with the next Enter). The taskbar button flashes instead.
func (c *winChat) show() {
	if !win.IsWindowVisible(c.hwnd) {
		win.ShowWindow(c.hwnd, win.SW_SHOWNOACTIVATE)
	}
	if win.GetForegroundWindow() != c.hwnd {
		winui.Flash(c.hwnd)
	}
}

func (c *winChat) raise() {
	win.ShowWindow(c.hwnd, win.SW_SHOWNORMAL)
	win.SetForegroundWindow(c.hwnd)
	win.SetFocus(c.ctl[chatInput])
}

// Close implements session.ChatWindow.
func (c *winChat) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.t.Close()
	c.wg.Wait()
	return nil
}
