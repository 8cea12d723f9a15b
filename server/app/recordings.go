package app

// Session recordings (design: the endpoint records a session its policy
// records and uploads it when the session ends). The store keeps a row of
// facts per recording; the video is a file of its own in
// Config.RecordingDir, named <session id>.webm. An upload streams to a
// temporary file there (".upload-<session id>-*"), hashing as it goes,
// and becomes <session id>.webm only once it arrived whole: the rename
// and the row are made together under one lock, and a failed row takes
// the file back. What a crash can leave between the two steps, a file no
// row names, SweepRecordings removes once it is old; it never leaves a
// row without its file (deleting, it removes the row first).

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"mime/multipart"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tetherdesk/tether/server/auth"
	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
)

// ErrTooLarge refuses an upload over the server's limit (413).
var ErrTooLarge = errors.New("the recording is larger than this server accepts (recording_max_bytes)")

// recordingLock serializes, across the nodes sharing the store, the
// commit of an upload (file rename and row) with the sweep's deletes.
const recordingLock = "recordings"

// recordingExt is the extension of a stored recording's file.
const recordingExt = ".webm"

// uploadPrefix starts the name of an upload in progress.
const uploadPrefix = ".upload-"

// ebmlMagic starts every WebM (Matroska) file: the EBML header's id.
var ebmlMagic = []byte{0x1A, 0x45, 0xDF, 0xA3}

// Limits of a timeline beyond its size (protocol.RecordingTimelineMax).
const (
	timelineMaxSide  = 1 << 15               // pixels, width or height
	timelineMaxMS    = 31 * 24 * 3600 * 1000 // a month: no session lasts longer
	timelineMaxKind  = 32
	timelineMaxActor = 256
	timelineMaxText  = 64 << 10
)

