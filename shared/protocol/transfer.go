package protocol

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Chat and file transfer between the technicians' viewers and the end user
// (added 2026-11-23). Both travel on their own negotiated data channel
// (ChannelChat, ChannelFile); the agent is the hub: it shows lines to the
// end user, passes them to every viewer and reports them to the server for
// the session's history (SignalChat, SignalFile).

// ChatMsg is one message on the chat channel.
//
//	viewer→agent: {"t":"say","text":"..."}
//	agent→viewer: {"t":"line","line":{...}} for each line, anyone's;
//	              {"t":"history","lines":[...]} when the channel opens.
type ChatMsg struct {
	T     string     `json:"t"`
	Text  string     `json:"text,omitempty"`
	Line  *ChatLine  `json:"line,omitempty"`
	Lines []ChatLine `json:"lines,omitempty"`
}

// ChatLine is one line of a session's chat.
type ChatLine struct {
	Time time.Time `json:"time"`
	// Role is ChatTechnician or ChatUser.
	Role string `json:"role"`
	// From is the technician's name, or "" for the end user.
	From string `json:"from,omitempty"`
	Text string `json:"text"`
}

// Chat roles.
const (
	ChatTechnician = "technician"
	ChatUser       = "user"
)

// MaxChatText bounds one chat line, in bytes.
const MaxChatText = 4000

// DecodeChatMsg parses a chat channel message from a viewer: only "say"
// with a non-empty, valid UTF-8 text of at most MaxChatText bytes.
func DecodeChatMsg(b []byte) (ChatMsg, error) {
	if len(b) > 4*MaxChatText+256 {
		return ChatMsg{}, errors.New("chat message too long")
	}
	var m ChatMsg
	if err := json.Unmarshal(b, &m); err != nil {
		return ChatMsg{}, fmt.Errorf("malformed chat message: %w", err)
	}
	if m.T != "say" {
		return ChatMsg{}, fmt.Errorf("unknown chat message %q", m.T)
	}
	if err := CheckChatText(m.Text); err != nil {
		return ChatMsg{}, err
	}
	return ChatMsg{T: m.T, Text: m.Text}, nil
}

// CheckChatText validates one line's text.
func CheckChatText(s string) error {
	switch {
	case len(bytes.TrimSpace([]byte(s))) == 0:
		return errors.New("empty chat line")
	case len(s) > MaxChatText:
		return fmt.Errorf("chat line longer than %d bytes", MaxChatText)
	case !utf8.ValidString(s):
		return errors.New("chat line is not valid UTF-8")
	}
	return nil
}

