//go:build windows

package winui

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf16"
	"unsafe"

	"github.com/lxn/win"
)

// Dialog is a small modal-looking question window: a text, optionally a
// choice among options (radio buttons) and an entry field, a countdown,
// and two buttons. It stays on top and takes the foreground, as a remote
// support request must be seen.
type Dialog struct {
	Title, Text string
	// Choices are radio buttons, the first one selected; fewer than two
	// show none.
	Choices []string
	// Entry shows an input field holding EntryText; Format, if set,
	// rewrites what is typed as it is typed (e.g. 123-456-789).
	Entry     bool
	EntryText string
	Format    func(string) string
	OK        string // default button
	Cancel    string // Esc and the close box too
	// Expires, if set, shows "This request expires in N seconds." counting
	// down; the caller's ctx carries the deadline itself.
	Expires time.Time
	// Consent makes Cancel the default button and the focus, and keeps
	// OK disabled for ConsentDelay after the dialog appears: a key the
	// user was typing elsewhere must not grant anything.
	Consent bool
}

// ConsentDelay is how long a Consent dialog's OK stays disabled.
const ConsentDelay = time.Second

// DialogResult is the user's answer.
type DialogResult struct {
	OK     bool
	Choice int    // index into Choices
	Text   string // the entry's text
}

// Control ids of a Dialog's window, for tests that drive it.
const (
	DialogText      = 200
	DialogCountdown = 201
	DialogEntry     = 202
	DialogChoice0   = 210 // DialogChoice0+i is Choices[i]
	DialogOK        = win.IDOK
	DialogCancel    = win.IDCANCEL
)

// DialogClass is the window class of every Dialog.
const DialogClass = "TetherDialog"

// Timers of a dialog window.
const (
	countdownTimer = 1
	armTimer       = 2
)

// openDialogs counts the dialogs on screen, for DialogShown.
var openDialogs atomic.Int32

// DialogShown reports whether a dialog is on the screen: the Guidance
// overlay then stands aside, so no mark is drawn over a question.
func DialogShown() bool { return openDialogs.Load() > 0 }

// ShowDialog shows d until it is answered or ctx ends (then it closes
// itself and returns ctx's error).
func ShowDialog(ctx context.Context, d Dialog) (DialogResult, error) {
	t, err := Start()
	if err != nil {
		return DialogResult{}, err
	}
	defer t.Close()
	openDialogs.Add(1)
	defer openDialogs.Add(-1)
	dw := &dialogWindow{d: d, t: t, done: make(chan DialogResult, 1)}
	if err := t.Do(func() { err = dw.create() }); err != nil {
		return DialogResult{}, err
	}
	if err != nil {
		return DialogResult{}, fmt.Errorf("showing %q: %w", d.Title, err)
	}
	select {
	case r := <-dw.done:
		return r, nil
	case <-ctx.Done():
		return DialogResult{}, ctx.Err()
	}
}

type dialogWindow struct {
	d    Dialog
	t    *Thread
	hwnd win.HWND
	ctl  map[int32]win.HWND
	done chan DialogResult
	// formatting is set while the entry is rewritten, so the change that
	// causes is not formatted again.
	formatting bool
}