// DecodeTimeline reads and checks a recording's timeline part (JSON, at
// most protocol.RecordingTimelineMax bytes). Unknown fields and event
// kinds are accepted (a newer agent); the events come back ordered by
// their time, ties in their given order.
func DecodeTimeline(b []byte) (protocol.RecordingTimeline, error) {
	var tl protocol.RecordingTimeline
	if len(b) > protocol.RecordingTimelineMax {
		return tl, badRequest("the timeline is over %d bytes", protocol.RecordingTimelineMax)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&tl); err != nil {
		return protocol.RecordingTimeline{}, badRequest("the timeline is not a JSON timeline: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return protocol.RecordingTimeline{}, badRequest("the timeline has data after its JSON object")
	}
	switch {
	case tl.DurationMS < 0 || tl.DurationMS > timelineMaxMS:
		return protocol.RecordingTimeline{}, badRequest("timeline duration_ms %d: want 0 to %d", tl.DurationMS, timelineMaxMS)
	case tl.Width < 0 || tl.Width > timelineMaxSide || tl.Height < 0 || tl.Height > timelineMaxSide:
		return protocol.RecordingTimeline{}, badRequest("timeline size %dx%d: want 0 to %d pixels a side", tl.Width, tl.Height, timelineMaxSide)
	}
	for i, e := range tl.Events {
		switch {
		case e.AtMS < 0 || e.AtMS > timelineMaxMS:
			return protocol.RecordingTimeline{}, badRequest("timeline event %d: at_ms %d: want 0 to %d", i, e.AtMS, timelineMaxMS)
		case e.Kind == "" || len(e.Kind) > timelineMaxKind:
			return protocol.RecordingTimeline{}, badRequest("timeline event %d: kind must be 1 to %d bytes", i, timelineMaxKind)
		case len(e.Actor) > timelineMaxActor:
			return protocol.RecordingTimeline{}, badRequest("timeline event %d: actor over %d bytes", i, timelineMaxActor)
		case len(e.Text) > timelineMaxText:
			return protocol.RecordingTimeline{}, badRequest("timeline event %d: text over %d bytes", i, timelineMaxText)
		}
	}
	if tl.Events == nil {
		tl.Events = []protocol.RecordingEvent{}
	}
	slices.SortStableFunc(tl.Events, func(a, b protocol.RecordingEvent) int { return cmp.Compare(a.AtMS, b.AtMS) })
	return tl, nil
}

// RecordingUpload is a session helper's upload of its session's
// recording (protocol.PathAgentRecording).
type RecordingUpload struct {
	SessionID string
	// Token is the session's agent token (the bearer).
	Token       string
	ContentType string
	// Length is the body's declared length, -1 when unknown.
	Length int64
	Body   io.Reader
}

// recordingIDs are the session ids a recording's file may be named by
// (what openSession makes), so no id can reach outside the directory.
var recordingIDs = regexp.MustCompile(`^[A-Za-z0-9]{1,64}$`)

// recordingPath is the file of a session's recording.
func (s *Service) recordingPath(sessionID string) string {
	return filepath.Join(s.cfg.RecordingDir, sessionID+recordingExt)
}

// tokenSession authenticates a session helper by the session's agent
// token: the session it names, on an endpoint not revoked. It takes an
// ended session too (a recording is uploaded when the session ends); the
// signalling refuses one (AgentSession).
func (s *Service) tokenSession(ctx context.Context, sessionID, token string) (store.ScreenSession, store.Agent, error) {
	if token == "" {
		return store.ScreenSession{}, store.Agent{}, fmt.Errorf("%w: session agent token required", ErrUnauthorized)
	}
	ss, err := s.store.SessionByAgentTokenHash(ctx, auth.HashToken(token))
	if errors.Is(err, store.ErrNotFound) || (err == nil && ss.ID != sessionID) {
		return store.ScreenSession{}, store.Agent{}, fmt.Errorf("%w: unknown session agent token", ErrUnauthorized)
	}
	if err != nil {
		return store.ScreenSession{}, store.Agent{}, fmt.Errorf("look up session: %w", err)
	}
	a, err := s.store.AgentByID(ctx, ss.AgentID)
	if err != nil || a.Revoked != nil {
		return store.ScreenSession{}, store.Agent{}, fmt.Errorf("%w: endpoint unknown or revoked", ErrUnauthorized)
	}
	return ss, a, nil
}

// UploadRecording stores a session's recording: a multipart body with the
// part "timeline" (JSON) and then the part "video" (WebM). It is
// authenticated by the session's agent token, also after the session
// ended, and taken only for a session created recorded, once. The video
// streams to a temporary file; nothing of an upload that fails (refused,
// cut off, a full disk) stays behind, neither file nor row. The recording
// is kept for the retention days of the endpoint's policy as it is now.
func (s *Service) UploadRecording(ctx context.Context, up RecordingUpload) (protocol.RecordingInfo, error) {
	Public(ctx) // the session's agent token is checked below
	ss, a, err := s.tokenSession(ctx, up.SessionID, up.Token)
	if err != nil {
		return protocol.RecordingInfo{}, err
	}
	if !ss.Record {
		return protocol.RecordingInfo{}, fmt.Errorf("%w: session %s is not recorded: its endpoint's policy did not record sessions when it started", ErrForbidden, ss.ID)
	}
	if s.cfg.RecordingDir == "" {
		return protocol.RecordingInfo{}, fmt.Errorf("%w: this server stores no recordings (recording_dir is off)", ErrUnavailable)
	}
	if !recordingIDs.MatchString(ss.ID) {
		return protocol.RecordingInfo{}, fmt.Errorf("session id %q cannot name a recording file", ss.ID)
	}
	if err := s.noRecordingYet(ctx, ss.ID); err != nil {
		return protocol.RecordingInfo{}, err
	}
	if up.Length > s.cfg.RecordingMaxBytes {
		return protocol.RecordingInfo{}, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, up.Length, s.cfg.RecordingMaxBytes)
	}
	mt, params, err := mime.ParseMediaType(up.ContentType)
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return protocol.RecordingInfo{}, badRequest("the body must be multipart/form-data with a boundary, not %q", up.ContentType)
	}
	mr := multipart.NewReader(&capReader{r: up.Body, left: s.cfg.RecordingMaxBytes}, params["boundary"])

	part, err := mr.NextRawPart()
	if err != nil {
		return protocol.RecordingInfo{}, uploadErr("the timeline part", err)
	}
	if part.FormName() != protocol.RecordingPartTimeline {
		return protocol.RecordingInfo{}, badRequest("the first part must be %q, then %q; got %q", protocol.RecordingPartTimeline, protocol.RecordingPartVideo, part.FormName())
	}
	raw, err := io.ReadAll(io.LimitReader(part, protocol.RecordingTimelineMax+1))
	if err != nil {
		return protocol.RecordingInfo{}, uploadErr("the timeline part", err)
	}
	tl, err := DecodeTimeline(raw)
	if err != nil {
		return protocol.RecordingInfo{}, err
	}
	timeline, err := json.Marshal(tl)
	if err != nil {
		return protocol.RecordingInfo{}, fmt.Errorf("encode timeline: %w", err)
	}

	if part, err = mr.NextRawPart(); err != nil {
		return protocol.RecordingInfo{}, uploadErr("the video part", err)
	}
	if part.FormName() != protocol.RecordingPartVideo {
		return protocol.RecordingInfo{}, badRequest("the second part must be %q; got %q", protocol.RecordingPartVideo, part.FormName())
	}
	tmp, size, sum, err := s.receiveVideo(ss.ID, part)
	if err != nil {
		return protocol.RecordingInfo{}, err
	}
	committed := false
	defer func() {
		if !committed {
			os.Remove(tmp)
		}
	}()
	switch _, err := mr.NextRawPart(); {
	case err == io.EOF:
	case err == nil:
		return protocol.RecordingInfo{}, badRequest("nothing may follow the %q part", protocol.RecordingPartVideo)
	default:
		return protocol.RecordingInfo{}, uploadErr("the end of the body", err)
	}

	// Arrived whole: from here on the upload is kept whether or not the
	// helper waits for the answer.
	ctx = context.WithoutCancel(ctx)
	sp, err := s.screenPolicy(ctx, a)
	if err != nil {
		return protocol.RecordingInfo{}, err
	}
	now := s.now().UTC()
	rec := store.Recording{SessionID: ss.ID, AgentID: a.ID, Size: size, SHA256: sum, DurationMS: tl.DurationMS,
		Width: tl.Width, Height: tl.Height, Timeline: timeline, Created: now,
		Expires: now.Add(time.Duration(sp.RecordingRetentionDays) * 24 * time.Hour)}
	err = s.Record(ctx, store.AuditRecord{Actor: "agent:" + a.ID, Type: protocol.AuditSessionRecorded, EndpointID: a.ID, SessionID: ss.ID,
		Details: details("sha256", sum, "size", strconv.FormatInt(size, 10), "duration_ms", strconv.FormatInt(tl.DurationMS, 10))}, func() error {
		return s.store.Exclusive(ctx, recordingLock, func() error {
			if err := s.noRecordingYet(ctx, ss.ID); err != nil {
				return err
			}
			final := s.recordingPath(ss.ID)
			if err := os.Rename(tmp, final); err != nil {
				return fmt.Errorf("store the recording: %w", err)
			}
			committed = true
			syncDir(s.cfg.RecordingDir)
			if err := s.store.PutRecording(ctx, rec); err != nil {
				if rmErr := os.Remove(final); rmErr != nil {
					s.log.Error("remove a recording whose row failed (the sweep removes it later)", "session_id", ss.ID, "err", rmErr)
				}
				return err
			}
			return nil
		})
	})
	if err != nil {
		return protocol.RecordingInfo{}, err
	}
	recordingsStored.Inc()
	s.log.Info("session recording stored", "session_id", ss.ID, "size", size, "duration_ms", tl.DurationMS)
	return recordingInfo(rec), nil
}

