package input

// Linux input event codes (linux/input-event-codes.h) of the keys and
// buttons, for the Wayland drivers: compositors and their remote-desktop
// APIs take evdev codes, not X keycodes (which are 8 more).

// evdevKeys maps robotgo key names (keyNames' values) to evdev key codes.
var evdevKeys = func() map[string]uint32 {
	m := map[string]uint32{
		"esc": 1, "-": 12, "=": 13, "backspace": 14, "tab": 15,
		"[": 26, "]": 27, "enter": 28, "lctrl": 29, ";": 39, "'": 40, "`": 41,
		"lshift": 42, "\\": 43, ",": 51, ".": 52, "/": 53, "rshift": 54,
		"num*": 55, "lalt": 56, "space": 57, "capslock": 58, "num_lock": 69,
		"num-": 74, "num+": 78, "num.": 83, "num_enter": 96, "rctrl": 97,
		"num/": 98, "printscreen": 99, "ralt": 100, "home": 102, "up": 103,
		"pageup": 104, "left": 105, "right": 106, "end": 107, "down": 108,
		"pagedown": 109, "insert": 110, "delete": 111, "audio_mute": 113,
		"audio_vol_down": 114, "audio_vol_up": 115, "num_equal": 117,
		"lcmd": 125, "rcmd": 126, "audio_next": 163, "audio_play": 164,
		"audio_prev": 165, "audio_stop": 166,
	}
	for i, c := range "qwertyuiop" {
		m[string(c)] = 16 + uint32(i)
	}
	for i, c := range "asdfghjkl" {
		m[string(c)] = 30 + uint32(i)
	}
	for i, c := range "zxcvbnm" {
		m[string(c)] = 44 + uint32(i)
	}
	for i, c := range "1234567890" {
		m[string(c)] = 2 + uint32(i)
	}
	for i, n := range []uint32{82, 79, 80, 81, 75, 76, 77, 71, 72, 73} {
		m["num"+string(rune('0'+i))] = n
	}
	for i := 1; i <= 10; i++ {
		m["f"+itoa(i)] = 58 + uint32(i)
	}
	m["f11"], m["f12"] = 87, 88
	for i := 13; i <= 24; i++ {
		m["f"+itoa(i)] = 183 + uint32(i-13)
	}
	return m
}()

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return string(rune('0'+i/10)) + string(rune('0'+i%10))
}

// Evdev pointer buttons, by InputEvent.Button.
var evdevButtons = [3]uint32{ButtonLeft: 0x110, ButtonMiddle: 0x112, ButtonRight: 0x111}

const evdevLeftShift = 42

// usKey is the evdev key and shift state that types r on a US keyboard.
func usKey(r rune) (code uint32, shift, ok bool) {
	const shifted = `~!@#$%^&*()_+{}|:"<>?`
	const plain = "`1234567890-=[]\\;',./"
	switch {
	case r >= 'a' && r <= 'z':
		code, ok = evdevKeys[string(r)]
		return code, false, ok
	case r >= 'A' && r <= 'Z':
		code, ok = evdevKeys[string(r+'a'-'A')]
		return code, true, ok
	case r == ' ':
		return evdevKeys["space"], false, true
	case r == '\n':
		return evdevKeys["enter"], false, true
	case r == '\t':
		return evdevKeys["tab"], false, true
	}
	for _, c := range plain {
		if c == r {
			code, ok = evdevKeys[string(c)]
			return code, false, ok
		}
	}
	for i, c := range shifted {
		if c == r {
			code, ok = evdevKeys[string([]rune(plain)[i])]
			return code, true, ok
		}
	}
	return 0, false, false
}
