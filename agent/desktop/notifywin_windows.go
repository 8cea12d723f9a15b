package desktop

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"unsafe"

	"github.com/lxn/win"

	"github.com/tetherdesk/tether/agent/internal/winui"
	"github.com/tetherdesk/tether/agent/ipc"
	"github.com/tetherdesk/tether/shared/protocol"
)

// The notification window's controls. Buttons are noticeButton0 + i.
const (
	noticeFrom     = 200
	noticeTitle    = 201
	noticeMessage  = 202
	noticeLater    = 203 // "Remind me in"
	noticeInterval = 204 // the interval combo box
	noticePostpone = 205
	noticeClose    = 206 // read-only: Close; no buttons: OK
	noticeButton0  = 210
)

// winNotice is an end-user notification as a Win32 window on a thread of
// its own: the texts are controls' texts (SS_NOPREFIX, a read-only
// EDIT), never interpreted.
type winNotice struct {
	t        *winui.Thread
	n        ipc.Notification
	readOnly bool
	res      chan ipc.NotifyResult
	done     chan struct{}

	// Touched on the window thread only.
	hwnd  win.HWND
	ctl   map[int32]win.HWND
	font  win.HFONT
	bold  win.HFONT
	brush win.HBRUSH

	mu       sync.Mutex
	finished bool
}

// NewNotificationWindow shows n; readOnly shows it again for reading,
// with a Close button only.
func NewNotificationWindow(n ipc.Notification, readOnly bool, _ *slog.Logger) (NotificationWindow, error) {
	t, err := winui.Start()
	if err != nil {
		return nil, fmt.Errorf("notification window: %w", err)
	}
	w := &winNotice{t: t, n: n, readOnly: readOnly, res: make(chan ipc.NotifyResult, 8), done: make(chan struct{}),
		ctl: map[int32]win.HWND{}}
	if err := t.Do(func() { err = w.create() }); err == nil && w.hwnd == 0 {
		err = winui.ErrClosed
	}
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("notification window: %w", err)
	}
	w.emit(ipc.NotifyResult{Kind: protocol.NotifyEventShown})
	return w, nil
}

func rgbOf(s string) uint32 {
	var v uint32
	fmt.Sscanf(strings.TrimPrefix(s, "#"), "%06x", &v)
	return v
}

