package protocol

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

const sum = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

func TestDecodeFileMsg(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"offer", `{"t":"offer","id":1,"name":"a.txt","size":4,"sha256":"` + sum + `"}`, true},
		{"empty file", `{"t":"offer","id":1,"name":"a","size":0,"sha256":"` + sum + `"}`, true},
		{"offer without name", `{"t":"offer","id":1,"size":4,"sha256":"` + sum + `"}`, false},
		{"offer, long name", `{"t":"offer","id":1,"name":"` + strings.Repeat("a", 256) + `","size":4,"sha256":"` + sum + `"}`, false},
		{"offer, upper-case sum", `{"t":"offer","id":1,"name":"a","size":4,"sha256":"` + strings.ToUpper(sum) + `"}`, false},
		{"offer, short sum", `{"t":"offer","id":1,"name":"a","size":4,"sha256":"9f86"}`, false},
		{"offer, negative size", `{"t":"offer","id":1,"name":"a","size":-1,"sha256":"` + sum + `"}`, false},
		{"offer, huge", `{"t":"offer","id":1,"name":"a","size":1099511627777,"sha256":"` + sum + `"}`, false},
		{"offer with offset", `{"t":"offer","id":1,"name":"a","size":4,"offset":2,"sha256":"` + sum + `"}`, false},
		{"no id", `{"t":"accept","offset":0}`, false},
		{"accept", `{"t":"accept","id":3,"offset":100}`, true},
		{"accept, negative", `{"t":"accept","id":3,"offset":-1}`, false},
		{"progress", `{"t":"progress","id":3,"offset":5}`, true},
		{"done", `{"t":"done","id":3,"name":"a (1).txt"}`, true},
		{"reject", `{"t":"reject","id":3,"error":"too big"}`, true},
		{"reject, long error", `{"t":"reject","id":3,"error":"` + strings.Repeat("e", 1025) + `"}`, false},
		{"cancel", `{"t":"cancel","id":3}`, true},
		{"unknown", `{"t":"steal","id":3}`, false},
		{"not json", `{"t":`, false},
		{"id overflow", `{"t":"cancel","id":4294967296}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeFileMsg([]byte(tc.in))
			if (err == nil) != tc.ok {
				t.Errorf("DecodeFileMsg(%s) = %v, want ok %v", tc.in, err, tc.ok)
			}
		})
	}
}

func TestFileChunkRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    FileChunk
		ok   bool
	}{
		{"one byte", FileChunk{ID: 1, Offset: 0, Data: []byte{7}}, true},
		{"full", FileChunk{ID: 1 << 31, Offset: 50 << 20, Data: bytes.Repeat([]byte{1}, MaxFileChunk)}, true},
		{"too long", FileChunk{ID: 1, Data: bytes.Repeat([]byte{1}, MaxFileChunk+1)}, false},
		{"empty", FileChunk{ID: 1}, false},
		{"no id", FileChunk{Data: []byte{1}}, false},
		{"offset out of range", FileChunk{ID: 1, Offset: MaxFileSize + 1, Data: []byte{1}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeFileChunk(AppendFileChunk(nil, tc.c))
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok %v", err, tc.ok)
			}
			if tc.ok && (got.ID != tc.c.ID || got.Offset != tc.c.Offset || !bytes.Equal(got.Data, tc.c.Data)) {
				t.Errorf("got %d@%d (%d bytes), want %d@%d (%d bytes)", got.ID, got.Offset, len(got.Data), tc.c.ID, tc.c.Offset, len(tc.c.Data))
			}
		})
	}
	if _, err := DecodeFileChunk([]byte{2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 9}); err == nil {
		t.Error("unknown kind accepted")
	}
}

func TestDecodeChatMsg(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{`{"t":"say","text":"hello"}`, true},
		{`{"t":"say","text":"   "}`, false},
		{`{"t":"say","text":"` + strings.Repeat("x", MaxChatText+1) + `"}`, false},
		{`{"t":"line","text":"hi"}`, false},
		{`{"t":"say","text":"\udc00"}`, true}, // JSON replaces a lone surrogate with U+FFFD
		{`nope`, false},
	} {
		_, err := DecodeChatMsg([]byte(tc.in))
		if (err == nil) != tc.ok {
			t.Errorf("DecodeChatMsg(%.40s) = %v, want ok %v", tc.in, err, tc.ok)
		}
	}
}

// The decoders take bytes straight from a peer: they must never panic, and
// what they accept must be within the documented bounds.

func FuzzDecodeFileChunk(f *testing.F) {
	f.Add(AppendFileChunk(nil, FileChunk{ID: 1, Offset: 5, Data: []byte("hello")}))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeFileChunk(b)
		if err != nil {
			return
		}
		if c.ID == 0 || c.Offset < 0 || c.Offset > MaxFileSize || len(c.Data) == 0 || len(c.Data) > MaxFileChunk {
			t.Fatalf("accepted out-of-bounds chunk %d@%d (%d bytes)", c.ID, c.Offset, len(c.Data))
		}
		if !bytes.Equal(AppendFileChunk(nil, c), b) {
			t.Fatal("chunk does not round-trip")
		}
	})
}

func FuzzDecodeFileMsg(f *testing.F) {
	f.Add([]byte(`{"t":"offer","id":1,"name":"a.txt","size":4,"sha256":"` + sum + `"}`))
	f.Add([]byte(`{"t":"accept","id":3,"offset":100}`))
	f.Add([]byte(`{"t":"done","id":3,"name":"../x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeFileMsg(b)
		if err != nil {
			return
		}
		if m.ID == 0 || m.Size < 0 || m.Size > MaxFileSize || m.Offset < 0 || len(m.Name) > MaxFileName {
			t.Fatalf("accepted out-of-bounds message %+v", m)
		}
		if m.T == FileOffer && (m.Name == "" || len(m.SHA256) != 64) {
			t.Fatalf("accepted a bad offer %+v", m)
		}
		if _, err := json.Marshal(m); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzDecodeChatMsg(f *testing.F) {
	f.Add([]byte(`{"t":"say","text":"hello"}`))
	f.Add([]byte(`{"t":"say","text":""}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeChatMsg(b)
		if err != nil {
			return
		}
		if m.T != "say" || CheckChatText(m.Text) != nil || m.Line != nil || m.Lines != nil {
			t.Fatalf("accepted %+v", m)
		}
	})
}
