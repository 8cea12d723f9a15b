package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/tetherdesk/tether/server/store"
)

const codeCols = `id, code_hash, technician_id, technician_name, state, created, expires, agent_id, session_id, used`

func scanCode(sc interface{ Scan(...any) error }) (store.ConnectionCode, error) {
	var c store.ConnectionCode
	err := sc.Scan(&c.ID, &c.CodeHash, &c.TechnicianID, &c.TechnicianName, &c.State, timeCol{&c.Created}, timeCol{&c.Expires},
		&c.AgentID, &c.SessionID, nullTimeCol{&c.Used})
	return c, err
}

// CreateCode stores a connection code, filling ID and Created when unset.
func (s *Store) CreateCode(ctx context.Context, c store.ConnectionCode) (store.ConnectionCode, error) {
	if c.ID == "" {
		c.ID = newID()
	}
	if c.Created.IsZero() {
		c.Created = time.Now()
	}
	c.Created, c.Expires, c.Used = normTime(c.Created), normTime(c.Expires), normTimePtr(c.Used)
	_, err := s.w.ExecContext(ctx, s.q(`INSERT INTO connection_codes (`+codeCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		c.ID, c.CodeHash, c.TechnicianID, c.TechnicianName, c.State, s.tv(c.Created), s.tv(c.Expires), c.AgentID, c.SessionID, s.ntv(c.Used))
	if err != nil {
		return store.ConnectionCode{}, fmt.Errorf("create connection code: %w", mapErr(err))
	}
	return c, nil
}

// CodeByID returns a code by id.
func (s *Store) CodeByID(ctx context.Context, id string) (store.ConnectionCode, error) {
	c, err := scanCode(s.r.QueryRowContext(ctx, s.q(`SELECT `+codeCols+` FROM connection_codes WHERE id = ?`), id))
	if err != nil {
		return store.ConnectionCode{}, fmt.Errorf("connection code %q: %w", id, mapErr(err))
	}
	return c, nil
}

// CodeByHash returns a code by the keyed hash of its digits.
func (s *Store) CodeByHash(ctx context.Context, hash string) (store.ConnectionCode, error) {
	c, err := scanCode(s.w.QueryRowContext(ctx, s.q(`SELECT `+codeCols+` FROM connection_codes WHERE code_hash = ?`), hash))
	if err != nil {
		// Never the hash in a message.
		return store.ConnectionCode{}, fmt.Errorf("connection code by hash: %w", mapErr(err))
	}
	return c, nil
}

// UpdateCode is a compare-and-set on the code's state.
func (s *Store) UpdateCode(ctx context.Context, c store.ConnectionCode, fromState string) error {
	res, err := s.w.ExecContext(ctx, s.q(`UPDATE connection_codes SET code_hash = ?, state = ?, expires = ?, agent_id = ?, session_id = ?, used = ?
		WHERE id = ? AND state = ?`), c.CodeHash, c.State, s.tv(c.Expires), c.AgentID, c.SessionID, s.ntv(c.Used), c.ID, fromState)
	if err == nil {
		err = notFoundIfNone(res)
	}
	if err != nil {
		err = mapErr(err)
		if _, gerr := s.CodeByID(ctx, c.ID); gerr == nil && err == store.ErrNotFound {
			err = fmt.Errorf("%w: the code is no longer %s", store.ErrConflict, fromState)
		}
		return fmt.Errorf("update connection code %q: %w", c.ID, err)
	}
	return nil
}