func (w *winNotice) create() error {
	const width, pad = 420, 14
	wa := winui.WorkArea(win.POINT{})
	h, err := w.t.Create(winui.WindowConfig{
		Class: "TetherNotification", Title: NotificationWindowTitle + " \u2014 " + w.n.Title,
		Style:   win.WS_POPUP | win.WS_CAPTION | win.WS_SYSMENU | win.WS_CLIPCHILDREN,
		ExStyle: win.WS_EX_TOPMOST | win.WS_EX_TOOLWINDOW,
		X:       wa.Right - width - 16, Y: wa.Top + 16, W: width, H: 240,
		Background: win.HBRUSH(win.COLOR_WINDOW + 1),
		Proc:       w.proc, Dialog: true,
	})
	if err != nil {
		return err
	}
	w.hwnd = h
	w.font = win.HFONT(win.GetStockObject(win.DEFAULT_GUI_FONT))
	var lf win.LOGFONT
	win.GetObject(win.HGDIOBJ(w.font), unsafe.Sizeof(lf), unsafe.Pointer(&lf))
	lf.LfWeight, lf.LfHeight = win.FW_BOLD, lf.LfHeight*13/10
	w.bold = win.CreateFontIndirect(&lf)
	w.brush = winui.SolidBrush(rgbOf(noticeAccent(w.n)))
	// An EDIT control breaks lines at CR LF only.
	msg := strings.ReplaceAll(strings.ReplaceAll(w.n.Message, "\r\n", "\n"), "\n", "\r\n")
	type control struct {
		id          int32
		class, text string
		style, ex   uint32
	}
	cs := []control{
		{noticeFrom, "STATIC", noticeSender(w.n), win.SS_LEFT | winui.SSNoPrefix, 0},
		{noticeTitle, "STATIC", w.n.Title, win.SS_LEFT | winui.SSNoPrefix, 0},
		{noticeMessage, "EDIT", msg, win.ES_MULTILINE | win.ES_READONLY | win.ES_AUTOVSCROLL | win.WS_VSCROLL | win.WS_TABSTOP, 0},
	}
	switch {
	case w.readOnly:
		cs = append(cs, control{noticeClose, "BUTTON", "&Close", win.BS_DEFPUSHBUTTON | win.WS_TABSTOP, 0})
	default:
		for i, b := range w.n.Buttons {
			style := uint32(win.BS_PUSHBUTTON | win.WS_TABSTOP)
			if i == 0 {
				style = win.BS_DEFPUSHBUTTON | win.WS_TABSTOP
			}
			cs = append(cs, control{noticeButton0 + int32(i), "BUTTON", strings.ReplaceAll(b.Label, "&", "&&"), style, 0})
		}
		if len(w.n.Buttons) == 0 {
			cs = append(cs, control{noticeClose, "BUTTON", "OK", win.BS_DEFPUSHBUTTON | win.WS_TABSTOP, 0})
		}
		if len(w.n.Postpone) > 0 {
			cs = append(cs, control{noticeLater, "STATIC", "Remind me in", win.SS_LEFT | winui.SSNoPrefix, 0},
				control{noticeInterval, "COMBOBOX", "", win.CBS_DROPDOWNLIST | win.WS_TABSTOP | win.WS_VSCROLL, 0},
				control{noticePostpone, "BUTTON", "&Postpone", win.BS_PUSHBUTTON | win.WS_TABSTOP, 0})
		}
	}
	for _, c := range cs {
		ch, err := winui.CreateWindow(c.ex, c.class, c.text, win.WS_CHILD|win.WS_VISIBLE|c.style, 0, 0, 10, 10, h, uintptr(c.id))
		if err != nil {
			w.t.Destroy(h)
			return err
		}
		win.SendMessage(ch, win.WM_SETFONT, uintptr(w.font), 1)
		w.ctl[c.id] = ch
	}
	win.SendMessage(w.ctl[noticeTitle], win.WM_SETFONT, uintptr(w.bold), 1)
	if cb := w.ctl[noticeInterval]; cb != 0 {
		for _, s := range w.n.Postpone {
			win.SendMessage(cb, win.CB_ADDSTRING, 0, uintptr(unsafe.Pointer(winui.UTF16(intervalText(s)))))
		}
		win.SendMessage(cb, win.CB_SETCURSEL, 0, 0)
	}
	w.layout(width, pad)
	win.ShowWindow(h, win.SW_SHOWNOACTIVATE)
	winui.Flash(h)
	return nil
}

// layout sizes the window to its message and places the controls.
func (w *winNotice) layout(width, pad int32) {
	const band, lineH, rowH, btnW = 6, 18, 26, 100
	inner := width - 2*pad - 16
	y := int32(band + 8)
	win.MoveWindow(w.ctl[noticeFrom], pad, y, inner, lineH, true)
	y += lineH
	titleH := winui.TextHeight(w.bold, w.n.Title, inner) + 4
	win.MoveWindow(w.ctl[noticeTitle], pad, y, inner, titleH, true)
	y += titleH + 6
	msgH := min(max(winui.TextHeight(w.font, w.n.Message, inner-20)+8, 2*lineH), 14*lineH)
	win.MoveWindow(w.ctl[noticeMessage], pad, y, inner, msgH, true)
	y += msgH + 10
	if w.ctl[noticeInterval] != 0 {
		win.MoveWindow(w.ctl[noticeLater], pad, y+4, 90, lineH, true)
		win.MoveWindow(w.ctl[noticeInterval], pad+92, y, 120, 200, true)
		win.MoveWindow(w.ctl[noticePostpone], pad+218, y, 90, rowH, true)
		y += rowH + 8
	}
	x := pad + inner
	for _, id := range []int32{noticeButton0, noticeButton0 + 1, noticeButton0 + 2, noticeClose} {
		if c := w.ctl[id]; c != 0 {
			x -= btnW
			win.MoveWindow(c, x, y, btnW, rowH, true)
			x -= 8
		}
	}
	y += rowH + pad
	r := win.RECT{Right: width, Bottom: y}
	winui.AdjustWindowRectEx(&r, win.WS_POPUP|win.WS_CAPTION|win.WS_SYSMENU, false, win.WS_EX_TOPMOST|win.WS_EX_TOOLWINDOW)
	wa := winui.WorkArea(win.POINT{})
	hgt := r.Bottom - r.Top
	win.SetWindowPos(w.hwnd, 0, wa.Right-width-16, wa.Bottom-hgt-16, width, hgt, win.SWP_NOZORDER|win.SWP_NOACTIVATE)
}