// FileMsg is one text message on the file channel. Either side may send
// files; the message type says which side of a transfer it comes from, so
// each side numbers its own sends without colliding with the other's.
//
//	sender→receiver:  "offer" (ID, Name, Size, SHA256), "cancel" (ID)
//	receiver→sender:  "accept" (ID, Offset: where to start; more than 0
//	                  resumes what an earlier, dropped channel delivered),
//	                  "progress" (ID, Offset received), "done" (ID, Name
//	                  saved as), "reject" (ID, Error; also a checksum
//	                  mismatch or any failure on the way)
//
// After "accept" the sender sends the bytes from Offset as binary
// FileChunk messages, in order. The receiver checks the SHA-256 of the
// whole file before "done". A receiver keeps what it received of a file
// it did not finish, by content (SHA256 and Size), so that the same offer
// on a new channel resumes at its end.
type FileMsg struct {
	T      string `json:"t"`
	ID     uint32 `json:"id"`
	Name   string `json:"name,omitempty"`
	Size   int64  `json:"size,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	Offset int64  `json:"offset,omitempty"`
	Error  string `json:"error,omitempty"`
}

// File message types.
const (
	FileOffer    = "offer"
	FileCancel   = "cancel"
	FileAccept   = "accept"
	FileProgress = "progress"
	FileDone     = "done"
	FileReject   = "reject"
)

// Bounds of the file channel.
const (
	// MaxFileChunk is the most data one FileChunk carries: well under the
	// 64 KiB every WebRTC stack sends as one message.
	MaxFileChunk = 16 << 10
	// MaxFileName bounds a file's name, in bytes.
	MaxFileName = 255
	// MaxFileSize bounds any file on the wire (the policy sets the real
	// limit, lower).
	MaxFileSize     = 1 << 40
	fileChunkKind   = 1
	fileChunkHeader = 1 + 4 + 8
)

// DecodeFileMsg parses and checks a text message of the file channel.
func DecodeFileMsg(b []byte) (FileMsg, error) {
	if len(b) > 4<<10 {
		return FileMsg{}, errors.New("file message too long")
	}
	var m FileMsg
	if err := json.Unmarshal(b, &m); err != nil {
		return FileMsg{}, fmt.Errorf("malformed file message: %w", err)
	}
	if m.ID == 0 {
		return FileMsg{}, errors.New("file message without id")
	}
	if len(m.Error) > 1024 || !utf8.ValidString(m.Error) {
		return FileMsg{}, errors.New("file message error text too long or not UTF-8")
	}
	switch m.T {
	case FileOffer:
		if m.Name == "" || len(m.Name) > MaxFileName || !utf8.ValidString(m.Name) {
			return FileMsg{}, fmt.Errorf("offer: name must be 1-%d bytes of UTF-8", MaxFileName)
		}
		if m.Size < 0 || m.Size > MaxFileSize {
			return FileMsg{}, fmt.Errorf("offer: size %d out of range", m.Size)
		}
		if d, err := hex.DecodeString(m.SHA256); err != nil || len(d) != 32 || m.SHA256 != hex.EncodeToString(d) {
			return FileMsg{}, errors.New("offer: sha256 must be 64 lower-case hex digits")
		}
		if m.Offset != 0 {
			return FileMsg{}, errors.New("offer: no offset")
		}
	case FileAccept, FileProgress:
		if m.Offset < 0 || m.Offset > MaxFileSize {
			return FileMsg{}, fmt.Errorf("%s: offset %d out of range", m.T, m.Offset)
		}
	case FileDone:
		if len(m.Name) > MaxFileName || !utf8.ValidString(m.Name) {
			return FileMsg{}, errors.New("done: bad name")
		}
	case FileCancel, FileReject:
	default:
		return FileMsg{}, fmt.Errorf("unknown file message %q", m.T)
	}
	return m, nil
}

// FileChunk is one binary message of the file channel: bytes of transfer
// ID from Offset. Layout: kind (1 byte, 1), ID (uint32 big-endian), Offset
// (uint64 big-endian), then 1 to MaxFileChunk bytes of data.
type FileChunk struct {
	ID     uint32
	Offset int64
	Data   []byte
}

// AppendFileChunk appends the wire form of c to b.
func AppendFileChunk(b []byte, c FileChunk) []byte {
	b = append(b, fileChunkKind)
	b = binary.BigEndian.AppendUint32(b, c.ID)
	b = binary.BigEndian.AppendUint64(b, uint64(c.Offset))
	return append(b, c.Data...)
}

// DecodeFileChunk parses a binary message of the file channel. Data
// aliases b.
func DecodeFileChunk(b []byte) (FileChunk, error) {
	if len(b) < fileChunkHeader+1 {
		return FileChunk{}, fmt.Errorf("file chunk of %d bytes: too short", len(b))
	}
	if len(b) > fileChunkHeader+MaxFileChunk {
		return FileChunk{}, fmt.Errorf("file chunk of %d bytes: too long", len(b))
	}
	if b[0] != fileChunkKind {
		return FileChunk{}, fmt.Errorf("unknown file channel message kind %d", b[0])
	}
	c := FileChunk{ID: binary.BigEndian.Uint32(b[1:5]), Data: b[fileChunkHeader:]}
	off := binary.BigEndian.Uint64(b[5:13])
	if c.ID == 0 {
		return FileChunk{}, errors.New("file chunk without id")
	}
	if off > MaxFileSize {
		return FileChunk{}, fmt.Errorf("file chunk offset %d out of range", off)
	}
	c.Offset = int64(off)
	return c, nil
}

// FileRecord is a finished file transfer, for the audit log (SignalFile)
// and the session's history.
type FileRecord struct {
	Time time.Time `json:"time"`
	// Direction is FileToEndpoint or FileFromEndpoint.
	Direction string `json:"direction"`
	// Name as the sender gave it (FileToEndpoint: as saved).
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// Viewer is the technician's viewer on the other end; the server puts
	// the name to it (Technician).
	Viewer     string `json:"viewer_id,omitempty"`
	Technician string `json:"technician,omitempty"`
}

// File transfer directions.
const (
	FileToEndpoint   = "to_endpoint"
	FileFromEndpoint = "from_endpoint"
)