// noRecordingYet is store.ErrConflict when the session has a recording.
func (s *Service) noRecordingYet(ctx context.Context, sessionID string) error {
	_, err := s.store.RecordingBySession(ctx, sessionID)
	switch {
	case err == nil:
		return fmt.Errorf("%w: session %s has a recording already", store.ErrConflict, sessionID)
	case errors.Is(err, store.ErrNotFound):
		return nil
	default:
		return err
	}
}

// receiveVideo streams the video part to a new temporary file in the
// recordings directory, synced to disk, and returns its path, size and
// SHA-256. On any error the file is gone.
func (s *Service) receiveVideo(sessionID string, part io.Reader) (path string, size int64, sum string, err error) {
	var magic [4]byte
	if _, err := io.ReadFull(part, magic[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return "", 0, "", badRequest("the %q part is not WebM: it is shorter than the EBML header", protocol.RecordingPartVideo)
		}
		return "", 0, "", uploadErr("the video part", err)
	}
	if !bytes.Equal(magic[:], ebmlMagic) {
		return "", 0, "", badRequest("the %q part is not WebM: it does not start with the EBML magic 1A45DFA3", protocol.RecordingPartVideo)
	}
	if err := os.MkdirAll(s.cfg.RecordingDir, 0o700); err != nil {
		return "", 0, "", fmt.Errorf("recordings directory: %w", err)
	}
	f, err := os.CreateTemp(s.cfg.RecordingDir, uploadPrefix+sessionID+"-*")
	if err != nil {
		return "", 0, "", diskErr(fmt.Errorf("create the upload's file: %w", err))
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	h := sha256.New()
	w := fileWriter{io.MultiWriter(f, h)}
	if _, err = w.Write(magic[:]); err != nil {
		return "", 0, "", diskErr(fmt.Errorf("write the upload: %w", err))
	}
	n, err := io.Copy(w, part)
	if err != nil {
		var we *diskWriteError
		if errors.As(err, &we) {
			return "", 0, "", diskErr(fmt.Errorf("write the upload: %w", we.err))
		}
		return "", 0, "", uploadErr("the video part", err)
	}
	if err = f.Sync(); err != nil {
		return "", 0, "", diskErr(fmt.Errorf("sync the upload: %w", err))
	}
	if err = f.Close(); err != nil {
		return "", 0, "", diskErr(fmt.Errorf("close the upload: %w", err))
	}
	return f.Name(), n + int64(len(magic)), hex.EncodeToString(h.Sum(nil)), nil
}

// fileWriter marks its failures as the upload file's (diskWriteError),
// so a failed write is told apart from a failed read of the body.
type fileWriter struct{ w io.Writer }

func (fw fileWriter) Write(p []byte) (int, error) {
	n, err := fw.w.Write(p)
	if err != nil {
		err = &diskWriteError{err}
	}
	return n, err
}

// diskWriteError is a failure to write the upload's file.
type diskWriteError struct{ err error }

func (e *diskWriteError) Error() string { return e.err.Error() }
func (e *diskWriteError) Unwrap() error { return e.err }

// diskErr answers a full disk with 503 (try again later), other storage
// failures as they are.
func diskErr(err error) error {
	if errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("%w: the server's recording storage is full: %v", ErrUnavailable, err)
	}
	return err
}

