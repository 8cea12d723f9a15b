package desktop

import "time"

// ChatWindowTitle is the end user's chat window's title.
const ChatWindowTitle = "Tether chat"

// SendFileDialogTitle is the title of the file picker behind "Send file…".
const SendFileDialogTitle = "Tether: send a file"

// Guidance overlay look, the same on every platform.
const (
	// OverlayRGB is the colour of the technician's pointer ring and marks.
	OverlayRGB = 0xff8000
	markLife   = 5 * time.Second // a mark fades after this
	markPen    = 4               // pixels
	maxMarks   = 16
	ringOuter  = 11
	ringInner  = 7
)
