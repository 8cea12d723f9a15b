package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Limits on one input event from a viewer.
const (
	maxInputMessage = 8 << 10
	maxInputText    = 4 << 10
	maxKeyCode      = 32
	maxCoord        = 65535
	maxWheel        = 100
)

// ErrBadInput reports an input message that is not a valid InputEvent.
var ErrBadInput = errors.New("invalid input event")

var combos = map[string]bool{"ctrl-alt-del": true, "win": true, "alt-tab": true}

// DecodeInputEvent parses and validates one message of the input channel.
// Coordinates are checked against the monitor later, when it is known.
func DecodeInputEvent(b []byte) (InputEvent, error) {
	var ev InputEvent
	if len(b) > maxInputMessage {
		return ev, fmt.Errorf("%w: %d bytes", ErrBadInput, len(b))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&ev); err != nil {
		return InputEvent{}, fmt.Errorf("%w: %v", ErrBadInput, err)
	}
	if dec.More() {
		return InputEvent{}, fmt.Errorf("%w: trailing data", ErrBadInput)
	}
	if err := validInput(ev); err != nil {
		return InputEvent{}, fmt.Errorf("%w: %v", ErrBadInput, err)
	}
	return ev, nil
}

func validInput(ev InputEvent) error {
	coords := func() error {
		if ev.X < 0 || ev.Y < 0 || ev.X > maxCoord || ev.Y > maxCoord {
			return fmt.Errorf("position %d,%d out of range", ev.X, ev.Y)
		}
		return nil
	}
	switch ev.T {
	case "move":
		return coords()
	case "down", "up":
		if ev.Button < 0 || ev.Button > 2 {
			return fmt.Errorf("button %d", ev.Button)
		}
		return coords()
	case "wheel":
		if ev.DX < -maxWheel || ev.DX > maxWheel || ev.DY < -maxWheel || ev.DY > maxWheel {
			return fmt.Errorf("wheel delta %d,%d", ev.DX, ev.DY)
		}
		if ev.DX == 0 && ev.DY == 0 {
			return errors.New("empty wheel event")
		}
		return coords()
	case "key":
		if ev.Key == "" || len(ev.Key) > maxKeyCode {
			return errors.New("key code missing or too long")
		}
		for _, r := range ev.Key {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				return errors.New("key code is not a DOM code")
			}
		}
		return nil
	case "text":
		if ev.Text == "" || len(ev.Text) > maxInputText || !utf8.ValidString(ev.Text) {
			return errors.New("text empty, too long or not UTF-8")
		}
		for _, r := range ev.Text {
			if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f {
				return errors.New("text holds control characters")
			}
		}
		return nil
	case "combo":
		if !combos[ev.Combo] {
			return errors.New("unknown combination")
		}
		return nil
	default:
		return errors.New("unknown event type")
	}
}

// InMonitor reports whether a positional event lies on mon.
func (ev InputEvent) InMonitor(mon Monitor) bool {
	switch ev.T {
	case "move", "down", "up", "wheel":
		return ev.X < mon.W && ev.Y < mon.H
	}
	return true
}
