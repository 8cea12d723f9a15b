package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/shared/protocol"
)

const actionCols = `id, agent_id, type, payload, state, output, error, created_by, created, delivered, completed`

// idChunk keeps IN lists far below SQLite's and PostgreSQL's parameter limits.
const idChunk = 500

func scanAction(sc interface{ Scan(...any) error }) (store.Action, error) {
	var a store.Action
	err := sc.Scan(&a.ID, &a.AgentID, &a.Type, jsonCol{&a.Payload}, &a.State, jsonCol{&a.Output}, &a.Error,
		&a.CreatedBy, timeCol{&a.Created}, nullTimeCol{&a.Delivered}, nullTimeCol{&a.Completed})
	return a, err
}

// CreateAction queues a for its agent: State is set to queued, ID and
// Created are filled when unset. An unknown agent is ErrNotFound.
func (s *Store) CreateAction(ctx context.Context, a store.Action) (store.Action, error) {
	// The payload goes to the agent verbatim inside a JSON answer; an
	// invalid one would break every poll of that agent.
	if a.Payload != nil && !json.Valid(a.Payload) {
		return store.Action{}, fmt.Errorf("create %s action for agent %q: payload is not valid JSON", a.Type, a.AgentID)
	}
	if a.ID == "" {
		a.ID = newID()
	}
	if a.Created.IsZero() {
		a.Created = time.Now()
	}
	a.Created = normTime(a.Created)
	a.State = protocol.ActionQueued
	a.Output, a.Error, a.Delivered, a.Completed = nil, "", nil, nil
	_, err := s.w.ExecContext(ctx, s.q(`INSERT INTO actions (`+actionCols+`) VALUES (?, ?, ?, ?, ?, NULL, '', ?, ?, NULL, NULL)`),
		a.ID, a.AgentID, a.Type, rawJSON(a.Payload), a.State, a.CreatedBy, s.tv(a.Created))
	if err != nil {
		return store.Action{}, fmt.Errorf("create %s action for agent %q: %w", a.Type, a.AgentID, mapErr(err))
	}
	return a, nil
}

// ActionByID returns the action with that id.
func (s *Store) ActionByID(ctx context.Context, id string) (store.Action, error) {
	a, err := scanAction(s.r.QueryRowContext(ctx, s.q(`SELECT `+actionCols+` FROM actions WHERE id = ?`), id))
	if err != nil {
		return store.Action{}, fmt.Errorf("action %q: %w", id, mapErr(err))
	}
	return a, nil
}

// PendingActions returns the agent's queued and delivered actions, oldest
// first, and marks the queued ones delivered at now, in one transaction.
// On PostgreSQL the rows are locked first, so two polls of one agent on
// different nodes see a consistent state instead of racing.
func (s *Store) PendingActions(ctx context.Context, agentID string, now time.Time) ([]store.Action, error) {
	now = normTime(now)
	// Nearly every poll finds nothing: look on the reader pool first so an
	// idle fleet never queues on the single SQLite writer.
	var one int
	st, err := s.readStmt(ctx, s.q(`SELECT 1 FROM actions WHERE agent_id = ? AND state IN (?, ?) LIMIT 1`))
	if err != nil {
		return nil, fmt.Errorf("pending actions of agent %q: %w", agentID, err)
	}
	err = st.QueryRowContext(ctx, agentID, protocol.ActionQueued, protocol.ActionDelivered).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pending actions of agent %q: %w", agentID, err)
	}
	var out []store.Action
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		out = out[:0]
		rows, err := tx.QueryContext(ctx, s.q(`SELECT `+actionCols+` FROM actions
			WHERE agent_id = ? AND state IN (?, ?) ORDER BY created, seq`+s.d.forUpdate),
			agentID, protocol.ActionQueued, protocol.ActionDelivered)
		if err != nil {
			return err
		}
		var queued []string
		for rows.Next() {
			a, err := scanAction(rows)
			if err != nil {
				rows.Close()
				return err
			}
			if a.State == protocol.ActionQueued {
				queued = append(queued, a.ID)
				a.State = protocol.ActionDelivered
				a.Delivered = &now
			}
			out = append(out, a)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, ids := range chunks(queued, idChunk) {
			args := append([]any{protocol.ActionDelivered, s.tv(now), protocol.ActionQueued}, anySlice(ids)...)
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE actions SET state = ?, delivered = ?
				WHERE state = ? AND id IN (`+placeholders(len(ids))+`)`), args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pending actions of agent %q: %w", agentID, err)
	}
	return out, nil
}

// AckActions moves the agent's queued or delivered actions with these ids
// to acked. Other agents' ids and finished actions are left alone.
func (s *Store) AckActions(ctx context.Context, agentID string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	now := s.tv(time.Now())
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for _, c := range chunks(ids, idChunk) {
			args := append([]any{protocol.ActionAcked, now, agentID, protocol.ActionQueued, protocol.ActionDelivered}, anySlice(c)...)
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE actions SET state = ?, delivered = COALESCE(delivered, ?)
				WHERE agent_id = ? AND state IN (?, ?) AND id IN (`+placeholders(len(c))+`)`), args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ack actions of agent %q: %w", agentID, err)
	}
	return nil
}

// CompleteActions records results: done when OK, failed otherwise. Other
// agents' ids and already finished actions are ignored, so a repeated
// result changes nothing.
func (s *Store) CompleteActions(ctx context.Context, agentID string, results []store.ActionResult, now time.Time) error {
	if len(results) == 0 {
		return nil
	}
	at := s.tv(now)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, s.q(`UPDATE actions SET state = ?, output = ?, error = ?, completed = ?,
			delivered = COALESCE(delivered, ?) WHERE id = ? AND agent_id = ? AND state NOT IN (?, ?)`))
		if err != nil {
			return err
		}
		defer st.Close()
		for _, r := range results {
			state := protocol.ActionDone
			if !r.OK {
				state = protocol.ActionFailed
			}
			if _, err := st.ExecContext(ctx, state, rawJSON(r.Output), r.Error, at, at, r.ID, agentID,
				protocol.ActionDone, protocol.ActionFailed); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("complete actions of agent %q: %w", agentID, err)
	}
	return nil
}
