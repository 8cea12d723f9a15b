package protocol

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestDecodeInputEvent(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{`{"t":"move","x":10,"y":20}`, true},
		{`{"t":"down","x":1,"y":1,"b":2}`, true},
		{`{"t":"down","x":1,"y":1,"b":3}`, false},
		{`{"t":"move","x":-1,"y":0}`, false},
		{`{"t":"move","x":70000,"y":0}`, false},
		{`{"t":"wheel","x":1,"y":1,"dy":3}`, true},
		{`{"t":"wheel","x":1,"y":1}`, false},
		{`{"t":"wheel","x":1,"y":1,"dy":1000}`, false},
		{`{"t":"key","k":"KeyA","d":true}`, true},
		{`{"t":"key","k":""}`, false},
		{`{"t":"key","k":"Key A"}`, false},
		{`{"t":"text","s":"héllo, мир, 日本"}`, true},
		{`{"t":"text","s":"a\u0000b"}`, false},
		{`{"t":"text","s":""}`, false},
		{`{"t":"combo","c":"ctrl-alt-del"}`, true},
		{`{"t":"combo","c":"rm -rf"}`, false},
		{`{"t":"launch"}`, false},
		{`{"t":"move","x":1,"y":1} {"t":"move"}`, false},
		{`[]`, false},
		{`{"t":"text","s":"` + strings.Repeat("a", maxInputText+1) + `"}`, false},
	}
	for _, tt := range tests {
		name := tt.in
		if len(name) > 40 {
			name = name[:40]
		}
		t.Run(name, func(t *testing.T) {
			_, err := DecodeInputEvent([]byte(tt.in))
			if (err == nil) != tt.ok {
				t.Errorf("DecodeInputEvent(%s) = %v, want ok %v", tt.in, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrBadInput) {
				t.Errorf("error %v does not wrap ErrBadInput", err)
			}
		})
	}
}

func FuzzInputEvent(f *testing.F) {
	for _, s := range []string{`{"t":"move","x":10,"y":20}`, `{"t":"key","k":"KeyA","d":true}`,
		`{"t":"text","s":"日本"}`, `{"t":"combo","c":"win"}`, `{"t":"wheel","x":0,"y":0,"dx":-1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := DecodeInputEvent(b)
		if err != nil {
			return
		}
		if validInput(ev) != nil {
			t.Fatalf("accepted invalid event %+v", ev)
		}
		if ev.X < 0 || ev.Y < 0 || ev.X > maxCoord || ev.Y > maxCoord || !utf8.ValidString(ev.Text) {
			t.Fatalf("accepted out-of-range event %+v", ev)
		}
	})
}