// uploadErr says what went wrong reading the body: over the limit (413),
// or malformed or cut off (400).
func uploadErr(what string, err error) error {
	if errors.Is(err, ErrTooLarge) {
		return err
	}
	return badRequest("reading %s: %v", what, err)
}

// capReader fails with ErrTooLarge once more than left bytes come.
type capReader struct {
	r    io.Reader
	left int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		var one [1]byte
		n, err := c.r.Read(one[:])
		if n > 0 {
			return 0, ErrTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

// syncDir makes a rename in dir durable where the system allows it
// (not every one can sync a directory; then the rename stands as is).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

func recordingInfo(r store.Recording) protocol.RecordingInfo {
	return protocol.RecordingInfo{SessionID: r.SessionID, Size: r.Size, SHA256: r.SHA256, DurationMS: r.DurationMS,
		Width: r.Width, Height: r.Height, Created: r.Created, Expires: r.Expires}
}

// auditedSession loads a session for a reader of the audit log: it needs
// audit.read over a group of the session's endpoint. Like visibleAgent,
// a caller who cannot see the endpoint at all gets ErrNotFound, one who
// sees it but lacks audit.read there ErrForbidden.
func (s *Service) auditedSession(ctx context.Context, id string) (store.ScreenSession, store.Agent, *Principal, error) {
	p, err := require(ctx, perm.AuditRead)
	if err != nil {
		return store.ScreenSession{}, store.Agent{}, nil, err
	}
	ss, err := s.store.SessionByID(ctx, id)
	if err != nil {
		return store.ScreenSession{}, store.Agent{}, nil, fmt.Errorf("session %q: %w", id, err)
	}
	a, err := s.store.AgentByID(ctx, ss.AgentID)
	if err != nil {
		return store.ScreenSession{}, store.Agent{}, nil, fmt.Errorf("endpoint of session %q: %w", id, err)
	}
	if p.CanInAny(perm.AuditRead, a.Groups()) {
		return ss, a, p, nil
	}
	if p.CanInAny(perm.EndpointsView, a.Groups()) {
		return store.ScreenSession{}, store.Agent{}, nil, fmt.Errorf("%w: reading this session's recording needs %s over a computer group of its endpoint", ErrForbidden, perm.AuditRead)
	}
	return store.ScreenSession{}, store.Agent{}, nil, fmt.Errorf("session %q: %w", id, store.ErrNotFound)
}

// recordingOf is a session's recording, for a caller allowed to read it.
func (s *Service) recordingOf(ctx context.Context, id string) (store.Recording, store.ScreenSession, store.Agent, *Principal, error) {
	ss, a, p, err := s.auditedSession(ctx, id)
	if err != nil {
		return store.Recording{}, store.ScreenSession{}, store.Agent{}, nil, err
	}
	r, err := s.store.RecordingBySession(ctx, ss.ID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Recording{}, store.ScreenSession{}, store.Agent{}, nil, fmt.Errorf("%w: session %s has no recording", store.ErrNotFound, ss.ID)
	}
	if err != nil {
		return store.Recording{}, store.ScreenSession{}, store.Agent{}, nil, err
	}
	return r, ss, a, p, nil
}

// RecordingTimeline describes a session's recording with its timeline,
// for a holder of audit.read over the session's endpoint.
func (s *Service) RecordingTimeline(ctx context.Context, id string) (protocol.RecordingInfo, error) {
	r, _, _, _, err := s.recordingOf(ctx, id)
	if err != nil {
		return protocol.RecordingInfo{}, err
	}
	info := recordingInfo(r)
	var tl protocol.RecordingTimeline
	if err := json.Unmarshal(r.Timeline, &tl); err != nil {
		return protocol.RecordingInfo{}, fmt.Errorf("timeline of session %q: %w", id, err)
	}
	info.Events = tl.Events
	if info.Events == nil {
		info.Events = []protocol.RecordingEvent{}
	}
	return info, nil
}

// RecordingFile is a recording's video opened for serving; the caller
// closes File.
type RecordingFile struct {
	File    *os.File
	Name    string // a file name to save it under
	ModTime time.Time
	Info    protocol.RecordingInfo
}

// OpenRecording opens a session's recording video for a holder of
// audit.read over the session's endpoint. fromStart says the request
// reads it from its first byte (a download, or a player starting): such
// a read is audited, the player's later range requests are not.
func (s *Service) OpenRecording(ctx context.Context, id string, fromStart bool) (*RecordingFile, error) {
	r, ss, a, p, err := s.recordingOf(ctx, id)
	if err != nil {
		return nil, err
	}
	if s.cfg.RecordingDir == "" {
		return nil, fmt.Errorf("%w: this server keeps no recordings (recording_dir is off)", ErrUnavailable)
	}
	if !recordingIDs.MatchString(ss.ID) {
		return nil, fmt.Errorf("session id %q cannot name a recording file", ss.ID)
	}
	f, err := os.Open(s.recordingPath(ss.ID))
	if errors.Is(err, fs.ErrNotExist) {
		s.log.Error("a recording's file is missing", "session_id", ss.ID, "dir", s.cfg.RecordingDir)
		return nil, fmt.Errorf("%w: the file of session %s's recording is missing on this server", store.ErrNotFound, ss.ID)
	}
	if err != nil {
		return nil, fmt.Errorf("open recording: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open recording: %w", err)
	}
	if fromStart {
		if err := s.Record(ctx, store.AuditRecord{Actor: p.Name, Type: protocol.AuditRecordingRead, EndpointID: ss.AgentID, SessionID: ss.ID,
			Details: details("sha256", r.SHA256, "size", strconv.FormatInt(r.Size, 10))}, nil); err != nil {
			f.Close()
			return nil, err
		}
	}
	return &RecordingFile{File: f, Name: recordingFileName(a.Hostname, ss), ModTime: fi.ModTime(), Info: recordingInfo(r)}, nil
}

// recordingFileName is tether-<host>-<YYYYMMDD-HHMMSS>-<session id>.webm,
// the host name cut to safe characters.
func recordingFileName(host string, ss store.ScreenSession) string {
	safe := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.', r == '_':
			return r
		}
		return '_'
	}, host)
	if len(safe) > 64 {
		safe = safe[:64]
	}
	if safe == "" {
		safe = "endpoint"
	}
	return "tether-" + safe + "-" + ss.Created.UTC().Format("20060102-150405") + "-" + ss.ID + recordingExt
}

