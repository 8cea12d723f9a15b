package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetherdesk/tether/internal/testenv"
	"github.com/tetherdesk/tether/server/app"
	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
)

// withRecordings gives the service a recordings directory and an upload
// limit (0: the default).
func withRecordings(dir string, max int64) envOpt {
	return func(c *app.Config) {
		c.RecordingDir, c.RecordingMaxBytes = dir, max
		c.RecordingSweep = time.Hour // tests sweep themselves, on the test clock
	}
}

// recordPolicy makes every endpoint record sessions, kept for days.
func recordPolicy(t *testing.T, root *client, days int) {
	t.Helper()
	mustDo(t, root, "PUT", "/api/v1/policies/global",
		fmt.Sprintf(`{"screenshare":{"record_sessions":true,"recording_retention_days":%d}}`, days), nil, 200)
}

// startSession starts an attended session on epID as c and returns it
// with its agent token, taken from the screenshare.start the agent polls.
func (e *env) startSession(t *testing.T, c *client, epID, secret string) (protocol.Session, protocol.ScreenShareStart) {
	t.Helper()
	var s protocol.Session
	mustDo(t, c, "POST", "/api/v1/sessions", protocol.CreateSessionRequest{EndpointID: epID, Attended: true}, &s, 201)
	return s, e.startOf(t, secret, s.ID)
}

// startOf polls as the endpoint and returns the screenshare.start of
// session id, with its agent token.
func (e *env) startOf(t *testing.T, secret, id string) protocol.ScreenShareStart {
	t.Helper()
	resp, st := e.poll(secret, protocol.PollRequest{})
	if st != 200 {
		t.Fatalf("poll: %d", st)
	}
	for _, a := range resp.Actions {
		var p protocol.ScreenShareStart
		if a.Type == protocol.ActionScreenShareStart && json.Unmarshal(a.Payload, &p) == nil && p.SessionID == id {
			return p
		}
	}
	t.Fatalf("no screenshare.start for session %s", id)
	return protocol.ScreenShareStart{}
}

// webm is a fake WebM file of n bytes: the EBML magic, then random bytes.
func webm(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	copy(b, []byte{0x1A, 0x45, 0xDF, 0xA3})
	return b
}

type mpart struct {
	name string
	body []byte
}

// multipartBody encodes parts as multipart/form-data, in order.
func multipartBody(t *testing.T, parts ...mpart) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, p.name, p.name))
		pw, err := w.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		pw.Write(p.body)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w.FormDataContentType(), buf.Bytes()
}

var testTimeline = protocol.RecordingTimeline{
	Started: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC), DurationMS: 61000, Width: 1280, Height: 720,
	Events: []protocol.RecordingEvent{
		{AtMS: 30000, Kind: protocol.RecEventChat, Actor: "tara", Text: "Could you open the settings?"},
		{AtMS: 1000, Kind: protocol.RecEventControl, Actor: "tara"},
		{AtMS: 45000, Kind: protocol.RecEventMode, Text: string(protocol.ModeMonitor)},
	},
}

