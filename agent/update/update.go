// Package update is the agent's self-update: it takes the release the
// server offers, checks it against the release key compiled into the agent,
// swaps the binary, runs the new one on trial and keeps it only when it
// polls the server successfully within the confirm window; otherwise it
// puts the old binary back. Every step is reported to the server.
//
// The trial: the running agent stops its own work and starts the new
// binary as a child. The child marks the update confirmed after its first
// answered poll; the parent then stops it and replaces itself with the new
// binary (exec on Unix, so the service manager sees the same process). A
// child that exits or stays silent until the deadline is stopped and the
// old binary restored, so a release that cannot even start is rolled back.
package update

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/tetherdesk/tether/agent/internal/atomicfile"
	"github.com/tetherdesk/tether/shared/protocol"
	"github.com/tetherdesk/tether/shared/release"
)

// TrialEnv is set in the environment of a binary on trial.
const TrialEnv = "TETHER_UPDATE_TRIAL"

// stateFile is the updater's state in the agent's state directory.
const stateFile = "update.json"

// maxBinary bounds a download.
const maxBinary = 512 << 20

// Phases of the state file.
const (
	phaseNone      = ""
	phaseTrial     = "trial"
	phaseConfirmed = "confirmed"
)

// State is what survives a restart.
type State struct {
	Phase string `json:"phase,omitempty"`
	From  string `json:"from,omitempty"`
	To    string `json:"to,omitempty"`
	// Failed are versions refused or rolled back: not tried again.
	Failed []string `json:"failed,omitempty"`
	// Reports wait to be sent, oldest first.
	Reports []protocol.UpdateReport `json:"reports,omitempty"`
}

// Config configures an Updater.
type Config struct {
	Exe       string            // the running binary (os.Executable)
	StateDir  string            // the agent's state directory
	Version   string            // the running version
	OS, Arch  string            // the platform of the release to take
	PublicKey ed25519.PublicKey // the release key; nil refuses every update
	// ConfirmTimeout is how long a new binary has to poll successfully
	// (default 5 minutes).
	ConfirmTimeout time.Duration
	Logger         *slog.Logger
}

// Ready is a downloaded, verified release waiting for its trial.
type Ready struct {
	Version string
	path    string // exe + ".new"
}

// Updater runs the self-update of one agent process.
type Updater struct {
	cfg   Config
	log   *slog.Logger
	ready chan Ready

	mu    sync.Mutex
	st    State
	busy  bool // a download or a trial is under way
	trial bool // this process is a binary on trial
}

