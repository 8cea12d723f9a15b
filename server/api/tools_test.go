package api_test

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tetherdesk/tether/internal/testenv"
	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
)

// uploadTranscript posts a terminal transcript as the agent does.
func (e *env) uploadTranscript(t *testing.T, sessionID, token, data string) int {
	t.Helper()
	return e.uploadTranscriptTotal(t, sessionID, token, data, strconv.Itoa(len(data)))
}

func (e *env) uploadTranscriptTotal(t *testing.T, sessionID, token, data, total string) int {
	t.Helper()
	req, err := http.NewRequest("POST", e.srv.URL+strings.Replace(protocol.PathAgentTranscript, "{id}", sessionID, 1), strings.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set(protocol.TranscriptTotalHeader, total)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("upload transcript: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// startTool opens a tool session on epID as c and returns it with the
// start payload the agent polls.
func (e *env) startTool(t *testing.T, c *client, epID, secret, tool string) (protocol.Session, protocol.ScreenShareStart) {
	t.Helper()
	var s protocol.Session
	mustDo(t, c, "POST", "/api/v1/endpoints/"+epID+"/tools", protocol.CreateToolSessionRequest{Tool: tool}, &s, 201)
	return s, e.startOf(t, secret, s.ID)
}

// TestToolSessions: a tool opens as a session of its own, asked of the
// end user as the policy says, never recorded, without modes; its
// transcript is taken once from the session's agent token within the
// size limit, shown on the session and served to auditors as it was.
func TestToolSessions(t *testing.T) {
	e := newEnv(t)
	root := e.user("root", perm.RoleAdministrator)
	ssadmin := e.user("watcher", perm.RoleScreenShareAdmin)
	ep, secret := e.enroll("tools-1", "Default")
	mustDo(t, root, "PUT", "/api/v1/policies/global", `{"screenshare":{"record_sessions":true}}`, nil, 200)

	s, start := e.startTool(t, root, ep, secret, protocol.ToolTerminal)
	if s.Tool != protocol.ToolTerminal || !s.Attended || s.Record {
		t.Fatalf("session = tool %q attended %v record %v, want a terminal, asked, not recorded", s.Tool, s.Attended, s.Record)
	}
	if start.Tool != protocol.ToolTerminal || !start.Attended || start.Record || len(start.AllowedModes) != 0 {
		t.Fatalf("start = %+v, want the terminal, asked, unrecorded, no modes", start)
	}
	// Watching every session does not reach a terminal.
	if st := ssadmin.do("GET", "/api/v1/sessions/"+s.ID, nil, nil); st != 403 {
		t.Fatalf("screenshare.sessions without tools.terminal: GET = %d, want 403", st)
	}
	var list struct{ Sessions []protocol.Session }
	mustDo(t, ssadmin, "GET", "/api/v1/sessions", nil, &list, 200)
	for _, l := range list.Sessions {
		if l.ID == s.ID {
			t.Fatal("the terminal session is listed to a holder of screenshare.sessions without tools.terminal")
		}
	}
	// A policy that does not ask opens tools unattended.
	mustDo(t, root, "PUT", "/api/v1/policies/global", `{"screenshare":{"tools_acceptance_required":false}}`, nil, 200)
	u, ustart := e.startTool(t, root, ep, secret, protocol.ToolTerminalSystem)
	if u.Attended || ustart.Attended || ustart.Tool != protocol.ToolTerminalSystem {
		t.Fatalf("unasked tool session = %+v / %+v", u, ustart)
	}
	if st := root.do("POST", "/api/v1/endpoints/"+ep+"/tools", protocol.CreateToolSessionRequest{Tool: "rm -rf"}, nil); st != 400 {
		t.Fatalf("unknown tool: %d, want 400", st)
	}

	// The transcript: the session's token only, a sane total, the limit, once.
	if st := e.uploadTranscript(t, s.ID, ustart.AgentToken, "x"); st != 401 {
		t.Fatalf("another session's token: %d, want 401", st)
	}
	if st := e.uploadTranscriptTotal(t, s.ID, start.AgentToken, "abc", "2"); st != 400 {
		t.Fatalf("a total below the size: %d, want 400", st)
	}
	if st := e.uploadTranscript(t, s.ID, start.AgentToken, strings.Repeat("y", protocol.MaxTranscript+1)); st != 413 {
		t.Fatalf("an oversize transcript: %d, want 413", st)
	}
	data := "$ id -un\r\nroot\r\n\x1b[1mbold\x1b[0m\xff\r\n"
	if st := e.uploadTranscriptTotal(t, s.ID, start.AgentToken, data, "5000000"); st != 201 {
		t.Fatalf("transcript: %d, want 201", st)
	}
	if st := e.uploadTranscript(t, s.ID, start.AgentToken, "again"); st != 409 {
		t.Fatalf("a second transcript: %d, want 409", st)
	}
	mustDo(t, root, "POST", "/api/v1/sessions/"+s.ID+"/end", nil, nil, 200)
	var got protocol.Session
	mustDo(t, root, "GET", "/api/v1/sessions/"+s.ID, nil, &got, 200)
	if got.Transcript == nil || got.Transcript.Size != int64(len(data)) || got.Transcript.Total != 5000000 {
		t.Fatalf("ended session's transcript = %+v", got.Transcript)
	}
	req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/sessions/"+s.ID+"/transcript", nil)
	resp, err := root.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != data || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("transcript read: %d %q (%s), want 200 the bytes as an attachment", resp.StatusCode, body, resp.Header.Get("Content-Disposition"))
	}
	if n := len(auditOf(t, e.store, protocol.AuditTranscriptRead)); n != 1 {
		t.Fatalf("transcript reads audited: %d, want 1", n)
	}
	if n := len(auditOf(t, e.store, protocol.AuditSessionTranscript)); n != 1 {
		t.Fatalf("transcripts stored audited: %d, want 1", n)
	}
}

// TestFilesWrite: a files session may change files only where its
// technician holds tools.files.write over the endpoint's group; a tool's
// session is joined by its technician alone.
func TestFilesWrite(t *testing.T) {
	e := newEnv(t)
	root := e.user("root", perm.RoleAdministrator)
	mustDo(t, root, "POST", "/api/v1/roles", protocol.RoleRequest{Name: "File Reader", Permissions: []string{
		string(perm.EndpointsView), string(perm.ToolsFiles)}}, nil, 201)
	reader := e.user("reader", "File Reader")
	other := e.user("other-admin", perm.RoleAdministrator)
	ep, secret := e.enroll("files-1", "Default")

	s, start := e.startTool(t, root, ep, secret, protocol.ToolFiles)
	if !start.Write {
		t.Fatal("an administrator's files session may not write")
	}
	_, rstart := e.startTool(t, reader, ep, secret, protocol.ToolFiles)
	if rstart.Write {
		t.Fatal("a files session of a holder of tools.files alone may write")
	}
	if st := wsStatus(t, e, other, "/api/v1/sessions/"+s.ID+"/signal", ""); st != 403 {
		t.Fatalf("another administrator joining a tool's session: %d, want 403", st)
	}
	if st := wsStatus(t, e, root, "/api/v1/sessions/"+s.ID+"/signal", ""); st != 101 {
		t.Fatalf("its technician joining: %d, want 101", st)
	}

	// The right to change files is the technician's as long as they hold
	// it: taken away, the session that may write is out of their reach
	// (their viewers close), the read-only one is not.
	mustDo(t, root, "POST", "/api/v1/roles", protocol.RoleRequest{Name: "File Writer", Permissions: []string{
		string(perm.EndpointsView), string(perm.ToolsFiles), string(perm.ToolsFilesWrite)}}, nil, 201)
	writer := e.user("writer", "File Writer")
	ws, wstart := e.startTool(t, writer, ep, secret, protocol.ToolFiles)
	if !wstart.Write {
		t.Fatal("a holder of tools.files.write may not write")
	}
	reader2 := []string{"File Reader"}
	if st := root.do("PATCH", "/api/v1/users/"+e.userID("writer"), protocol.UpdateUserRequest{Roles: &reader2}, nil); st != 200 {
		t.Fatalf("take tools.files.write away: %d %s", st, root.last)
	}
	if st := writer.do("GET", "/api/v1/sessions/"+ws.ID, nil, nil); st != 403 {
		t.Errorf("the files session that writes, after tools.files.write was taken away: %d, want 403", st)
	}
	if st := wsStatus(t, e, writer, "/api/v1/sessions/"+ws.ID+"/signal", ""); st != 403 {
		t.Errorf("joining it again: %d, want 403", st)
	}
	rs, _ := e.startTool(t, writer, ep, secret, protocol.ToolFiles)
	if st := writer.do("GET", "/api/v1/sessions/"+rs.ID, nil, nil); st != 200 {
		t.Errorf("a read-only files session: %d, want 200", st)
	}
}

// TestFilesAsSystem: files as the system needs tools.files and a root
// shell's permission, both over the endpoint's group: tools.files alone,
// or the root shell's only over another group, is refused and queues
// nothing; the user's files need tools.files alone.
func TestFilesAsSystem(t *testing.T) {
	e := newEnv(t)
	root := e.user("root", perm.RoleAdministrator)
	if st := root.do("POST", "/api/v1/groups", protocol.Group{Name: "Lab"}, nil); st != 201 {
		t.Fatalf("create group: %d", st)
	}
	mustDo(t, root, "POST", "/api/v1/roles", protocol.RoleRequest{Name: "File Reader", Permissions: []string{
		string(perm.EndpointsView), string(perm.ToolsFiles)}}, nil, 201)
	mustDo(t, root, "POST", "/api/v1/roles", protocol.RoleRequest{Name: "Root Shell", Permissions: []string{
		string(perm.EndpointsView), string(perm.ToolsTerminalSystem)}}, nil, 201)
	reader := e.user("reader", "File Reader")
	elsewhere := e.user("elsewhere", "File Reader", "Root Shell@Lab")
	both := e.user("both", "File Reader", "Root Shell")
	ep, secret := e.enroll("files-2", "Default")

	for _, c := range []*client{reader, elsewhere} {
		var s protocol.Session
		if st := c.do("POST", "/api/v1/endpoints/"+ep+"/tools", protocol.CreateToolSessionRequest{Tool: protocol.ToolFilesSystem}, &s); st != 403 {
			t.Errorf("files as the system without a root shell over the endpoint's group: %d %s, want 403", st, c.last)
		}
		e.startTool(t, c, ep, secret, protocol.ToolFiles)
	}
	// "files" alone was the system's files before the user's were
	// "files.user": refused, so no agent of that time is sent it.
	if st := both.do("POST", "/api/v1/endpoints/"+ep+"/tools", protocol.CreateToolSessionRequest{Tool: "files"}, nil); st != 400 {
		t.Errorf(`the tool "files": %d, want 400`, st)
	}
	s, start := e.startTool(t, both, ep, secret, protocol.ToolFilesSystem)
	if start.Tool != protocol.ToolFilesSystem || start.Write {
		t.Fatalf("files as the system started %+v, want the tool without write", start)
	}
	us, _ := e.startTool(t, both, ep, secret, protocol.ToolFiles)
	// A holder of screenshare.sessions and tools.files sees the user's
	// files session, not the one as the system.
	mustDo(t, root, "POST", "/api/v1/roles", protocol.RoleRequest{Name: "Watcher", Permissions: []string{
		string(perm.EndpointsView), string(perm.ScreenShareAllSession), string(perm.ToolsFiles)}}, nil, 201)
	watcher := e.user("watcher", "Watcher")
	if st := watcher.do("GET", "/api/v1/sessions/"+us.ID, nil, nil); st != 200 {
		t.Errorf("a watcher reading a files session: %d, want 200", st)
	}
	if st := watcher.do("GET", "/api/v1/sessions/"+s.ID, nil, nil); st != 403 {
		t.Errorf("a watcher without a root shell reading a files.system session: %d, want 403", st)
	}
}

// TestToolsOnlyToAgentsThatOfferThem: an agent that names no tools (one
// from before them would take a tool's session for a screen share) gets
// no tool's session, and nothing is queued for it; once it names them,
// it does.
func TestToolsOnlyToAgentsThatOfferThem(t *testing.T) {
	e := newEnv(t)
	root := e.user("root", perm.RoleAdministrator)
	ep, secret := e.enroll("old-agent", "Default")
	old := protocol.Inventory{Hostname: "old-agent", OS: "linux", Arch: "amd64", AgentVersion: "before-tools"}
	if _, st := e.poll(secret, protocol.PollRequest{Inventory: &old}); st != 200 {
		t.Fatalf("poll: %d", st)
	}
	for _, tool := range protocol.Tools {
		if st := root.do("POST", "/api/v1/endpoints/"+ep+"/tools", protocol.CreateToolSessionRequest{Tool: tool}, nil); st != 409 || !strings.Contains(string(root.last), "update it") {
			t.Errorf("%s on an agent that offers no tools: %d %s, want 409", tool, st, root.last)
		}
	}
	if resp, _ := e.poll(secret, protocol.PollRequest{}); len(resp.Actions) != 0 {
		t.Fatalf("queued for an agent without tools: %+v", resp.Actions)
	}
	old.Tools, old.AgentVersion = protocol.Tools, "with-tools"
	if _, st := e.poll(secret, protocol.PollRequest{Inventory: &old}); st != 200 {
		t.Fatalf("poll: %d", st)
	}
	e.startTool(t, root, ep, secret, protocol.ToolTerminal)
}

// TestToolSessionEndsWithItsLastViewer: a tool's session ends when its
// last viewer leaves (a screen share's does not: see the session tests).
func TestToolSessionEndsWithItsLastViewer(t *testing.T) {
	f := newSessionFixture(t)
	var s protocol.Session
	mustDo(t, f.admin, "POST", "/api/v1/endpoints/"+f.epID+"/tools", protocol.CreateToolSessionRequest{Tool: protocol.ToolProcesses}, &s, 201)
	f.agentConn(t, f.start(t))
	v1, _ := f.viewerConn(t, f.admin, s.ID)
	v2, _ := f.viewerConn(t, f.admin, s.ID)
	v1.conn.Close(websocket.StatusGoingAway, "the tab closed")
	v1.waitClosed(2 * time.Second)
	// The other viewer still works in it: a round trip shows it served.
	v2.send(map[string]any{"type": "bogus"})
	v2.expect(protocol.SignalError)
	if st := f.state(t, s.ID); st.State == protocol.SessionEnded {
		t.Fatalf("ended with a viewer left: %+v", st)
	}
	v2.conn.Close(websocket.StatusGoingAway, "the tab closed")
	testenv.Eventually(t, 5*time.Second, "the session to end", func() (bool, error) {
		st := f.state(t, s.ID)
		return st.State == protocol.SessionEnded && st.Reason == protocol.EndedByTechnician, fmt.Errorf("%s %s", st.State, st.Reason)
	})
}

// TestToolActionBelongsToTool: a session reports only its own tool's
// operations to the audit log (a terminal's none).
func TestToolActionBelongsToTool(t *testing.T) {
	e := newEnv(t)
	root := e.user("root", perm.RoleAdministrator)
	ep, secret := e.enroll("actions-1", "Default")
	term, _ := e.startTool(t, root, ep, secret, protocol.ToolTerminal)
	procs, _ := e.startTool(t, root, ep, secret, protocol.ToolProcesses)
	ctx := t.Context()
	end := protocol.ToolAction{Op: protocol.AdminEndProcess, Target: "4242"}
	if err := e.svc.RecordToolAction(ctx, term.ID, end); err == nil {
		t.Error("a terminal session reported a process ended")
	}
	if err := e.svc.RecordToolAction(ctx, procs.ID, protocol.ToolAction{Op: protocol.AdminDeleteFile, Target: "/etc/passwd"}); err == nil {
		t.Error("a processes session reported a file deleted")
	}
	if err := e.svc.RecordToolAction(ctx, procs.ID, end); err != nil {
		t.Errorf("a processes session's own action: %v", err)
	}
	// The user's files run in the desktop user's helper: their records
	// say so; root files' do not.
	files, _ := e.startTool(t, root, ep, secret, protocol.ToolFiles)
	sys, _ := e.startTool(t, root, ep, secret, protocol.ToolFilesSystem)
	del := protocol.ToolAction{Op: protocol.AdminDeleteFile, Target: "/home/x"}
	for _, id := range []string{files.ID, sys.ID} {
		if err := e.svc.RecordToolAction(ctx, id, del); err != nil {
			t.Fatalf("a files session's delete: %v", err)
		}
	}
	for _, r := range auditOf(t, e.store, protocol.AuditSessionToolAction) {
		helper := strings.Contains(string(r.Details), "reported_by")
		if want := r.SessionID == files.ID; helper != want {
			t.Errorf("session %s (files %v): reported_by in %s", r.SessionID, want, r.Details)
		}
	}
}