func timelineJSON(t *testing.T) []byte {
	t.Helper()
	b, err := json.Marshal(testTimeline)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// upload posts a body to the session's recording route with token as the
// bearer; length < 0 sends it chunked. It returns the status and answer.
func (e *env) upload(t *testing.T, base, sessionID, token, contentType string, body io.Reader, length int64) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("POST", base+strings.Replace(protocol.PathAgentRecording, "{id}", sessionID, 1), body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = length
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// uploadVideo uploads the test timeline and video.
func (e *env) uploadVideo(t *testing.T, base, sessionID, token string, video []byte) (int, protocol.RecordingInfo) {
	t.Helper()
	ct, body := multipartBody(t, mpart{protocol.RecordingPartTimeline, timelineJSON(t)}, mpart{protocol.RecordingPartVideo, video})
	st, b := e.upload(t, base, sessionID, token, ct, bytes.NewReader(body), int64(len(body)))
	var info protocol.RecordingInfo
	if st == http.StatusCreated {
		if err := json.Unmarshal(b, &info); err != nil {
			t.Fatalf("decode %q: %v", b, err)
		}
	}
	return st, info
}

// dirFiles lists the names in dir.
func dirFiles(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

func auditOf(t *testing.T, st store.Store, typ protocol.AuditType) []store.AuditRecord {
	t.Helper()
	rs, err := st.ListAudit(context.Background(), store.AuditFilter{Type: string(typ)})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// TestRecordingUpload stores a good upload: the file with the video's
// bytes, the row, the audit record with the same SHA-256, the session's
// record flag and recording, the history's Play mark; a second upload is
// refused.
func TestRecordingUpload(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, withRecordings(dir, 0))
	root := e.user("root", perm.RoleAdministrator)
	epID, secret := e.enroll("rec-host", "Default")

	plain, plainStart := e.startSession(t, root, epID, secret)
	if plain.Record || plainStart.Record {
		t.Fatalf("a session under the default policy is recorded: %+v %+v", plain, plainStart)
	}
	recordPolicy(t, root, 7)
	s, start := e.startSession(t, root, epID, secret)
	if !s.Record || !start.Record {
		t.Fatalf("session under a recording policy: session record=%v, screenshare.start record=%v", s.Record, start.Record)
	}
	created := auditOf(t, e.store, protocol.AuditSessionCreated)
	var det map[string]string
	json.Unmarshal(created[0].Details, &det) // newest first
	if created[0].SessionID != s.ID || det["record"] != "true" {
		t.Errorf("session.created of a recorded session: %s %v", created[0].SessionID, det)
	}
	mustDo(t, root, "POST", "/api/v1/sessions/"+s.ID+"/end", map[string]any{}, nil, 200)

	video := webm(200 << 10)
	sum := sha256.Sum256(video)
	wantSum := hex.EncodeToString(sum[:])
	st, info := e.uploadVideo(t, e.srv.URL, s.ID, start.AgentToken, video)
	if st != http.StatusCreated {
		t.Fatalf("upload after the session ended: %d", st)
	}
	now := e.clock.Now()
	if info.SessionID != s.ID || info.SHA256 != wantSum || info.Size != int64(len(video)) || info.DurationMS != 61000 ||
		info.Width != 1280 || info.Height != 720 || !info.Expires.Equal(info.Created.Add(7*24*time.Hour)) || info.Created.Sub(now).Abs() > time.Second {
		t.Errorf("upload answer %+v, want sha256 %s, %d bytes, kept 7 days", info, wantSum, len(video))
	}
	if got := dirFiles(t, dir); len(got) != 1 || got[0] != s.ID+".webm" {
		t.Fatalf("recordings directory holds %v, want only %s.webm", got, s.ID)
	}
	if b, err := os.ReadFile(filepath.Join(dir, s.ID+".webm")); err != nil || !bytes.Equal(b, video) {
		t.Fatalf("stored file differs from the upload (%v)", err)
	}
	row, err := e.store.RecordingBySession(context.Background(), s.ID)
	if err != nil || row.SHA256 != wantSum || row.AgentID != epID {
		t.Fatalf("recording row %+v, %v", row, err)
	}
	recorded := auditOf(t, e.store, protocol.AuditSessionRecorded)
	if len(recorded) != 1 || recorded[0].EndpointID != epID || recorded[0].SessionID != s.ID {
		t.Fatalf("session.recorded records: %+v", recorded)
	}
	det = nil
	json.Unmarshal(recorded[0].Details, &det)
	if det["sha256"] != wantSum || det["size"] != fmt.Sprint(len(video)) || det["duration_ms"] != "61000" {
		t.Errorf("session.recorded details %v", det)
	}

	var got protocol.Session
	mustDo(t, root, "GET", "/api/v1/sessions/"+s.ID, nil, &got, 200)
	if !got.Record || got.Recording == nil || got.Recording.SHA256 != wantSum {
		t.Errorf("session JSON: record=%v recording=%+v", got.Record, got.Recording)
	}
	var hist struct {
		Sessions []protocol.SessionRecord `json:"sessions"`
	}
	mustDo(t, root, "GET", "/api/v1/audit/sessions", nil, &hist, 200)
	marks := map[string]bool{}
	for _, r := range hist.Sessions {
		marks[r.ID] = r.Recorded
	}
	if !marks[s.ID] || marks[plain.ID] || len(marks) != 2 {
		t.Errorf("history recorded marks %v, want %s only", marks, s.ID)
	}
	mustDo(t, root, "GET", "/api/v1/audit/sessions?session="+s.ID, nil, &hist, 200)
	if len(hist.Sessions) != 1 || hist.Sessions[0].ID != s.ID || !hist.Sessions[0].Recorded {
		t.Errorf("history of one session: %+v", hist.Sessions)
	}

	// Once only, whatever comes second.
	if st, _ := e.uploadVideo(t, e.srv.URL, s.ID, start.AgentToken, webm(1000)); st != http.StatusConflict {
		t.Errorf("second upload: %d, want 409", st)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, s.ID+".webm")); !bytes.Equal(b, video) {
		t.Error("a refused second upload changed the stored file")
	}
	if got := dirFiles(t, dir); len(got) != 1 {
		t.Errorf("after a refused upload the directory holds %v", got)
	}
}

// TestRecordingUploadRefused: every refusal answers its status with a JSON
// error and leaves neither file nor row; a good upload still works after.
func TestRecordingUploadRefused(t *testing.T) {
	// Over the timeline's own limit, under the server's.
	const limit = protocol.RecordingTimelineMax + 1<<20
	dir := t.TempDir()
	e := newEnv(t, withRecordings(dir, limit))
	root := e.user("root", perm.RoleAdministrator)
	epID, secret := e.enroll("rec-host", "Default")
	plain, plainStart := e.startSession(t, root, epID, secret)
	recordPolicy(t, root, 30)
	s, start := e.startSession(t, root, epID, secret)
	other, otherStart := e.startSession(t, root, epID, secret)
	_ = plain

	tl := timelineJSON(t)
	good := func(video []byte) (string, []byte) {
		return multipartBody(t, mpart{protocol.RecordingPartTimeline, tl}, mpart{protocol.RecordingPartVideo, video})
	}
	big := bytes.Repeat([]byte("x"), protocol.RecordingTimelineMax+10)
	for _, tc := range []struct {
		name    string
		id      string
		token   string
		body    func() (ct string, body []byte)
		chunked bool
		want    int
		code    string
	}{
		{name: "no token", token: "", want: 401, code: protocol.CodeUnauthorized},
		{name: "wrong token", token: "tss_wrong", want: 401, code: protocol.CodeUnauthorized},
		{name: "another session's token", token: otherStart.AgentToken, want: 401, code: protocol.CodeUnauthorized},
		{name: "session not recorded", id: plain.ID, token: plainStart.AgentToken, want: 403, code: protocol.CodeForbidden},
		{name: "not multipart", body: func() (string, []byte) { return "application/json", tl }, want: 400, code: protocol.CodeBadRequest},
		{name: "multipart without boundary", body: func() (string, []byte) { return "multipart/form-data", tl }, want: 400, code: protocol.CodeBadRequest},
		{name: "video first", body: func() (string, []byte) {
			return multipartBody(t, mpart{protocol.RecordingPartVideo, webm(100)}, mpart{protocol.RecordingPartTimeline, tl})
		}, want: 400, code: protocol.CodeBadRequest},
		{name: "timeline only", body: func() (string, []byte) { return multipartBody(t, mpart{protocol.RecordingPartTimeline, tl}) }, want: 400},
		{name: "unknown part", body: func() (string, []byte) {
			return multipartBody(t, mpart{protocol.RecordingPartTimeline, tl}, mpart{"audio", webm(100)})
		}, want: 400},
		{name: "part after the video", body: func() (string, []byte) {
			return multipartBody(t, mpart{protocol.RecordingPartTimeline, tl}, mpart{protocol.RecordingPartVideo, webm(100)}, mpart{"more", nil})
		}, want: 400},
		{name: "video not WebM", body: func() (string, []byte) { return good([]byte("RIFF....AVI LIST")) }, want: 400},
		{name: "video empty", body: func() (string, []byte) { return good(nil) }, want: 400},
		{name: "video shorter than the magic", body: func() (string, []byte) { return good([]byte{0x1A, 0x45}) }, want: 400},
		{name: "timeline over the limit", body: func() (string, []byte) {
			return multipartBody(t, mpart{protocol.RecordingPartTimeline, big}, mpart{protocol.RecordingPartVideo, webm(100)})
		}, want: 400, code: protocol.CodeBadRequest},
		{name: "timeline not JSON", body: func() (string, []byte) {
			return multipartBody(t, mpart{protocol.RecordingPartTimeline, []byte("{")}, mpart{protocol.RecordingPartVideo, webm(100)})
		}, want: 400},
		{name: "timeline negative time", body: func() (string, []byte) {
			return multipartBody(t, mpart{protocol.RecordingPartTimeline, []byte(`{"duration_ms":5,"events":[{"at_ms":-1,"kind":"chat"}]}`)},
				mpart{protocol.RecordingPartVideo, webm(100)})
		}, want: 400},
		{name: "declared length over the limit", body: func() (string, []byte) { return good(webm(limit + 1)) }, want: 413},
		{name: "streamed over the limit", body: func() (string, []byte) { return good(webm(limit + 1)) }, chunked: true, want: 413},
		{name: "cut off before the end", body: func() (string, []byte) {
			ct, b := good(webm(100 << 10))
			return ct, b[:len(b)-200]
		}, want: 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, token := tc.id, tc.token
			if id == "" {
				id = s.ID
			}
			if token == "" && !strings.HasPrefix(tc.name, "no token") {
				token = start.AgentToken
			}
			ct, body := good(webm(1000))
			if tc.body != nil {
				ct, body = tc.body()
			}
			length := int64(len(body))
			var rd io.Reader = bytes.NewReader(body)
			if tc.chunked {
				length, rd = -1, io.MultiReader(rd) // hides the length
			}
			st, b := e.upload(t, e.srv.URL, id, token, ct, rd, length)
			var apiErr protocol.Error
			if err := json.Unmarshal(b, &apiErr); err != nil || apiErr.Error == "" {
				t.Errorf("answer %q is not a JSON error", b)
			}
			if st != tc.want || (tc.code != "" && apiErr.Code != tc.code) {
				t.Errorf("status %d %q, want %d %s", st, b, tc.want, tc.code)
			}
			if got := dirFiles(t, dir); len(got) != 0 {
				t.Errorf("a refused upload left %v", got)
			}
			if _, err := e.store.RecordingBySession(context.Background(), id); err == nil {
				t.Error("a refused upload left a row")
			}
		})
	}
	if rs := auditOf(t, e.store, protocol.AuditSessionRecorded); len(rs) != 0 {
		t.Errorf("refused uploads were audited as stored: %+v", rs)
	}
	if st, _ := e.uploadVideo(t, e.srv.URL, s.ID, start.AgentToken, webm(limit/2)); st != http.StatusCreated {
		t.Fatalf("good upload after the refusals: %d", st)
	}
	_ = other
}

// TestRecordingUploadDisconnect: a helper whose connection drops while
// the video streams leaves neither the partial file nor a row.
func TestRecordingUploadDisconnect(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, withRecordings(dir, 0))
	root := e.user("root", perm.RoleAdministrator)
	epID, secret := e.enroll("rec-host", "Default")
	recordPolicy(t, root, 30)
	s, start := e.startSession(t, root, epID, secret)

	ct, body := multipartBody(t, mpart{protocol.RecordingPartTimeline, timelineJSON(t)}, mpart{protocol.RecordingPartVideo, webm(1 << 20)})
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest("POST", e.srv.URL+strings.Replace(protocol.PathAgentRecording, "{id}", s.ID, 1), pr)
		req.ContentLength = int64(len(body))
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Authorization", "Bearer "+start.AgentToken)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			err = fmt.Errorf("answered %s", resp.Status)
		}
		done <- err
	}()
	// Half the body: the server is writing the upload's file.
	if _, err := pw.Write(body[:len(body)/2]); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "the upload's file to appear", func() (bool, error) {
		fs := dirFiles(t, dir)
		return len(fs) == 1 && strings.HasPrefix(fs[0], ".upload-"), nil
	})
	pw.CloseWithError(io.ErrClosedPipe) // the connection drops
	<-done
	testenv.Eventually(t, 10*time.Second, "the partial file to go", func() (bool, error) { return len(dirFiles(t, dir)) == 0, nil })
	if _, err := e.store.RecordingBySession(context.Background(), s.ID); err == nil {
		t.Fatal("a cut-off upload left a row")
	}
	if st, _ := e.uploadVideo(t, e.srv.URL, s.ID, start.AgentToken, webm(1000)); st != http.StatusCreated {
		t.Fatalf("the upload again: %d", st)
	}
}

