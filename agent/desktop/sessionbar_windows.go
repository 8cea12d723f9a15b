package desktop

import (
	"fmt"
	"log/slog"
	"unsafe"

	"github.com/lxn/win"

	"github.com/tetherdesk/tether/agent/internal/winui"
	"github.com/tetherdesk/tether/agent/session"
)

// The session bar's buttons, and its size.
const (
	barChat  = 301
	barEnd   = 302
	barH     = 34
	barBtnW  = 96
	barMinW  = 420
	barTextX = 30
	barDotR  = 6
	barPad   = 6

	maNoActivate = 3 // MA_NOACTIVATE
)

// winBar is the session bar on Windows: a small topmost tool window at
// the top of the monitor the pointer is on, never activated (clicks on it
// leave the focus where it was), dragged by anything but its buttons.
type winBar struct {
	t    *winui.Thread
	l    session.LiveInfo
	hwnd win.HWND
	font win.HFONT

	// On the window thread only.
	who, mode string
	moved     bool
}

func newWinBar(l session.LiveInfo, log *slog.Logger) (*winBar, error) {
	t, err := winui.Start()
	if err != nil {
		return nil, fmt.Errorf("session bar: %w", err)
	}
	b := &winBar{t: t, l: l}
	if err := t.Do(func() { err = b.create() }); err != nil || b.hwnd == 0 {
		t.Close()
		if err == nil {
			err = winui.ErrClosed
		}
		return nil, fmt.Errorf("session bar: %w", err)
	}
	return b, nil
}

func (b *winBar) create() error {
	b.font = win.HFONT(win.GetStockObject(win.DEFAULT_GUI_FONT))
	h, err := b.t.Create(winui.WindowConfig{
		Class: "TetherSessionBar", Title: SessionBarTitle,
		Style:   win.WS_POPUP | win.WS_BORDER,
		ExStyle: win.WS_EX_TOPMOST | win.WS_EX_TOOLWINDOW | win.WS_EX_NOACTIVATE,
		W:       barMinW, H: barH,
		Proc: b.proc,
	})
	if err != nil {
		return err
	}
	b.hwnd = h
	for _, c := range []struct {
		id   int32
		text string
	}{{barChat, "Chat"}, {barEnd, "End session"}} {
		ch, err := winui.CreateWindow(0, "BUTTON", c.text, win.WS_CHILD|win.BS_OWNERDRAW, 0, 0, barBtnW, barH-2*barPad, h, uintptr(c.id))
		if err != nil {
			b.t.Destroy(h)
			return err
		}
		win.SendMessage(ch, win.WM_SETFONT, uintptr(b.font), 0)
	}
	return nil
}

// layout sizes the bar to its text and buttons and, until the user has
// moved it, puts it at the top centre of the pointer's monitor.
func (b *winBar) layout() {
	dc := win.GetDC(b.hwnd)
	old := win.SelectObject(dc, win.HGDIOBJ(b.font))
	text := winui.UTF16Slice(b.who + "  " + b.mode)
	var sz win.SIZE
	win.GetTextExtentPoint32(dc, &text[0], int32(len(text)-1), &sz)
	win.SelectObject(dc, old)
	win.ReleaseDC(b.hwnd, dc)

	chat, end := win.GetDlgItem(b.hwnd, barChat), win.GetDlgItem(b.hwnd, barEnd)
	x := barTextX + sz.CX + 3*barPad
	for _, c := range []win.HWND{chat, end} {
		if win.IsWindowVisible(c) {
			win.MoveWindow(c, x, barPad-1, barBtnW, barH-2*barPad, true)
			x += barBtnW + barPad
		}
	}
	w := max(x+barPad, barMinW/2)
	var r win.RECT
	win.GetWindowRect(b.hwnd, &r)
	left, top := r.Left, r.Top
	if !b.moved {
		var pt win.POINT
		win.GetCursorPos(&pt)
		wa := winui.WorkArea(pt)
		left, top = wa.Left+(wa.Right-wa.Left-w)/2, wa.Top
	}
	win.SetWindowPos(b.hwnd, win.HWND_TOPMOST, left, top, w, barH, win.SWP_NOACTIVATE|win.SWP_SHOWWINDOW)
	win.InvalidateRect(b.hwnd, nil, true)
}

