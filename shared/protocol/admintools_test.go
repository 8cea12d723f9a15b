package protocol

import (
	"strings"
	"testing"
)

func TestDecodeAdminRequest(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{`{"id":1,"op":"processes.list"}`, true},
		{`{"id":2,"op":"processes.end","pid":4242,"started":1764900000000}`, true},
		{`{"id":2,"op":"processes.end","pid":0}`, false},
		{`{"id":2,"op":"processes.end","pid":-1}`, false},
		{`{"id":3,"op":"services.list"}`, true},
		{`{"id":4,"op":"services.restart","service":"cups.service"}`, true},
		{`{"id":4,"op":"services.stop","service":"Spooler"}`, true},
		{`{"id":4,"op":"services.start","service":""}`, false},
		{`{"id":4,"op":"services.start","service":"--user"}`, false},
		{`{"id":4,"op":"services.start","service":"../../etc/passwd"}`, false},
		{`{"id":4,"op":"services.start","service":"a\u0000b"}`, false},
		{`{"id":4,"op":"services.start","service":"` + strings.Repeat("x", 300) + `"}`, false},
		{`{"id":5,"op":"files.delete"}`, false},
		{`{"id":5,"op":"processes.list","extra":1}`, false},
		{`{"id":5,"op":"processes.list"} {}`, false},
		{`{"id":5,"op":"processes.list"`, false},
	} {
		_, err := DecodeAdminRequest([]byte(tc.in))
		if (err == nil) != tc.ok {
			t.Errorf("%.60s: err %v, want ok %v", tc.in, err, tc.ok)
		}
	}
}

// TestDecodeAdminRequestKeepsID: a request refused after parsing comes
// back with its id, so the viewer's waiting request gets the reason.
func TestDecodeAdminRequestKeepsID(t *testing.T) {
	r, err := DecodeAdminRequest([]byte(`{"id":7,"op":"files.rename","path":"/tmp/a","name":""}`))
	if err == nil || r.ID != 7 || r.Path != "" {
		t.Fatalf("got %+v, %v: want refused with id 7 alone", r, err)
	}
}

func FuzzDecodeAdminRequest(f *testing.F) {
	f.Add([]byte(`{"id":1,"op":"processes.list"}`))
	f.Add([]byte(`{"id":2,"op":"processes.end","pid":4242,"started":1}`))
	f.Add([]byte(`{"id":4,"op":"services.restart","service":"cups.service"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeAdminRequest(b)
		if err != nil {
			return
		}
		switch r.Op {
		case AdminEndProcess:
			if r.PID <= 0 {
				t.Fatalf("accepted pid %d", r.PID)
			}
		case AdminStartService, AdminStopService, AdminRestart:
			if CheckServiceName(r.Service) != nil {
				t.Fatalf("accepted service %q", r.Service)
			}
		}
	})
}

// TestToolDoes: each tool does its own operations only; a terminal none.
func TestToolDoes(t *testing.T) {
	for _, tc := range []struct {
		tool, op string
		want     bool
	}{
		{ToolProcesses, AdminEndProcess, true},
		{ToolServices, AdminStopService, true},
		{ToolFiles, AdminDeleteFile, true},
		{ToolFilesSystem, AdminListFiles, true},
		{ToolProcesses, AdminDeleteFile, false},
		{ToolServices, AdminEndProcess, false},
		{ToolFiles, AdminRestart, false},
		{ToolTerminal, "terminal.open", false},
		{ToolTerminalSystem, "terminal.open", false},
		{"", AdminListFiles, false},
	} {
		if got := ToolDoes(tc.tool, tc.op); got != tc.want {
			t.Errorf("ToolDoes(%q, %q) = %v, want %v", tc.tool, tc.op, got, tc.want)
		}
	}
}
