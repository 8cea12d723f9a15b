// Package state keeps what the agent must remember across restarts in its
// state directory: the identity from enrollment (identity.json), the policy
// it enforces (policy.json), the action journal (actions/) and a status
// snapshot for `tether-agent status` (status.json). Every file is written
// atomically; the directory is private to the service account.
package state

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/tetherdesk/tether/agent/internal/atomicfile"
	"github.com/tetherdesk/tether/shared/protocol"
)

// File names inside the state directory.
const (
	IdentityFile = "identity.json"
	PolicyFile   = "policy.json"
	StatusFile   = "status.json"
	ActionsDir   = "actions"
	NonceFile    = "enroll-nonce"
)

// ErrNoIdentity means the agent has not enrolled yet.
var ErrNoIdentity = errors.New("no agent identity (not enrolled)")

// Identity is what enrollment yields. Secret is the agent's only credential
// from then on.
type Identity struct {
	Server  string `json:"server"`
	AgentID string `json:"agent_id"`
	Secret  string `json:"secret"`
}

// Status is the snapshot the running agent keeps for `tether-agent status`.
// It never holds credentials.
type Status struct {
	AgentID     string    `json:"agent_id,omitempty"`
	Server      string    `json:"server,omitempty"`
	LastPollOK  time.Time `json:"last_poll_ok,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	Updated     time.Time `json:"updated"`
}

// Store is the state directory.
type Store struct {
	dir string
	log *slog.Logger
}

// Open creates dir if needed and restricts it to the owner.
func Open(dir string, log *slog.Logger) (*Store, error) {
	if dir == "" {
		return nil, errors.New("state directory not set")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := atomicfile.MkdirPrivate(dir); err != nil {
		return nil, fmt.Errorf("opening state directory: %w", err)
	}
	return &Store{dir: dir, log: log.With("component", "state")}, nil
}

// Dir returns the state directory.
func (s *Store) Dir() string { return s.dir }

// LoadIdentity returns the stored identity or ErrNoIdentity.
func (s *Store) LoadIdentity() (Identity, error) {
	var id Identity
	if err := readJSON(filepath.Join(s.dir, IdentityFile), &id); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Identity{}, ErrNoIdentity
		}
		return Identity{}, fmt.Errorf("loading identity: %w", err)
	}
	if id.AgentID == "" || id.Secret == "" {
		return Identity{}, fmt.Errorf("loading identity: %s is incomplete", IdentityFile)
	}
	return id, nil
}

// SaveIdentity stores the identity readable by the owner only.
func (s *Store) SaveIdentity(id Identity) error {
	if err := writeJSON(filepath.Join(s.dir, IdentityFile), id, 0o600); err != nil {
		return fmt.Errorf("saving identity: %w", err)
	}
	return nil
}

// EnrollNonce returns the nonce this agent enrolls with, made and kept on
// first use, so that a retried enrollment (its answer lost) gets the same
// endpoint back from the server.
func (s *Store) EnrollNonce() (string, error) {
	path := filepath.Join(s.dir, NonceFile)
	var n struct {
		Nonce string `json:"nonce"`
	}
	err := readJSON(path, &n)
	if err == nil && len(n.Nonce) >= 16 {
		return n.Nonce, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("enrollment nonce unreadable; making a new one", "error", err)
	}
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("making enrollment nonce: %w", err)
	}
	n.Nonce = base64.RawURLEncoding.EncodeToString(b)
	if err := writeJSON(path, n, 0o600); err != nil {
		return "", fmt.Errorf("saving enrollment nonce: %w", err)
	}
	return n.Nonce, nil
}

// DropEnrollNonce removes the nonce once an identity is stored.
func (s *Store) DropEnrollNonce() error {
	if err := os.Remove(filepath.Join(s.dir, NonceFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing enrollment nonce: %w", err)
	}
	return nil
}

// LoadPolicy returns the stored policy, or nil when there is none yet.
func (s *Store) LoadPolicy() (*protocol.Policy, error) {
	var p protocol.Policy
	if err := readJSON(filepath.Join(s.dir, PolicyFile), &p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("loading policy: %w", err)
	}
	return &p, nil
}

// SavePolicy stores the policy the agent enforces from now on.
func (s *Store) SavePolicy(p protocol.Policy) error {
	if err := writeJSON(filepath.Join(s.dir, PolicyFile), p, 0o600); err != nil {
		return fmt.Errorf("saving policy: %w", err)
	}
	return nil
}

// WriteStatus replaces status.json.
func (s *Store) WriteStatus(st Status) error {
	if err := writeJSON(filepath.Join(s.dir, StatusFile), st, 0o600); err != nil {
		return fmt.Errorf("writing status: %w", err)
	}
	return nil
}

// ReadStatus reads status.json from a state directory without opening (and
// so without creating or re-permissioning) it: `status` is read-only.
func ReadStatus(dir string) (Status, error) {
	var st Status
	if err := readJSON(filepath.Join(dir, StatusFile), &st); err != nil {
		return Status{}, fmt.Errorf("reading status: %w", err)
	}
	return st, nil
}

// ReadIdentity is the read-only counterpart of LoadIdentity for `status`.
func ReadIdentity(dir string) (Identity, error) {
	return (&Store{dir: dir}).LoadIdentity()
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decoding %s: %w", path, err)
	}
	return nil
}

func writeJSON(path string, v any, perm os.FileMode) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", filepath.Base(path), err)
	}
	return atomicfile.WriteFile(path, append(data, '\n'), perm)
}