// recordingBatch is how many expired recordings one sweep step deletes.
const recordingBatch = 100

// SweepRecordings deletes the recordings expired by now, auditing each
// (the row first, then the file: a crash in between leaves a file no row
// names), and removes what no row names from the recordings directory
// once older than RecordingOrphanAge: such a file, and an upload left
// behind. It returns how many recordings it deleted. With recording_dir
// off it deletes the expired rows only. The service runs it every
// RecordingSweep; tests call it after moving the clock.
func (s *Service) SweepRecordings(ctx context.Context) (int, error) {
	now := s.now().UTC()
	deleted := 0
	for {
		n, more, err := s.sweepExpired(ctx, now)
		deleted += n
		if err != nil {
			return deleted, err
		}
		if !more {
			break
		}
	}
	if s.cfg.RecordingDir == "" {
		return deleted, nil // rows only: recording_dir is off
	}
	return deleted, s.sweepOrphans(ctx, now.Add(-s.cfg.RecordingOrphanAge))
}

// sweepExpired deletes one batch of expired recordings; more says a full
// batch was found.
func (s *Service) sweepExpired(ctx context.Context, now time.Time) (int, bool, error) {
	rs, err := s.store.ExpiredRecordings(ctx, now, recordingBatch)
	if err != nil || len(rs) == 0 {
		return 0, false, err
	}
	deleted := 0
	err = s.store.Exclusive(ctx, recordingLock, func() error {
		for _, r := range rs {
			// Another node may have swept it meanwhile.
			if _, err := s.store.RecordingBySession(ctx, r.SessionID); errors.Is(err, store.ErrNotFound) {
				continue
			} else if err != nil {
				return err
			}
			err := s.Record(ctx, store.AuditRecord{Actor: "server", Type: protocol.AuditRecordingDeleted, EndpointID: r.AgentID, SessionID: r.SessionID,
				Details: details("sha256", r.SHA256, "size", strconv.FormatInt(r.Size, 10), "expires", r.Expires.Format(time.RFC3339), "reason", "retention")}, func() error {
				if err := s.store.DeleteRecording(ctx, r.SessionID); err != nil {
					return err
				}
				if s.cfg.RecordingDir == "" {
					return nil
				}
				if err := os.Remove(s.recordingPath(r.SessionID)); err != nil && !errors.Is(err, fs.ErrNotExist) {
					s.log.Warn("remove an expired recording's file (the sweep tries again)", "session_id", r.SessionID, "err", err)
				}
				return nil
			})
			if err != nil {
				return err
			}
			deleted++
			recordingsDeleted.Inc()
		}
		return nil
	})
	if err != nil {
		return deleted, false, fmt.Errorf("sweep expired recordings: %w", err)
	}
	return deleted, len(rs) == recordingBatch, nil
}

