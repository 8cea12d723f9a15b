package app

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/tetherdesk/tether/server/store"
)

// details builds a JSON object from key/value pairs.
func details(kv ...string) json.RawMessage {
	m := make(map[string]string, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	b, _ := json.Marshal(m)
	return b
}

// audit appends a record of something that happened already and that
// grants nothing (a session's state reported by its agent, a failed
// sign-in): a failed append is logged and counted, not returned, so an
// audit hiccup does not undo what it describes.
func (s *Service) audit(ctx context.Context, r store.AuditRecord) {
	if _, err := s.appendAudit(ctx, r); err != nil {
		s.log.Error("append audit", "type", r.Type, "err", err)
		auditLost.Inc()
	}
}

func (s *Service) appendAudit(ctx context.Context, r store.AuditRecord) (store.AuditRecord, error) {
	r.Time = s.now().UTC()
	return s.store.AppendAudit(context.WithoutCancel(ctx), r)
}

// ErrAuditUnavailable refuses a security-relevant change whose audit record
// could not be written: no such change goes unrecorded.
var ErrAuditUnavailable = fmt.Errorf("%w: the audit log cannot be written, so the change was not made", ErrUnavailable)

// record appends the audit record of a security-relevant change and then
// makes the change. A failed append refuses the change; a change that
// fails after its record is followed by a "<type>.failed" record naming the
// first one, so the log never claims what did not happen.
func (s *Service) record(ctx context.Context, r store.AuditRecord, change func() error) error {
	rec, err := s.appendAudit(ctx, r)
	if err != nil {
		s.log.Error("append audit; refusing the change", "type", r.Type, "err", err)
		auditLost.Inc()
		return fmt.Errorf("%w (%s)", ErrAuditUnavailable, r.Type)
	}
	if change == nil {
		return nil
	}
	if err := change(); err != nil {
		s.audit(ctx, store.AuditRecord{Actor: r.Actor, Type: r.Type + ".failed", EndpointID: r.EndpointID, SessionID: r.SessionID,
			Details: details("record", strconv.FormatInt(rec.Seq, 10), "error", err.Error())})
		return err
	}
	return nil
}

// recordAll appends several records before one change (see record).
func (s *Service) recordAll(ctx context.Context, rs []store.AuditRecord, change func() error) error {
	if len(rs) == 0 {
		return change()
	}
	return s.record(ctx, rs[0], func() error { return s.recordAll(ctx, rs[1:], change) })
}

var idEncoding = base32.HexEncoding.WithPadding(base32.NoPadding)

// newID makes an object id before the object is stored, so its audit
// record, written first, can name it. Same shape as the store's ids.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return strings.ToLower(idEncoding.EncodeToString(b[:]))
}
