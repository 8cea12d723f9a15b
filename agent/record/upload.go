package record

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tetherdesk/tether/shared/protocol"
)

// Upload is where and how a recording goes to the server.
type Upload struct {
	Server    *url.URL // the server's base URL
	SessionID string
	Token     string // the session's agent token
	Client    *http.Client
}

// ErrRejected wraps an answer that sending again cannot change (the
// server already has a recording, or refuses this one).
var ErrRejected = errors.New("record: the server refused the recording")

// Send uploads the files once: the timeline part, then the video part,
// streamed from disk.
func (u Upload) Send(ctx context.Context, f Files) (protocol.RecordingInfo, error) {
	tl, err := json.Marshal(f.Timeline)
	if err != nil {
		return protocol.RecordingInfo{}, fmt.Errorf("record: %w", err)
	}
	video, err := os.Open(f.Video)
	if err != nil {
		return protocol.RecordingInfo{}, fmt.Errorf("record: %w", err)
	}
	defer video.Close()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		pw.CloseWithError(writeParts(mw, tl, video))
	}()
	defer pr.Close()
	u2 := u.Server.JoinPath(strings.ReplaceAll(protocol.PathAgentRecording, "{id}", url.PathEscape(u.SessionID)))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u2.String(), pr)
	if err != nil {
		return protocol.RecordingInfo{}, fmt.Errorf("record: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+u.Token)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	hc := u.Client
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return protocol.RecordingInfo{}, fmt.Errorf("record: uploading: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode == http.StatusCreated || resp.StatusCode == http.StatusOK:
		var info protocol.RecordingInfo
		if err := json.Unmarshal(body, &info); err != nil {
			return protocol.RecordingInfo{}, fmt.Errorf("record: the server's answer: %w", err)
		}
		return info, nil
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests:
		return protocol.RecordingInfo{}, fmt.Errorf("%w: %s: %s", ErrRejected, resp.Status, strings.TrimSpace(string(body)))
	default:
		return protocol.RecordingInfo{}, fmt.Errorf("record: uploading: server answered %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
}

func writeParts(mw *multipart.Writer, timeline []byte, video io.Reader) error {
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="`+protocol.RecordingPartTimeline+`"`)
	h.Set("Content-Type", "application/json")
	p, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	if _, err := p.Write(timeline); err != nil {
		return err
	}
	h = textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="`+protocol.RecordingPartVideo+`"; filename="recording.webm"`)
	h.Set("Content-Type", "video/webm")
	if p, err = mw.CreatePart(h); err != nil {
		return err
	}
	if _, err := io.Copy(p, video); err != nil {
		return err
	}
	return mw.Close()
}

// SendRetrying uploads until it succeeds, the server refuses for good, or
// ctx ends, waiting longer between tries (1 s doubling to 30 s).
func (u Upload) SendRetrying(ctx context.Context, f Files, onErr func(error)) (protocol.RecordingInfo, error) {
	wait := time.Second
	for {
		info, err := u.Send(ctx, f)
		if err == nil || errors.Is(err, ErrRejected) {
			return info, err
		}
		if onErr != nil {
			onErr(err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return protocol.RecordingInfo{}, fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-t.C:
		}
		wait = min(wait*2, 30*time.Second)
	}
}

// Pending is a finished recording the server has not taken yet, kept
// beside its files so that a later session of the same helper can send
// it: the token is that session's, good only for its recording.
type Pending struct {
	SessionID string `json:"session_id"`
	Server    string `json:"server"`
	Token     string `json:"token"`
}

// Keep writes p beside its files.
func Keep(dir string, p Pending) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return os.WriteFile(fileOf(dir, p.SessionID, ".pending"), b, 0o600)
}

// Leftovers lists the recordings kept in dir for server, with their files.
func Leftovers(dir, server string) ([]Pending, []Files) {
	names, _ := filepath.Glob(filepath.Join(dir, "*.pending"))
	var ps []Pending
	var fs []Files
	for _, n := range names {
		var p Pending
		b, err := os.ReadFile(n)
		if err != nil || json.Unmarshal(b, &p) != nil || p.Server != server || fileOf(dir, p.SessionID, ".pending") != n {
			continue
		}
		var tl protocol.RecordingTimeline
		video := fileOf(dir, p.SessionID, ".webm")
		if b, err = os.ReadFile(fileOf(dir, p.SessionID, ".json")); err != nil || json.Unmarshal(b, &tl) != nil {
			continue
		}
		if _, err := os.Stat(video); err != nil {
			continue
		}
		ps = append(ps, p)
		fs = append(fs, Files{Video: video, Timeline: tl})
	}
	return ps, fs
}