func (dw *dialogWindow) create() error {
	font := win.HFONT(win.GetStockObject(win.DEFAULT_GUI_FONT))
	const pad, width, lineH, rowH, btnW = 12, 440, 18, 24, 110
	textH := TextHeight(font, dw.d.Text, width-2*pad)
	y := int32(pad) + textH + pad
	type item struct {
		id          int32
		class, text string
		style, ex   uint32
		x, y, w, h  int32
	}
	// SS_NOPREFIX: an "&" in a name is shown, not taken for a shortcut.
	items := []item{{DialogText, "STATIC", dw.d.Text, win.SS_LEFT | SSNoPrefix, 0, pad, pad, width - 2*pad, textH}}
	if len(dw.d.Choices) > 1 {
		for i, c := range dw.d.Choices {
			st := uint32(win.BS_AUTORADIOBUTTON)
			if i == 0 {
				st |= win.WS_GROUP | win.WS_TABSTOP
			}
			items = append(items, item{DialogChoice0 + int32(i), "BUTTON", c, st, 0, pad + 8, y, width - 2*pad - 8, lineH + 2})
			y += lineH + 4
		}
		y += pad / 2
	}
	if dw.d.Entry {
		items = append(items, item{DialogEntry, "EDIT", dw.d.EntryText, win.ES_AUTOHSCROLL | win.WS_TABSTOP | win.WS_GROUP, win.WS_EX_CLIENTEDGE, pad, y, width - 2*pad, rowH})
		y += rowH + pad
	}
	if !dw.d.Expires.IsZero() {
		items = append(items, item{DialogCountdown, "STATIC", dw.countdown(), win.SS_LEFT | SSNoPrefix, 0, pad, y, width - 2*pad, lineH})
		y += lineH + pad
	}
	okStyle, cancelStyle := uint32(win.BS_DEFPUSHBUTTON), uint32(win.BS_PUSHBUTTON)
	if dw.d.Consent {
		okStyle, cancelStyle = win.BS_PUSHBUTTON|win.WS_DISABLED, win.BS_DEFPUSHBUTTON
	}
	items = append(items,
		item{DialogOK, "BUTTON", dw.d.OK, okStyle | win.WS_TABSTOP | win.WS_GROUP, 0, width - 2*pad - 2*btnW, y, btnW, rowH + 4},
		item{DialogCancel, "BUTTON", dw.d.Cancel, cancelStyle | win.WS_TABSTOP, 0, width - pad - btnW, y, btnW, rowH + 4})
	y += rowH + 4 + pad

	// The window's outer size for that client area, centred on the
	// primary screen.
	style := uint32(win.WS_POPUP | win.WS_CAPTION | win.WS_SYSMENU)
	ex := uint32(win.WS_EX_TOPMOST | win.WS_EX_DLGMODALFRAME)
	r := win.RECT{Right: width, Bottom: y}
	AdjustWindowRectEx(&r, style, false, ex)
	w, h := r.Right-r.Left, r.Bottom-r.Top
	x0 := (win.GetSystemMetrics(win.SM_CXSCREEN) - w) / 2
	y0 := (win.GetSystemMetrics(win.SM_CYSCREEN) - h) / 3
	hwnd, err := dw.t.Create(WindowConfig{Class: DialogClass, Title: dw.d.Title, Style: style, ExStyle: ex,
		X: x0, Y: y0, W: w, H: h, Background: win.HBRUSH(win.COLOR_BTNFACE + 1), Proc: dw.proc, Dialog: true})
	if err != nil {
		return err
	}
	dw.hwnd = hwnd
	dw.ctl = map[int32]win.HWND{}
	for _, it := range items {
		c, err := CreateWindow(it.ex, it.class, it.text, win.WS_CHILD|win.WS_VISIBLE|it.style, it.x, it.y, it.w, it.h, hwnd, uintptr(it.id))
		if err != nil {
			dw.t.Destroy(hwnd)
			return err
		}
		win.SendMessage(c, win.WM_SETFONT, uintptr(font), 1)
		dw.ctl[it.id] = c
	}
	if len(dw.d.Choices) > 1 {
		win.SendMessage(dw.ctl[DialogChoice0], win.BM_SETCHECK, win.BST_CHECKED, 0)
	}
	if !dw.d.Expires.IsZero() {
		win.SetTimer(hwnd, countdownTimer, 1000, 0)
	}
	if dw.d.Consent {
		win.SetTimer(hwnd, armTimer, uint32(ConsentDelay/time.Millisecond), 0)
	}
	win.ShowWindow(hwnd, win.SW_SHOWNORMAL)
	win.SetForegroundWindow(hwnd)
	switch e := dw.ctl[DialogEntry]; {
	case e != 0:
		win.SetFocus(e)
		win.SendMessage(e, win.EM_SETSEL, 0, ^uintptr(0))
	case dw.d.Consent:
		win.SetFocus(dw.ctl[DialogCancel])
	default:
		win.SetFocus(dw.ctl[DialogOK])
	}
	return nil
}

