//go:build cgo && (linux || windows || darwin)

package input

import (
	"fmt"

	"github.com/go-vgo/robotgo"
)

// robotgo calls shared by the platform drivers. Callers hold the
// injector's lock, so robotgo (not safe for concurrent use) is entered by
// one goroutine at a time per injector.

var buttonNames = [3]string{ButtonLeft: "left", ButtonMiddle: "center", ButtonRight: "right"}

func rgMove(x, y int) error {
	robotgo.Move(x, y)
	return nil
}

func rgButton(b int, down bool) error {
	if b < 0 || b >= len(buttonNames) {
		return fmt.Errorf("%w: button %d", ErrInvalid, b)
	}
	dir := "down"
	if !down {
		dir = "up"
	}
	return robotgo.Toggle(buttonNames[b], dir)
}

// rgScroll scrolls dx, dy notches, positive right/down. robotgo's Scroll
// takes positive values as up/left (X11 buttons 4 and 6, a positive
// WHEEL_DELTA on Windows).
func rgScroll(dx, dy int) error {
	robotgo.Scroll(-dx, -dy, 0)
	return nil
}

func rgKey(name string, down bool) error {
	dir := "down"
	if !down {
		dir = "up"
	}
	if err := robotgo.KeyToggle(name, dir); err != nil {
		return fmt.Errorf("key %q: %w", name, err)
	}
	return nil
}
