package app

// Support tools (issue: support tools). A tool opens as a session of its
// own (store.ScreenSession.Tool): created with the tool's permission over
// one of the endpoint's groups, asked of the end user as the endpoint's
// policy says (screenshare.tools_acceptance_required), joined like any
// session, and audited like one. A terminal's transcript arrives from the
// agent when the shell ends and is read with audit.read.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
)

// ErrTranscriptTooLarge refuses a transcript over protocol.MaxTranscript.
var ErrTranscriptTooLarge = fmt.Errorf("%w: a transcript is at most %d bytes", ErrTooLarge, protocol.MaxTranscript)

// CreateToolSession opens a support tool on an endpoint: the tool's
// permission over one of its groups, the endpoint online; the end user is
// asked first where the endpoint's policy says so. Nothing is queued when
// a check fails.
func (s *Service) CreateToolSession(ctx context.Context, endpointID string, req protocol.CreateToolSessionRequest) (protocol.Session, error) {
	if !slices.Contains(protocol.Tools, req.Tool) {
		Public(ctx) // nothing is read: the request names no tool
		return protocol.Session{}, badRequest("tool must be one of %v", protocol.Tools)
	}
	need := toolPerms(req.Tool)
	a, err := s.visibleAgent(ctx, endpointID, need[0])
	if err != nil {
		return protocol.Session{}, err
	}
	p := PrincipalFrom(ctx)
	if pm := lacking(p, need[1:], a.Groups()); pm != "" {
		return protocol.Session{}, fmt.Errorf("%w: %s needs %s over the endpoint's group as well", ErrForbidden, req.Tool, pm)
	}
	sp, err := s.screenPolicy(ctx, a)
	if err != nil {
		return protocol.Session{}, err
	}
	if !s.online(a) {
		return protocol.Session{}, ErrEndpointOffline
	}
	if !slices.Contains(a.Tools, req.Tool) {
		// An agent from before the tools would take the session for a
		// screen share.
		return protocol.Session{}, fmt.Errorf("%w: this endpoint's agent (%s) does not offer the support tool %q: update it", store.ErrConflict, a.AgentVersion, req.Tool)
	}
	attended := sp.ToolsAcceptanceRequired
	write := protocol.IsFilesTool(req.Tool) && p.CanInAny(perm.ToolsFilesWrite, a.Groups())
	ss, _, err := s.openSessionFor(ctx, a, p, attended, sp, "", req.Tool, write, p.Name,
		details("tool", req.Tool, "attended", fmt.Sprint(attended), "write", fmt.Sprint(write)))
	if err != nil {
		return protocol.Session{}, err
	}
	return s.sessionOf(ctx, ss, &a)
}

// toolPerms are the permissions a tool's session needs, each over one of
// the endpoint's groups: the tool's own ("tools." + tool; tools.files for
// the user's files), and for files as the system a root shell's as well:
// reading and writing every file is as much.
func toolPerms(tool string) []perm.Permission {
	switch tool {
	case protocol.ToolFiles:
		return []perm.Permission{perm.ToolsFiles}
	case protocol.ToolFilesSystem:
		return []perm.Permission{perm.ToolsFiles, perm.ToolsTerminalSystem}
	}
	return []perm.Permission{perm.Permission("tools." + tool)}
}

// TranscriptUpload is a terminal transcript as the agent sends it.
type TranscriptUpload struct {
	SessionID string
	Token     string // the session's agent token
	Total     string // TranscriptTotalHeader
	Body      io.Reader
}

// UploadTranscript stores a terminal session's transcript, authenticated
// by the session's agent token (also after the session ended), once.
func (s *Service) UploadTranscript(ctx context.Context, up TranscriptUpload) (protocol.TranscriptInfo, error) {
	Public(ctx) // the session's agent token is checked below
	ss, a, err := s.tokenSession(ctx, up.SessionID, up.Token)
	if err != nil {
		return protocol.TranscriptInfo{}, err
	}
	if ss.Tool != protocol.ToolTerminal && ss.Tool != protocol.ToolTerminalSystem {
		return protocol.TranscriptInfo{}, badRequest("session %s is not a terminal's", ss.ID)
	}
	if _, err := s.store.TranscriptOf(ctx, ss.ID, false); err == nil {
		return protocol.TranscriptInfo{}, fmt.Errorf("%w: session %s has its transcript already", store.ErrConflict, ss.ID)
	} else if !errors.Is(err, store.ErrNotFound) {
		return protocol.TranscriptInfo{}, err
	}
	data, err := io.ReadAll(&capReader{r: up.Body, left: protocol.MaxTranscript})
	if errors.Is(err, ErrTooLarge) {
		return protocol.TranscriptInfo{}, ErrTranscriptTooLarge
	}
	if err != nil {
		return protocol.TranscriptInfo{}, badRequest("reading the transcript: %v", err)
	}
	total, err := strconv.ParseInt(up.Total, 10, 64)
	if err != nil || total < int64(len(data)) {
		return protocol.TranscriptInfo{}, badRequest("%s must be a byte count at least the transcript's size", protocol.TranscriptTotalHeader)
	}
	sum := sha256.Sum256(data)
	t := store.Transcript{SessionID: ss.ID, Data: data, Size: int64(len(data)), Total: total, SHA256: hex.EncodeToString(sum[:]), Stored: s.now().UTC()}
	err = s.Record(ctx, store.AuditRecord{Actor: "agent:" + a.ID, Type: protocol.AuditSessionTranscript, EndpointID: a.ID, SessionID: ss.ID,
		Details: details("size", strconv.Itoa(len(data)), "total", strconv.FormatInt(total, 10), "sha256", t.SHA256)}, func() error {
		return s.store.PutTranscript(ctx, t)
	})
	if errors.Is(err, store.ErrConflict) {
		return protocol.TranscriptInfo{}, fmt.Errorf("%w: session %s has its transcript already", store.ErrConflict, ss.ID)
	}
	if err != nil {
		return protocol.TranscriptInfo{}, err
	}
	return transcriptInfo(t), nil
}

func transcriptInfo(t store.Transcript) protocol.TranscriptInfo {
	return protocol.TranscriptInfo{Size: t.Size, Total: t.Total, SHA256: t.SHA256, Stored: t.Stored}
}

// Transcript returns a terminal session's transcript to a holder of
// audit.read over its endpoint; each read is audited.
func (s *Service) Transcript(ctx context.Context, id string) ([]byte, error) {
	ss, _, p, err := s.auditedSession(ctx, id)
	if err != nil {
		return nil, err
	}
	t, err := s.store.TranscriptOf(ctx, ss.ID, true)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: session %s has no transcript", store.ErrNotFound, ss.ID)
	}
	if err != nil {
		return nil, err
	}
	if err := s.Record(ctx, store.AuditRecord{Actor: p.Name, Type: protocol.AuditTranscriptRead, EndpointID: ss.AgentID, SessionID: ss.ID,
		Details: details("sha256", t.SHA256)}, nil); err != nil {
		return nil, err
	}
	return t.Data, nil
}