// TestRecordingOff: a server without a recordings directory refuses
// uploads with 503 and says why.
func TestRecordingOff(t *testing.T) {
	e := newEnv(t)
	root := e.user("root", perm.RoleAdministrator)
	epID, secret := e.enroll("rec-host", "Default")
	recordPolicy(t, root, 30)
	s, start := e.startSession(t, root, epID, secret)
	ct, body := multipartBody(t, mpart{protocol.RecordingPartTimeline, timelineJSON(t)}, mpart{protocol.RecordingPartVideo, webm(100)})
	st, b := e.upload(t, e.srv.URL, s.ID, start.AgentToken, ct, bytes.NewReader(body), int64(len(body)))
	if st != http.StatusServiceUnavailable || !strings.Contains(string(b), "recording_dir") {
		t.Fatalf("upload to a server without recordings: %d %s", st, b)
	}
}

// TestRecordingRead plays a recording back: whole, by ranges (206 with the
// right bytes), its timeline ordered; only reads from the first byte are
// audited.
func TestRecordingRead(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, withRecordings(dir, 0))
	root := e.user("root", perm.RoleAdministrator)
	auditor := e.user("auditor", perm.RoleScreenShareAdmin)
	epID, secret := e.enroll("lab pc/7", "Default")
	recordPolicy(t, root, 30)
	s, start := e.startSession(t, root, epID, secret)
	bare, _ := e.startSession(t, root, epID, secret)
	video := webm(300 << 10)
	if st, _ := e.uploadVideo(t, e.srv.URL, s.ID, start.AgentToken, video); st != http.StatusCreated {
		t.Fatalf("upload: %d", st)
	}
	path := "/api/v1/sessions/" + s.ID + "/recording"

	get := func(rng string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := auditor.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	reads := func() int { return len(auditOf(t, e.store, protocol.AuditRecordingRead)) }
	for _, tc := range []struct {
		rng        string
		status     int
		from, to   int // the bytes expected, video[from:to]
		wantAudits int // session reads audited so far
	}{
		{"", 200, 0, len(video), 1},
		{"bytes=1000-1999", 206, 1000, 2000, 1},
		{"bytes=200000-", 206, 200000, len(video), 1},
		{"bytes=-500", 206, len(video) - 500, len(video), 1},
		{"bytes=0-99", 206, 0, 100, 2},
		{"bytes=0-", 206, 0, len(video), 3},
	} {
		t.Run("range "+tc.rng, func(t *testing.T) {
			resp, b := get(tc.rng)
			if resp.StatusCode != tc.status || !bytes.Equal(b, video[tc.from:tc.to]) {
				t.Fatalf("status %d, %d bytes; want %d with bytes %d-%d", resp.StatusCode, len(b), tc.status, tc.from, tc.to)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "video/webm" {
				t.Errorf("Content-Type %q", ct)
			}
			if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "inline;") || !strings.Contains(cd, "tether-lab_pc_7-") || !strings.Contains(cd, s.ID+".webm") {
				t.Errorf("Content-Disposition %q", cd)
			}
			if n := reads(); n != tc.wantAudits {
				t.Errorf("recording reads audited: %d, want %d", n, tc.wantAudits)
			}
		})
	}
	rs := auditOf(t, e.store, protocol.AuditRecordingRead)
	if rs[0].Actor != "auditor" || rs[0].SessionID != s.ID || rs[0].EndpointID != epID {
		t.Errorf("recording.downloaded record %+v", rs[0])
	}

	var info protocol.RecordingInfo
	mustDo(t, auditor, "GET", path+"/timeline", nil, &info, 200)
	if info.SessionID != s.ID || info.Size != int64(len(video)) || len(info.Events) != 3 ||
		info.Events[0].AtMS != 1000 || info.Events[1].Text != testTimeline.Events[0].Text || info.Events[2].Kind != protocol.RecEventMode {
		t.Errorf("timeline %+v, want its three events by time", info)
	}
	if n := reads(); n != 3 {
		t.Errorf("the timeline was audited as a read: %d", n)
	}

	for _, p := range []string{"/api/v1/sessions/" + bare.ID + "/recording", "/api/v1/sessions/" + bare.ID + "/recording/timeline",
		"/api/v1/sessions/nosuchsession/recording", "/api/v1/sessions/nosuchsession/recording/timeline"} {
		if st := auditor.do("GET", p, nil, nil); st != 404 {
			t.Errorf("GET %s: %d, want 404", p, st)
		}
	}
	// The row without its file (a store restored without the files): 404.
	os.Remove(filepath.Join(dir, s.ID+".webm"))
	if st := auditor.do("GET", path, nil, nil); st != 404 {
		t.Errorf("recording whose file is gone: %d, want 404", st)
	}
}

