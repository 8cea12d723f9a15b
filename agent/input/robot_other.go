//go:build cgo && (windows || darwin)

package input

import (
	"github.com/go-vgo/robotgo"
)

// robot is the Windows and macOS driver: robotgo for everything.
type robot struct{}

func newDriver(Config) (driver, error) { return robot{}, nil }

func (robot) move(x, y int) error              { return rgMove(x, y) }
func (robot) button(b int, down bool) error    { return rgButton(b, down) }
func (robot) scroll(dx, dy int) error          { return rgScroll(dx, dy) }
func (robot) key(name string, down bool) error { return rgKey(name, down) }
func (robot) ctrlAltDel() error                { return errCtrlAltDel }
func (robot) close() error                     { return nil }

// text types s with robotgo (KEYEVENTF_UNICODE on Windows, unicode
// keyboard events on macOS). Line breaks and tabs are keys.
func (robot) text(s string) error {
	start := 0
	for i, r := range s {
		if r != '\n' && r != '\t' {
			continue
		}
		if i > start {
			robotgo.TypeStr(s[start:i])
		}
		k := "enter"
		if r == '\t' {
			k = "tab"
		}
		if err := robotgo.KeyTap(k); err != nil {
			return err
		}
		start = i + 1
	}
	if start < len(s) {
		robotgo.TypeStr(s[start:])
	}
	return nil
}
