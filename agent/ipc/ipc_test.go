package ipc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tetherdesk/tether/shared/protocol"
)

func TestCheckPeer(t *testing.T) {
	allowed := func(uid uint32) bool { return uid == 0 || uid == 1000 }
	tests := []struct {
		name    string
		uid     uint32
		uidErr  error
		wantErr bool
	}{
		{"root", 0, nil, false},
		{"expected user", 1000, nil, false},
		{"other user", 1001, nil, true},
		{"no credentials", 0, errors.New("not supported"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c1, c2 := net.Pipe()
			defer c1.Close()
			defer c2.Close()
			uid, err := CheckPeer(c1, func(net.Conn) (uint32, error) { return tt.uid, tt.uidErr }, allowed)
			if (err != nil) != tt.wantErr {
				t.Fatalf("CheckPeer = %d, %v; want error %v", uid, err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrPeerRefused) {
				t.Errorf("error %v does not wrap ErrPeerRefused", err)
			}
		})
	}
}

func sockPath(t *testing.T) string {
	// Unix socket paths are limited to ~104 bytes; t.TempDir can be long.
	dir, err := os.MkdirTemp("", "ipc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "sub", "helper.sock")
}

// dialTest connects to the listener at path; the test's cleanup closes it.
func dialTest(t *testing.T, path string) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestRoundTrip(t *testing.T) {
	me := uint32(os.Geteuid())
	ln, err := Listen(ListenConfig{Path: sockPath(t), Allowed: func(uid uint32) bool { return uid == me }})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type accepted struct {
		c   *Conn
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		c, err := ln.Accept()
		ch <- accepted{c, err}
	}()
	cli := dialTest(t, ln.Path())
	a := <-ch
	if a.err != nil {
		t.Fatal(a.err)
	}
	srv := a.c
	defer srv.Close()
	if srv.UID != me {
		t.Errorf("peer uid %d, want %d", srv.UID, me)
	}
	if err := cli.Send(Msg{Type: TypeReady, Desktop: "x11::1", PID: 42}); err != nil {
		t.Fatal(err)
	}
	m, err := srv.Recv()
	if err != nil || m.Type != TypeReady || m.Desktop != "x11::1" || m.PID != 42 {
		t.Fatalf("Recv = %+v, %v", m, err)
	}
	start := &protocol.ScreenShareStart{SessionID: "s1", AgentToken: "tok", Attended: true}
	if err := srv.Send(Msg{Type: TypeStart, Start: start, Server: "http://127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	m, err = cli.Recv()
	if err != nil || m.Start == nil || m.Start.SessionID != "s1" || m.Start.AgentToken != "tok" {
		t.Fatalf("Recv = %+v, %v", m, err)
	}
}

// TestCodeRoundTrip: a connection code goes from the helper to the service
// and its outcome comes back over a real socket, matched by ReqID; the
// status the service sends decodes with its server state.
func TestCodeRoundTrip(t *testing.T) {
	me := uint32(os.Geteuid())
	ln, err := Listen(ListenConfig{Path: sockPath(t), Allowed: func(uid uint32) bool { return uid == me }})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan *Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	helper := dialTest(t, ln.Path())
	service := <-accepted
	if service == nil {
		t.Fatal("no connection accepted")
	}
	defer service.Close()

	if err := service.Send(Msg{Type: TypeStatus, ServerState: ServerDisconnected, Server: "https://tether.example"}); err != nil {
		t.Fatal(err)
	}
	if m, err := helper.Recv(); err != nil || m.Type != TypeStatus || m.ServerState != ServerDisconnected || m.Server != "https://tether.example" {
		t.Fatalf("status: %+v, %v", m, err)
	}
	tests := []struct {
		name string
		code string
		res  CodeResult
	}{
		{"wrong", "111222333", CodeResult{Outcome: CodeWrong}},
		{"throttled", "111222334", CodeResult{Outcome: CodeThrottled, Message: "try again in 15 minute(s)"}},
		{"accepted", "123456789", CodeResult{Outcome: CodeAccepted, SessionID: "s1", Technician: "brooke", Mode: "active", Attended: true}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := fmt.Sprint("req-", i)
			if err := helper.Send(Msg{Type: TypeCode, ReqID: id, Code: tt.code}); err != nil {
				t.Fatal(err)
			}
			m, err := service.Recv()
			if err != nil || m.Type != TypeCode || m.ReqID != id || m.Code != tt.code {
				t.Fatalf("service got %+v, %v", m, err)
			}
			res := tt.res
			if err := service.Send(Msg{Type: TypeCodeResult, ReqID: m.ReqID, CodeResult: &res}); err != nil {
				t.Fatal(err)
			}
			m, err = helper.Recv()
			if err != nil || m.Type != TypeCodeResult || m.ReqID != id || m.CodeResult == nil || *m.CodeResult != tt.res {
				t.Fatalf("helper got %+v (%+v), %v; want %+v", m, m.CodeResult, err, tt.res)
			}
		})
	}
}

func TestRefusedPeer(t *testing.T) {
	ln, err := Listen(ListenConfig{Path: sockPath(t), Allowed: func(uint32) bool { return false }})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	errc := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if c != nil {
			c.Close()
		}
		errc <- err
	}()
	cli := dialTest(t, ln.Path())
	if err := <-errc; !errors.Is(err, ErrPeerRefused) {
		t.Fatalf("Accept error = %v, want ErrPeerRefused", err)
	}
	// The refused client sees the connection closed.
	if _, err := cli.Recv(); err == nil {
		t.Fatal("refused client could read a message")
	}
}

func TestRecvLongLine(t *testing.T) {
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	go func() {
		c2.Write([]byte(`{"type":"ready","desktop":"` + strings.Repeat("a", MaxLine) + `"}` + "\n"))
		c2.Write([]byte(`{"type":"ready","desktop":"d"}` + "\n"))
	}()
	c := NewConn(c1)
	if _, err := c.Recv(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("long line: %v, want ErrMalformed", err)
	}
	m, err := c.Recv()
	if err != nil || m.Desktop != "d" {
		t.Fatalf("after long line: %+v, %v", m, err)
	}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		line string
		ok   bool
	}{
		{`{"type":"ready"}`, true},
		{`{"type":"start","start":{"session_id":"s"},"server":"http://x"}`, true},
		{`{"type":"start","server":"http://x"}`, false},
		{`{"type":"end","session_id":"s","reason":"ended_by_technician"}`, true},
		{`{"type":"end"}`, false},
		{`{"type":"drop","session_id":"s"}`, true},
		{`{"type":"drop"}`, false},
		{`{"type":"start","start":{"session_id":"s"},"server":"http://x","resume":true}`, true},
		{`{"type":"state","session_id":"s","state":"active"}`, true},
		{`{"type":"sas","session_id":"s"}`, true},
		{`{"type":"sas"}`, false},
		{`{"type":"status","server_state":"connected","server":"https://x"}`, true},
		{`{"type":"status","server_state":"disconnected"}`, true},
		{`{"type":"status","server_state":"connecting"}`, true},
		{`{"type":"status"}`, false},
		{`{"type":"status","server_state":"maybe"}`, false},
		{`{"type":"code","req_id":"1","code":"123456789"}`, true},
		{`{"type":"code","req_id":"1"}`, false},
		{`{"type":"code","code":"123456789"}`, false},
		{`{"type":"code_result","req_id":"1","code_result":{"outcome":"wrong"}}`, true},
		{`{"type":"code_result","req_id":"1","code_result":{}}`, false},
		{`{"type":"code_result","req_id":"1"}`, false},
		{`{"type":"code_result","code_result":{"outcome":"accepted"}}`, false},
		{`{"type":"bogus"}`, false},
		{`not json`, false},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			_, err := Decode([]byte(tt.line))
			if (err == nil) != tt.ok {
				t.Errorf("Decode(%s) = %v, want ok %v", tt.line, err, tt.ok)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"type":"start","start":{"session_id":"s","agent_token":"t"},"server":"http://x","policy":{"modes":["active"]}}`))
	f.Add([]byte(`{"type":"state","session_id":"s","state":"ended","reason":"declined"}`))
	f.Add([]byte(`{"type":"ready","desktop":"x11::0","pid":1}`))
	f.Add([]byte(`{"type":"drop","session_id":"s"}`))
	f.Add([]byte(`{"type":"code","req_id":"1","code":"123456789"}`))
	f.Add([]byte(`{"type":"code_result","req_id":"1","code_result":{"outcome":"accepted","session_id":"s"}}`))
	f.Add([]byte(`{"type":"notify","notification":{"id":"n1","version":2,"title":"t","message":"m","postpone":[60]}}`))
	f.Add([]byte(`{"type":"notify_result","notify_result":{"id":"n1","version":2,"kind":"pressed","value":"ok"}}`))
	f.Add([]byte(`{"type":"notify_close","notify_id":"n1"}`))
	f.Add([]byte(`{"type":"tool_ask","req_id":"1","session_id":"s","tool":{"technician":"t","tool":"terminal.system","timeout_s":30}}`))
	f.Add([]byte(`{"type":"tool_answer","req_id":"1","accepted":true}`))
	f.Add([]byte(`{"type":"tool_live","session_id":"s","tool":{"technician":"t","tool":"terminal.system","may_end":true}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		if (m.Type == TypeToolAsk || m.Type == TypeToolLive) && (m.Tool == nil || m.Tool.Tool == "" || m.SessionID == "") {
			t.Fatalf("accepted %s without its tool or session: %+v", m.Type, m)
		}
		if m.Type == TypeStart && (m.Start == nil || m.Start.SessionID == "") {
			t.Fatalf("accepted start without session: %+v", m)
		}
		if m.Type == TypeNotify && (m.Notification == nil || m.Notification.ID == "") ||
			m.Type == TypeNotifyResult && (m.NotifyResult == nil || m.NotifyResult.ID == "" || m.NotifyResult.Kind == "") {
			t.Fatalf("accepted a notification message without its notification: %+v", m)
		}
		if m.Type == TypeCodeResult && (m.CodeResult == nil || m.ReqID == "") {
			t.Fatalf("accepted code_result without result or req_id: %+v", m)
		}
	})
}