func (w *winNotice) proc(h win.HWND, msg uint32, wp, lp uintptr) (uintptr, bool) {
	switch msg {
	case win.WM_PAINT:
		var ps win.PAINTSTRUCT
		dc := win.BeginPaint(h, &ps)
		var r win.RECT
		win.GetClientRect(h, &r)
		r.Bottom = 6
		winui.FillRect(dc, &r, w.brush)
		win.EndPaint(h, &ps)
		return 0, true
	case win.WM_CTLCOLORSTATIC:
		// The read-only message and the labels on the window's colour.
		win.SetBkMode(win.HDC(wp), win.TRANSPARENT)
		return uintptr(win.GetSysColorBrush(win.COLOR_WINDOW)), true
	case winui.DMGetDefID:
		if w.readOnly || len(w.n.Buttons) == 0 {
			return winui.DefID(noticeClose), true
		}
		return winui.DefID(noticeButton0), true
	case win.WM_NEXTDLGCTL:
		winui.NextDlgCtl(h, wp, lp)
		return 0, true
	case win.WM_COMMAND:
		id := int32(wp & 0xffff)
		switch {
		case id >= noticeButton0 && id < noticeButton0+int32(len(w.n.Buttons)) && !w.readOnly:
			w.finish(ipc.NotifyResult{Kind: protocol.NotifyEventPressed, Value: w.n.Buttons[id-noticeButton0].Value})
		case id == noticePostpone && !w.readOnly:
			i := int(win.SendMessage(w.ctl[noticeInterval], win.CB_GETCURSEL, 0, 0))
			if i >= 0 && i < len(w.n.Postpone) {
				w.finish(ipc.NotifyResult{Kind: protocol.NotifyEventPostponed, IntervalS: w.n.Postpone[i]})
			}
		case id == noticeClose:
			w.finish(ipc.NotifyResult{Kind: protocol.NotifyEventDismissed})
		case id == win.IDCANCEL && w.readOnly: // Esc closes a window opened to read
			w.finish(ipc.NotifyResult{Kind: protocol.NotifyEventDismissed})
		}
		return 0, true
	case win.WM_CLOSE:
		w.finish(ipc.NotifyResult{Kind: protocol.NotifyEventDismissed})
		return 0, true
	case win.WM_DESTROY:
		win.DeleteObject(win.HGDIOBJ(w.bold))
		win.DeleteObject(win.HGDIOBJ(w.brush))
		return 0, false
	}
	return 0, false
}

// finish reports the user's answer (nothing for a read-only window) and
// takes the window down.
func (w *winNotice) finish(r ipc.NotifyResult) {
	if !w.readOnly {
		w.emit(r)
	}
	win.ShowWindow(w.hwnd, win.SW_HIDE)
	go w.Close()
}

func (w *winNotice) emit(r ipc.NotifyResult) {
	r.ID, r.Version = w.n.ID, w.n.Version
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.finished {
		select {
		case w.res <- r:
		default:
		}
	}
}

func (w *winNotice) Results() <-chan ipc.NotifyResult { return w.res }
func (w *winNotice) Done() <-chan struct{}            { return w.done }

// Close takes the window down; Results is closed after it.
func (w *winNotice) Close() error {
	w.mu.Lock()
	if w.finished {
		w.mu.Unlock()
		<-w.done
		return nil
	}
	w.finished = true
	close(w.res)
	w.mu.Unlock()
	w.t.Close()
	close(w.done)
	return nil
}
