package core

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/tetherdesk/tether/server/store"
)

// Core is the state every part of the service layer uses.
type Core struct {
	Store store.Store
	Log   *slog.Logger
	Now   func() time.Time
	// AuditLost is told of each audit record that could not be written.
	AuditLost func()
}

func (s *Core) lost() {
	if s.AuditLost != nil {
		s.AuditLost()
	}
}

// GroupName is a group's name, or its id when it has none (deleted).
func (s *Core) GroupName(ctx context.Context, id string) string {
	g, err := s.Store.GroupByID(ctx, id)
	if err != nil {
		return id
	}
	return g.Name
}

// Details builds a JSON object from key/value pairs.
func Details(kv ...string) json.RawMessage {
	m := make(map[string]string, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	b, _ := json.Marshal(m)
	return b
}

// Audit appends a record of something that happened already and that
// grants nothing (a session's state reported by its agent, a failed
// sign-in): a failed append is logged and counted, not returned, so an
// audit hiccup does not undo what it describes.
func (s *Core) Audit(ctx context.Context, r store.AuditRecord) {
	if _, err := s.AppendAudit(ctx, r); err != nil {
		s.Log.Error("append audit", "type", r.Type, "err", err)
		s.lost()
	}
}

func (s *Core) AppendAudit(ctx context.Context, r store.AuditRecord) (store.AuditRecord, error) {
	r.Time = s.Now().UTC()
	return s.Store.AppendAudit(context.WithoutCancel(ctx), r)
}

// Record appends the audit record of a security-relevant change and then
// makes the change. A failed append refuses the change; a change that
// fails after its record is followed by a "<type>.failed" record naming the
// first one, so the log never claims what did not happen.
func (s *Core) Record(ctx context.Context, r store.AuditRecord, change func() error) error {
	rec, err := s.AppendAudit(ctx, r)
	if err != nil {
		s.Log.Error("append audit; refusing the change", "type", r.Type, "err", err)
		s.lost()
		return fmt.Errorf("%w (%s)", ErrAuditUnavailable, r.Type)
	}
	if change == nil {
		return nil
	}
	if err := change(); err != nil {
		s.Audit(ctx, store.AuditRecord{Actor: r.Actor, Type: r.Type + ".failed", EndpointID: r.EndpointID, SessionID: r.SessionID,
			Details: Details("record", strconv.FormatInt(rec.Seq, 10), "error", err.Error())})
		return err
	}
	return nil
}

// RecordAll appends several records before one change (see record).
func (s *Core) RecordAll(ctx context.Context, rs []store.AuditRecord, change func() error) error {
	if len(rs) == 0 {
		return change()
	}
	return s.Record(ctx, rs[0], func() error { return s.RecordAll(ctx, rs[1:], change) })
}

var idEncoding = base32.HexEncoding.WithPadding(base32.NoPadding)

// NewID makes an object id before the object is stored, so its audit
// record, written first, can name it. Same shape as the store's ids.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return strings.ToLower(idEncoding.EncodeToString(b[:]))
}
