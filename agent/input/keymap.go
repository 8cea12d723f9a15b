package input

import "fmt"

// keyNames maps DOM KeyboardEvent.code values (the physical key, US layout
// names) to robotgo key names.
var keyNames = func() map[string]string {
	m := map[string]string{
		"Enter": "enter", "Tab": "tab", "Escape": "esc", "Backspace": "backspace",
		"Delete": "delete", "Insert": "insert", "Home": "home", "End": "end",
		"PageUp": "pageup", "PageDown": "pagedown",
		"ArrowUp": "up", "ArrowDown": "down", "ArrowLeft": "left", "ArrowRight": "right",
		"Space": "space", "CapsLock": "capslock", "PrintScreen": "printscreen",

		"ShiftLeft": "lshift", "ShiftRight": "rshift",
		"ControlLeft": "lctrl", "ControlRight": "rctrl",
		"AltLeft": "lalt", "AltRight": "ralt",
		"MetaLeft": "lcmd", "MetaRight": "rcmd",
		"OSLeft": "lcmd", "OSRight": "rcmd", // older browsers

		"Minus": "-", "Equal": "=", "BracketLeft": "[", "BracketRight": "]",
		"Backslash": "\\", "Semicolon": ";", "Quote": "'", "Backquote": "`",
		"Comma": ",", "Period": ".", "Slash": "/",

		"NumLock": "num_lock", "NumpadDecimal": "num.", "NumpadAdd": "num+",
		"NumpadSubtract": "num-", "NumpadMultiply": "num*", "NumpadDivide": "num/",
		"NumpadEnter": "num_enter", "NumpadEqual": "num_equal",

		"AudioVolumeMute": "audio_mute", "AudioVolumeDown": "audio_vol_down",
		"AudioVolumeUp": "audio_vol_up", "MediaPlayPause": "audio_play",
		"MediaStop": "audio_stop", "MediaTrackPrevious": "audio_prev", "MediaTrackNext": "audio_next",
	}
	for c := 'A'; c <= 'Z'; c++ {
		m["Key"+string(c)] = string(c + 'a' - 'A')
	}
	for d := '0'; d <= '9'; d++ {
		m["Digit"+string(d)] = string(d)
		m["Numpad"+string(d)] = "num" + string(d)
	}
	for i := 1; i <= 24; i++ {
		m[fmt.Sprintf("F%d", i)] = fmt.Sprintf("f%d", i)
	}
	return m
}()

// KeyName returns robotgo's name for a DOM KeyboardEvent.code, or
// ErrUnknownKey.
func KeyName(code string) (string, error) {
	if n, ok := keyNames[code]; ok {
		return n, nil
	}
	return "", fmt.Errorf("%w: %q", ErrUnknownKey, truncate(code))
}