func (b *winBar) proc(h win.HWND, msg uint32, wp, lp uintptr) (uintptr, bool) {
	switch msg {
	case win.WM_MOUSEACTIVATE:
		return maNoActivate, true
	case win.WM_NCHITTEST:
		// Anywhere but the buttons (their own windows) drags the bar.
		return win.HTCAPTION, true
	case win.WM_MOVING, win.WM_ENTERSIZEMOVE:
		b.moved = true
		return 0, false
	case win.WM_ERASEBKGND:
		return 1, true // WM_PAINT fills it all
	case win.WM_PAINT:
		b.paint(h)
		return 0, true
	case win.WM_DRAWITEM:
		b.drawButton(*(**win.DRAWITEMSTRUCT)(unsafe.Pointer(&lp)))
		return 1, true
	case win.WM_COMMAND:
		switch int32(wp & 0xffff) {
		case barEnd:
			if b.l.MayEnd && b.l.End != nil {
				go b.l.End()
			}
		case barChat:
			if b.l.OpenChat != nil {
				go b.l.OpenChat()
			}
		}
		return 0, true
	}
	return 0, false
}

func (b *winBar) paint(h win.HWND) {
	var ps win.PAINTSTRUCT
	dc := win.BeginPaint(h, &ps)
	defer win.EndPaint(h, &ps)
	var r win.RECT
	win.GetClientRect(h, &r)
	bg := winui.SolidBrush(sessionBarBg)
	winui.FillRect(dc, &r, bg)
	win.DeleteObject(win.HGDIOBJ(bg))
	dot := winui.SolidBrush(sessionBarDot)
	oldB := win.SelectObject(dc, win.HGDIOBJ(dot))
	oldP := win.SelectObject(dc, win.GetStockObject(win.NULL_PEN))
	cy := r.Bottom / 2
	win.Ellipse(dc, barPad+4, cy-barDotR, barPad+4+2*barDotR, cy+barDotR)
	win.SelectObject(dc, oldP)
	win.SelectObject(dc, oldB)
	win.DeleteObject(win.HGDIOBJ(dot))
	old := win.SelectObject(dc, win.HGDIOBJ(b.font))
	win.SetBkMode(dc, win.TRANSPARENT)
	win.SetTextColor(dc, winui.ColorRef(0xffffff))
	text := winui.UTF16Slice(b.who + "  " + b.mode)
	tr := win.RECT{Left: barTextX, Top: 0, Right: r.Right, Bottom: r.Bottom}
	win.DrawTextEx(dc, &text[0], int32(len(text)-1), &tr, win.DT_SINGLELINE|win.DT_VCENTER|win.DT_NOPREFIX, nil)
	win.SelectObject(dc, old)
}

// drawButton paints Chat grey and End session red, as on the other
// platforms; pressed, a shade darker.
func (b *winBar) drawButton(d *win.DRAWITEMSTRUCT) {
	rgb := uint32(0x374151)
	if int32(d.CtlID) == barEnd {
		rgb = SessionBarEnd
	}
	if d.ItemState&win.ODS_SELECTED != 0 {
		rgb = rgb >> 1 & 0x7f7f7f
	}
	br := winui.SolidBrush(rgb)
	winui.FillRect(d.HDC, &d.RcItem, br)
	win.DeleteObject(win.HGDIOBJ(br))
	win.SetBkMode(d.HDC, win.TRANSPARENT)
	win.SetTextColor(d.HDC, winui.ColorRef(0xffffff))
	text := winui.UTF16Slice(winui.Text(d.HwndItem))
	r := d.RcItem
	win.DrawTextEx(d.HDC, &text[0], int32(len(text)-1), &r, win.DT_SINGLELINE|win.DT_VCENTER|win.DT_CENTER|win.DT_NOPREFIX, nil)
}

// update implements sessionBar; after Close it does nothing (Do refuses).
func (b *winBar) update(who, mode string, chat, end bool) {
	_ = b.t.Do(func() {
		b.who, b.mode = who, mode
		show := func(id int32, on bool) {
			cmd := int32(win.SW_HIDE)
			if on {
				cmd = win.SW_SHOWNOACTIVATE
			}
			win.ShowWindow(win.GetDlgItem(b.hwnd, id), cmd)
		}
		show(barChat, chat)
		show(barEnd, end)
		b.layout()
	})
}

// Close implements sessionBar; closing the thread twice is harmless.
func (b *winBar) Close() error {
	b.t.Close()
	return nil
}
