package session

import (
	"context"
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"time"

	"github.com/tetherdesk/tether/agent/client"
	"github.com/tetherdesk/tether/agent/record"
)

// uploadFor bounds the upload at the end of a recorded session: the
// helper waits this long for the server before it leaves the files for
// the next session to send.
const uploadFor = 2 * time.Minute

// recordDir is where recordings wait for their upload.
func (s *Session) recordDir() string {
	if s.cfg.RecordDir != "" {
		return s.cfg.RecordDir
	}
	// The user's cache outlives a reboot, so a recording not yet sent
	// is still there for the next session.
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "tether", "recordings")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("tether-recordings-%d", os.Getuid()))
}

// startRecording starts the recorder of a session the policy records.
// Without one (no libvpx, no room) the session goes on unrecorded: the
// server then shows the session without a recording, and the log says
// why.
func (s *Session) startRecording() {
	if !s.cfg.Start.Record || s.rec.Load() != nil {
		return
	}
	r, err := record.Start(record.Config{Dir: s.recordDir(), SessionID: s.cfg.Start.SessionID, Logger: s.log})
	if err != nil {
		s.log.Error("the policy records this session, but it cannot be recorded", "error", err)
		return
	}
	s.rec.Store(r)
	s.log.Info("recording the session")
}

// recEvent adds a moment to the recording's timeline, if recording.
func (s *Session) recEvent(kind, actor, text string) {
	if r := s.rec.Load(); r != nil {
		r.Event(kind, actor, text)
	}
}

// recordFrame offers a captured picture of monitor mon to the recording,
// which keeps the primary monitor; changed are the parts that changed
// since the last capture (nil: any may have).
func (s *Session) recordFrame(mon int, img *image.RGBA, changed []image.Rectangle, at time.Time) {
	if r := s.rec.Load(); r != nil && mon == s.recordedMonitor() {
		r.Offer(img, changed, at)
	}
}

// recordDue reports whether the recording wants monitor mon captured now.
func (s *Session) recordDue(mon int, now time.Time) bool {
	r := s.rec.Load()
	return r != nil && mon == s.recordedMonitor() && r.Due(now)
}

func (s *Session) recordedMonitor() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return primary(s.monitors)
}

// viewerName is a viewer's technician, for the timeline.
func (s *Session) viewerName(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.names[id]; n != "" {
		return n
	}
	return id
}

// finishRecording closes the recording and uploads it. It runs after
// everything else of the session stopped; files the server did not take
// stay in recordDir and go with the next session (sendLeftovers).
func (s *Session) finishRecording() {
	r := s.rec.Swap(nil)
	if r == nil {
		return
	}
	files, err := r.Finish()
	if err != nil {
		s.log.Error("finishing the recording", "error", err)
		return
	}
	up, err := s.uploader()
	if err != nil {
		s.log.Error("uploading the recording", "error", err)
		return
	}
	// Kept first: a helper killed during the upload leaves it for later.
	if err := record.Keep(s.recordDir(), record.Pending{SessionID: s.cfg.Start.SessionID, Server: s.cfg.Server, Token: s.cfg.Start.AgentToken}); err != nil {
		s.log.Warn("keeping the recording for a later upload", "error", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), uploadFor)
	defer cancel()
	info, err := up.SendRetrying(ctx, files, func(err error) {
		s.log.Warn("uploading the recording; trying again", "error", err)
	})
	switch {
	case err == nil:
		s.log.Info("recording uploaded", "bytes", info.Size, "sha256", info.SHA256)
		record.Discard(s.recordDir(), s.cfg.Start.SessionID)
	case errors.Is(err, record.ErrRejected):
		// Another helper's part was taken first (the desktop changed), or
		// the server will not have it: keeping it would change nothing.
		s.log.Warn("the server refused the recording", "error", err)
		record.Discard(s.recordDir(), s.cfg.Start.SessionID)
	default:
		s.log.Error("the recording could not be uploaded; it stays on this endpoint for the next session to send", "dir", s.recordDir(), "error", err)
	}
}

// sendLeftovers sends, once each, the recordings earlier sessions could
// not upload to this server.
func (s *Session) sendLeftovers() {
	ps, fs := record.Leftovers(s.recordDir(), s.cfg.Server)
	if len(ps) == 0 {
		return
	}
	hc, err := s.httpClient()
	if err != nil {
		return
	}
	base, err := client.ParseServerURL(s.cfg.Server)
	if err != nil {
		return
	}
	for i, p := range ps {
		up := record.Upload{Server: base, SessionID: p.SessionID, Token: p.Token, Client: hc}
		ctx, cancel := context.WithTimeout(s.ctx, uploadFor)
		_, err := up.Send(ctx, fs[i])
		cancel()
		if err == nil || errors.Is(err, record.ErrRejected) {
			s.log.Info("an earlier session's recording was sent", "earlier_session", p.SessionID, "error", err)
			record.Discard(s.recordDir(), p.SessionID)
		} else {
			s.log.Warn("an earlier session's recording is still not sent", "earlier_session", p.SessionID, "error", err)
		}
	}
}

// uploader is the upload's destination, through the same connection
// settings as the signalling.
func (s *Session) uploader() (record.Upload, error) {
	base, err := client.ParseServerURL(s.cfg.Server)
	if err != nil {
		return record.Upload{}, err
	}
	hc, err := s.httpClient()
	if err != nil {
		return record.Upload{}, err
	}
	return record.Upload{Server: base, SessionID: s.cfg.Start.SessionID, Token: s.cfg.Start.AgentToken, Client: hc}, nil
}
