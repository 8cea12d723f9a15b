package protocol

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDecodeTerminalMsg(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{`{"t":"open","as":"user","cols":80,"rows":24}`, true},
		{`{"t":"open","as":"system","cols":80,"rows":24}`, true},
		{`{"t":"open","as":"root","cols":80,"rows":24}`, false},
		{`{"t":"open","as":"user"}`, false},
		{`{"t":"resize","cols":1000,"rows":500}`, true},
		{`{"t":"resize","cols":1001,"rows":5}`, false},
		{`{"t":"resize","cols":80,"rows":0}`, false},
		{`{"t":"opened","as":"user","shell":"/bin/bash"}`, true},
		{`{"t":"exit","code":3}`, true},
		{`{"t":"error","error":"not allowed"}`, true},
		{`{"t":"error"}`, false},
		{`{"t":"rm -rf"}`, false},
		{`{"t":"open"`, false},
		{`{"t":"error","error":"` + strings.Repeat("x", 3000) + `"}`, false},
	} {
		_, err := DecodeTerminalMsg([]byte(tc.in))
		if (err == nil) != tc.ok {
			t.Errorf("%.60s: err %v, want ok %v", tc.in, err, tc.ok)
		}
	}
}

func FuzzDecodeTerminalMsg(f *testing.F) {
	f.Add([]byte(`{"t":"open","as":"user","cols":80,"rows":24}`))
	f.Add([]byte(`{"t":"resize","cols":132,"rows":40}`))
	f.Add([]byte(`{"t":"error","error":"no"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeTerminalMsg(b)
		if err != nil {
			return
		}
		if (m.T == TerminalOpen || m.T == TerminalResize) && (m.Cols < 2 || m.Cols > TerminalMaxCols || m.Rows < 1 || m.Rows > TerminalMaxRows) {
			t.Fatalf("accepted a bad size %+v", m)
		}
		if m.T == TerminalOpen && m.As != TerminalAsUser && m.As != TerminalAsSystem {
			t.Fatalf("accepted open as %q", m.As)
		}
		if _, err := json.Marshal(m); err != nil {
			t.Fatal(err)
		}
	})
}
