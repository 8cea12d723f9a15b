package app

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/tetherdesk/tether/shared/protocol"
)

// TestDecodeTimeline: what a helper's timeline part may and may not be.
func TestDecodeTimeline(t *testing.T) {
	long := strings.Repeat("x", timelineMaxText+1)
	for _, tc := range []struct {
		name string
		in   string
		ok   bool
	}{
		{"minimal", `{}`, true},
		{"full", `{"started":"2026-12-01T09:00:00Z","duration_ms":61000,"width":1280,"height":720,"events":[{"at_ms":5,"kind":"chat","actor":"tara","text":"hi"}]}`, true},
		{"unknown field and kind", `{"duration_ms":1,"codec":"vp9","events":[{"at_ms":0,"kind":"pointer"}]}`, true},
		{"not an object", `[]`, false},
		{"not JSON", `{"duration_ms":`, false},
		{"trailing data", `{} {}`, false},
		{"negative duration", `{"duration_ms":-1}`, false},
		{"a month and more", `{"duration_ms":2678400001}`, false},
		{"huge size", `{"width":40000,"height":10}`, false},
		{"negative size", `{"width":-1}`, false},
		{"event before the start", `{"events":[{"at_ms":-5,"kind":"chat"}]}`, false},
		{"event without kind", `{"events":[{"at_ms":5}]}`, false},
		{"long kind", `{"events":[{"at_ms":5,"kind":"` + strings.Repeat("k", 33) + `"}]}`, false},
		{"long text", `{"events":[{"at_ms":5,"kind":"chat","text":"` + long + `"}]}`, false},
		{"wrong type", `{"events":[{"at_ms":"5","kind":"chat"}]}`, false},
		{"over the size limit", `{"x":"` + strings.Repeat("a", protocol.RecordingTimelineMax) + `"}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeTimeline([]byte(tc.in))
			if (err == nil) != tc.ok {
				t.Fatalf("DecodeTimeline: %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrBadRequest) {
				t.Errorf("refusal %v is not a bad request", err)
			}
		})
	}
	tl, err := DecodeTimeline([]byte(`{"events":[{"at_ms":9,"kind":"b"},{"at_ms":3,"kind":"a"},{"at_ms":9,"kind":"c"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var kinds string
	for _, e := range tl.Events {
		kinds += e.Kind
	}
	if kinds != "abc" {
		t.Errorf("events in order %q, want by time, ties as given (abc)", kinds)
	}
}

// FuzzDecodeTimeline: no input crashes the decoder, a refusal is always a
// bad request, and what it accepts keeps its limits and survives a round
// trip through the store's JSON unchanged.
func FuzzDecodeTimeline(f *testing.F) {
	for _, s := range []string{
		`{}`, `null`, `[]`, `{`, "\x00\xff", `{"duration_ms":1e3}`, `{"events":null}`,
		`{"started":"2026-12-01T09:00:00Z","duration_ms":61000,"width":1280,"height":720,"events":[{"at_ms":5,"kind":"chat","actor":"tara","text":"hi \u00e9"}]}`,
		`{"events":[{"at_ms":9,"kind":"mode","text":"monitor"},{"at_ms":3,"kind":"control","actor":"a"}]}`,
		`{"duration_ms":-1}`, `{"events":[{"at_ms":1,"kind":""}]}`, `{"width":1,"height":1} x`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tl, err := DecodeTimeline(b)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("refusal %v is not a bad request", err)
			}
			return
		}
		if tl.DurationMS < 0 || tl.Width < 0 || tl.Height < 0 || tl.Events == nil {
			t.Fatalf("accepted %+v", tl)
		}
		for i, e := range tl.Events {
			if e.AtMS < 0 || e.Kind == "" || (i > 0 && tl.Events[i-1].AtMS > e.AtMS) {
				t.Fatalf("accepted event %d %+v", i, e)
			}
		}
		enc, err := json.Marshal(tl)
		if err != nil {
			t.Fatal(err)
		}
		again, err := DecodeTimeline(enc)
		if err != nil {
			t.Fatalf("re-decoding what was accepted: %v", err)
		}
		enc2, _ := json.Marshal(again)
		if string(enc) != string(enc2) {
			t.Fatalf("round trip changed the timeline:\n%s\n%s", enc, enc2)
		}
	})
}