// TestRecordingSweep deletes, on the test clock, the expired recording's
// row and file with an audit record, keeps the fresh one, and removes
// files no row names once they are old (what a crash between file and row
// leaves) but not young ones.
func TestRecordingSweep(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, withRecordings(dir, 0))
	root := e.user("root", perm.RoleAdministrator)
	epID, secret := e.enroll("rec-host", "Default")
	ctx := context.Background()

	recordPolicy(t, root, 1)
	short, shortStart := e.startSession(t, root, epID, secret)
	recordPolicy(t, root, 30)
	long, longStart := e.startSession(t, root, epID, secret)
	// Retention is the policy's at upload time: both are uploaded now, one
	// under 1 day, one under 30.
	recordPolicy(t, root, 1)
	if st, _ := e.uploadVideo(t, e.srv.URL, short.ID, shortStart.AgentToken, webm(1000)); st != 201 {
		t.Fatalf("upload: %d", st)
	}
	recordPolicy(t, root, 30)
	if st, _ := e.uploadVideo(t, e.srv.URL, long.ID, longStart.AgentToken, webm(1000)); st != 201 {
		t.Fatalf("upload: %d", st)
	}

	if n, err := e.svc.SweepRecordings(ctx); err != nil || n != 0 {
		t.Fatalf("sweep before anything expired: %d, %v", n, err)
	}
	e.clock.Add(25 * time.Hour)
	now := e.clock.Now()
	// Files no row names: an old recording and an old upload (to go), and
	// a young recording (to stay: its row may be on its way).
	stray := map[string]time.Time{
		"abandoned0000000000000000.webm":  now.Add(-2 * time.Hour),
		".upload-abc0000000000-123456789": now.Add(-2 * time.Hour),
		"young000000000000000000000.webm": now.Add(-time.Minute),
	}
	for name, mt := range stray {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	// The kept recording's file is old too, but named by its row.
	os.Chtimes(filepath.Join(dir, long.ID+".webm"), now.Add(-24*time.Hour), now.Add(-24*time.Hour))

	n, err := e.svc.SweepRecordings(ctx)
	if err != nil || n != 1 {
		t.Fatalf("sweep: %d, %v; want 1 deleted", n, err)
	}
	if _, err := e.store.RecordingBySession(ctx, short.ID); err == nil {
		t.Error("the expired recording's row is still there")
	}
	if _, err := e.store.RecordingBySession(ctx, long.ID); err != nil {
		t.Errorf("the fresh recording's row: %v", err)
	}
	files := dirFiles(t, dir)
	slices.Sort(files)
	wantFiles := []string{long.ID + ".webm", "young000000000000000000000.webm"}
	slices.Sort(wantFiles)
	if got, want := strings.Join(files, " "), strings.Join(wantFiles, " "); got != want {
		t.Errorf("recordings directory after the sweep: %q, want %q", got, want)
	}
	del := auditOf(t, e.store, protocol.AuditRecordingDeleted)
	if len(del) != 1 || del[0].SessionID != short.ID || del[0].EndpointID != epID || del[0].Actor != "server" {
		t.Errorf("recording.deleted records %+v", del)
	}
	if n, err := e.svc.SweepRecordings(ctx); err != nil || n != 0 {
		t.Errorf("sweep again: %d, %v; want nothing", n, err)
	}
	var hist struct {
		Sessions []protocol.SessionRecord `json:"sessions"`
	}
	mustDo(t, root, "GET", "/api/v1/audit/sessions?session="+short.ID, nil, &hist, 200)
	if len(hist.Sessions) != 1 || hist.Sessions[0].Recorded {
		t.Errorf("history of the swept session: %+v", hist.Sessions)
	}
}