// New reads the state and, in a binary that runs after a confirmed update,
// queues the confirmation report.
func New(cfg Config) (*Updater, error) {
	if cfg.ConfirmTimeout <= 0 {
		cfg.ConfirmTimeout = 5 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	u := &Updater{cfg: cfg, log: cfg.Logger.With("component", "update"), ready: make(chan Ready, 1), trial: os.Getenv(TrialEnv) != ""}
	st, err := readState(cfg.StateDir)
	var bad *json.SyntaxError
	switch {
	case errors.As(err, &bad) || errors.As(err, new(*json.UnmarshalTypeError)):
		u.log.Warn("update state unreadable; starting afresh", "error", err)
	case err != nil:
		return nil, fmt.Errorf("update state: %w", err)
	default:
		u.st = st
	}
	if !u.trial && u.st.Phase == phaseConfirmed {
		// The parent confirmed and exec'd this binary: the update is done.
		u.st.Reports = append(u.st.Reports, protocol.UpdateReport{Phase: protocol.UpdateConfirmed, From: u.st.From, To: u.st.To})
		u.st.Phase, u.st.From, u.st.To = phaseNone, "", ""
		os.Remove(cfg.Exe + ".prev")
		if err := u.save(); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// readState reads the state file; a missing one is the zero State.
func readState(dir string) (State, error) {
	var st State
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	err = json.Unmarshal(b, &st)
	return st, err
}

// save writes the state; the caller holds mu or has no concurrency yet.
func (u *Updater) save() error {
	b, err := json.Marshal(u.st)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(u.cfg.StateDir, stateFile), b, 0o600); err != nil {
		return fmt.Errorf("update state: %w", err)
	}
	return nil
}

func (u *Updater) report(r protocol.UpdateReport) {
	u.st.Reports = append(u.st.Reports, r)
	if err := u.save(); err != nil {
		u.log.Error("saving update state", "error", err)
	}
}

// Ready delivers a verified release once it is ready for its trial.
func (u *Updater) Ready() <-chan Ready { return u.ready }

// Offer takes the server's offer: a new version not tried before is
// downloaded and verified in the background. It does not block.
func (u *Updater) Offer(o protocol.AgentUpdate, download func(ctx context.Context, path string, w io.Writer, max int64) error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.trial || u.busy || o.Version == u.cfg.Version || slices.Contains(u.st.Failed, o.Version) {
		return
	}
	u.busy = true
	go u.fetch(o, download)
}

func (u *Updater) fetch(o protocol.AgentUpdate, download func(ctx context.Context, path string, w io.Writer, max int64) error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	u.log.Info("update offered; downloading", "from", u.cfg.Version, "to", o.Version, "size", o.Size)
	path := u.cfg.Exe + ".new"
	err := u.download(ctx, o, path, download)
	u.mu.Lock()
	defer u.mu.Unlock()
	if err != nil {
		os.Remove(path)
		u.busy = false
		u.log.Error("update refused", "to", o.Version, "error", err)
		if !errors.Is(err, errTransient) {
			// A release that fails its checks is not tried again.
			u.st.Failed = append(u.st.Failed, o.Version)
			u.report(protocol.UpdateReport{Phase: protocol.UpdateFailed, From: u.cfg.Version, To: o.Version, Error: err.Error()})
		}
		return
	}
	u.report(protocol.UpdateReport{Phase: protocol.UpdateDownloaded, From: u.cfg.Version, To: o.Version})
	u.ready <- Ready{Version: o.Version, path: path}
}

// errTransient marks a failure worth another try on a later offer (the
// network), as opposed to a release that is wrong.
var errTransient = errors.New("transient")

// download fetches the release to path and checks size, digest and the
// release key's signature before it is made executable.
func (u *Updater) download(ctx context.Context, o protocol.AgentUpdate, path string, download func(ctx context.Context, path string, w io.Writer, max int64) error) error {
	if len(u.cfg.PublicKey) == 0 {
		return errors.New("this agent has no release key compiled in, so it takes no updates")
	}
	f := release.File{OS: u.cfg.OS, Arch: u.cfg.Arch, Kind: release.KindBinary, SHA256: o.SHA256, Size: o.Size, Signature: o.Signature}
	if err := release.Verify(u.cfg.PublicKey, o.Version, f); err != nil {
		return fmt.Errorf("release %s: %w", o.Version, err)
	}
	if o.Size <= 0 || o.Size > maxBinary {
		return fmt.Errorf("release %s: size %d out of bounds", o.Version, o.Size)
	}
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o700)
	if err != nil {
		return fmt.Errorf("%w: %v", errTransient, err)
	}
	if err := download(ctx, o.URL, out, o.Size); err != nil {
		out.Close()
		return fmt.Errorf("%w: downloading %s: %v", errTransient, o.Version, err)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return fmt.Errorf("%w: %v", errTransient, err)
	}
	out.Close()
	in, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%w: %v", errTransient, err)
	}
	sum, size, err := release.Digest(in)
	in.Close()
	if err != nil {
		return fmt.Errorf("%w: %v", errTransient, err)
	}
	if size != o.Size || sum != o.SHA256 {
		return fmt.Errorf("release %s: the download does not match its signed digest (got %d bytes, sha256 %s)", o.Version, size, sum)
	}
	return nil
}

// Report is the oldest report not yet sent.
func (u *Updater) Report() *protocol.UpdateReport {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.st.Reports) == 0 {
		return nil
	}
	r := u.st.Reports[0]
	return &r
}

// Sent drops a report the server received.
func (u *Updater) Sent(r protocol.UpdateReport) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.st.Reports) > 0 && u.st.Reports[0] == r {
		u.st.Reports = u.st.Reports[1:]
		if err := u.save(); err != nil {
			u.log.Error("saving update state", "error", err)
		}
	}
}

// Polled: in a binary on trial, the first answered poll confirms it.
func (u *Updater) Polled() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.trial || u.st.Phase != phaseTrial {
		return
	}
	u.st.Phase = phaseConfirmed
	if err := u.save(); err != nil {
		u.log.Error("saving update state", "error", err)
		return
	}
	u.log.Info("update on trial polled the server: confirmed", "version", u.st.To)
}