// TextHeight is the height text needs, wrapped to width in font.
func TextHeight(font win.HFONT, text string, width int32) int32 {
	dc := win.GetDC(0)
	defer win.ReleaseDC(0, dc)
	old := win.SelectObject(dc, win.HGDIOBJ(font))
	defer win.SelectObject(dc, old)
	r := win.RECT{Right: width}
	s := UTF16Slice(text)
	win.DrawTextEx(dc, &s[0], int32(len(s)-1), &r, win.DT_CALCRECT|win.DT_WORDBREAK|win.DT_NOPREFIX, nil)
	return max(r.Bottom-r.Top, 18)
}

func (dw *dialogWindow) countdown() string {
	s := int(time.Until(dw.d.Expires).Round(time.Second) / time.Second)
	if s == 1 {
		return "This request expires in 1 second."
	}
	return fmt.Sprintf("This request expires in %d seconds.", max(s, 0))
}

func (dw *dialogWindow) proc(h win.HWND, msg uint32, wp, lp uintptr) (uintptr, bool) {
	switch msg {
	case win.WM_TIMER:
		switch wp {
		case countdownTimer:
			SetText(dw.ctl[DialogCountdown], dw.countdown())
		case armTimer:
			win.KillTimer(h, armTimer)
			win.EnableWindow(dw.ctl[DialogOK], true)
		}
		return 0, true
	case DMGetDefID:
		if dw.d.Consent {
			return DefID(DialogCancel), true
		}
		return DefID(DialogOK), true
	case win.WM_NEXTDLGCTL:
		NextDlgCtl(h, wp, lp)
		return 0, true
	case win.WM_COMMAND:
		id, code := int32(wp&0xffff), uint32(wp>>16&0xffff)
		switch {
		case id == DialogOK && win.IsWindowEnabled(dw.ctl[DialogOK]):
			dw.answer(true)
		case id == DialogCancel:
			dw.answer(false)
		case id == DialogEntry && code == win.EN_CHANGE && dw.d.Format != nil && !dw.formatting:
			e := dw.ctl[DialogEntry]
			if s := Text(e); dw.d.Format(s) != s {
				// The caret stays after the same letters and digits: a
				// correction in the middle does not jump to the end.
				var start uint32
				win.SendMessage(e, win.EM_GETSEL, uintptr(unsafe.Pointer(&start)), 0)
				keep := alnumBefore(s, int(start))
				f := dw.d.Format(s)
				dw.formatting = true
				SetText(e, f)
				at := caretAfter(f, keep)
				win.SendMessage(e, win.EM_SETSEL, uintptr(at), uintptr(at))
				dw.formatting = false
			}
		}
		return 0, true
	case win.WM_CLOSE:
		dw.answer(false)
		return 0, true
	}
	return 0, false
}

// answer reports the user's answer once and closes the window.
func (dw *dialogWindow) answer(ok bool) {
	r := DialogResult{OK: ok}
	for i := range dw.d.Choices {
		if c := dw.ctl[DialogChoice0+int32(i)]; c != 0 && win.SendMessage(c, win.BM_GETCHECK, 0, 0) == win.BST_CHECKED {
			r.Choice = i
		}
	}
	if e := dw.ctl[DialogEntry]; e != 0 {
		r.Text = Text(e)
	}
	select {
	case dw.done <- r:
	default:
	}
	win.KillTimer(dw.hwnd, countdownTimer)
	dw.t.Destroy(dw.hwnd)
}

// DMGetDefID is the message (DM_GETDEFID) a window with Dialog set must
// answer with DefID(its default button) for Enter to press that button.
const DMGetDefID = win.WM_USER

// DefID is the answer to DMGetDefID for button id.
func DefID(id int32) uintptr { return 0x534B<<16 | uintptr(id) } // DC_HASDEFID

// SSNoPrefix (SS_NOPREFIX) shows "&" in a static control as itself.
const SSNoPrefix = 0x80

// alnumBefore counts the letters and digits among the first n UTF-16
// units of s.
func alnumBefore(s string, n int) int {
	c := 0
	for _, r := range s {
		if n <= 0 {
			break
		}
		n -= len(utf16.Encode([]rune{r}))
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			c++
		}
	}
	return c
}

// caretAfter is the UTF-16 offset in s just after its k-th letter or
// digit (0: the start).
func caretAfter(s string, k int) int {
	off := 0
	for _, r := range s {
		if k == 0 {
			break
		}
		off += len(utf16.Encode([]rune{r}))
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			k--
		}
	}
	return off
}