// sweepOrphans removes the files of the recordings directory last changed
// before cutoff that no row names: recordings whose row never came or is
// gone, and uploads left behind (one in progress keeps writing, so it
// stays young).
func (s *Service) sweepOrphans(ctx context.Context, cutoff time.Time) error {
	entries, err := os.ReadDir(s.cfg.RecordingDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sweep recordings directory: %w", err)
	}
	old := map[string]string{} // session id -> file
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil || !fi.ModTime().Before(cutoff) {
			continue
		}
		path := filepath.Join(s.cfg.RecordingDir, e.Name())
		if strings.HasPrefix(e.Name(), uploadPrefix) {
			if err := os.Remove(path); err == nil {
				s.log.Info("removed an upload left behind", "file", e.Name())
			}
			continue
		}
		if id, ok := strings.CutSuffix(e.Name(), recordingExt); ok && recordingIDs.MatchString(id) {
			old[id] = path
		}
	}
	if len(old) == 0 {
		return nil
	}
	ids := make([]string, 0, len(old))
	for id := range old {
		ids = append(ids, id)
	}
	return s.store.Exclusive(ctx, recordingLock, func() error {
		have, err := s.store.RecordingsOf(ctx, ids)
		if err != nil {
			return fmt.Errorf("sweep recordings directory: %w", err)
		}
		for id, path := range old {
			if _, ok := have[id]; ok {
				continue
			}
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				s.log.Warn("remove a recording file no row names", "file", path, "err", err)
				continue
			}
			s.log.Info("removed a recording file no row names", "session_id", id)
		}
		return nil
	})
}

// recordingLoop runs SweepRecordings every RecordingSweep.
func (s *Service) recordingLoop() {
	defer s.loops.Done()
	t := time.NewTicker(s.cfg.RecordingSweep)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			ctx, cancel := context.WithTimeout(s.stopCtx, 5*time.Minute)
			if _, err := s.SweepRecordings(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("sweep recordings", "err", err)
			}
			cancel()
		case <-s.stopCtx.Done():
			return
		}
	}
}