// TestRecordingTwoNodes: two nodes on one PostgreSQL store and one
// recordings directory. Uploads racing on both nodes store one recording
// (the other 409), and either node plays it.
func TestRecordingTwoNodes(t *testing.T) {
	dir := t.TempDir()
	e, _, node2 := twoNodes(t, withRecordings(dir, 0))
	root := e.user("root", perm.RoleAdministrator)
	epID, secret := e.enroll("rec-host", "Default")
	recordPolicy(t, root, 30)
	s, start := e.startSession(t, root, epID, secret)

	videos := [][]byte{webm(64 << 10), webm(64 << 10)}
	status := make([]int, 2)
	var wg sync.WaitGroup
	for i, base := range []string{e.srv.URL, node2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status[i], _ = e.uploadVideo(t, base, s.ID, start.AgentToken, videos[i])
		}()
	}
	wg.Wait()
	if !(status[0] == 201 && status[1] == 409 || status[0] == 409 && status[1] == 201) {
		t.Fatalf("racing uploads answered %v, want one 201 and one 409", status)
	}
	won := videos[0]
	if status[1] == 201 {
		won = videos[1]
	}
	if b, _ := os.ReadFile(filepath.Join(dir, s.ID+".webm")); !bytes.Equal(b, won) {
		t.Fatal("the stored file is not the accepted upload's")
	}
	if got := dirFiles(t, dir); len(got) != 1 {
		t.Fatalf("recordings directory: %v", got)
	}
	c := e.client()
	c.base = node2
	var me protocol.Me
	mustDo(t, c, "POST", "/api/v1/login", protocol.LoginRequest{Name: "root", Password: "correct horse battery"}, &me, 200)
	req, _ := http.NewRequest("GET", node2+"/api/v1/sessions/"+s.ID+"/recording", nil)
	req.Header.Set("Range", "bytes=100-199")
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 206 || !bytes.Equal(b, won[100:200]) {
		t.Fatalf("ranged read on the other node: %d, %d bytes", resp.StatusCode, len(b))
	}
}

// TestRecordingBrokerSession: a session started with a connection code is
// recorded under the endpoint's policy too, and its helper can upload.
func TestRecordingBrokerSession(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, withRecordings(dir, 0))
	root := e.user("root", perm.RoleAdministrator)
	_, secret := e.enroll("code-pc", "Default")
	recordPolicy(t, root, 30)
	var c protocol.ConnectionCode
	mustDo(t, root, "POST", "/api/v1/codes", nil, &c, 201)
	st, resp, apiErr := e.redeem(secret, c.Code)
	if st != 200 || resp.Start == nil || !resp.Start.Record {
		t.Fatalf("redeem: %d %+v %+v, want a recorded start", st, resp, apiErr)
	}
	var s protocol.Session
	mustDo(t, root, "GET", "/api/v1/sessions/"+resp.SessionID, nil, &s, 200)
	if !s.Record {
		t.Errorf("broker session not marked recorded: %+v", s)
	}
	if st, _ := e.uploadVideo(t, e.srv.URL, resp.SessionID, resp.Start.AgentToken, webm(1000)); st != http.StatusCreated {
		t.Fatalf("upload: %d", st)
	}
}
