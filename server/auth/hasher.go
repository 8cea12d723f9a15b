package auth

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"time"
)

// ErrBusy says every password-hashing slot stayed taken for the whole wait.
var ErrBusy = errors.New("too many sign-ins at once")

// Hasher bounds how many argon2id computations run at once: each takes
// Params.Memory (64 MiB by default), so an unbounded burst of sign-ins
// (or of wrong passwords) could exhaust the server's memory.
type Hasher struct {
	params Params
	slots  chan struct{}
	wait   time.Duration
}

// NewHasher allows n hashes at once (n <= 0: sized to memory, see
// DefaultConcurrency); a caller waits up to wait for a slot.
func NewHasher(p Params, n int, wait time.Duration) *Hasher {
	if p == (Params{}) {
		p = DefaultParams
	}
	if n <= 0 {
		n = DefaultConcurrency(p)
	}
	return &Hasher{params: p, slots: make(chan struct{}, n), wait: wait}
}

// Slots is how many hashes may run at once.
func (h *Hasher) Slots() int { return cap(h.slots) }

// Acquire takes a slot for work of the same weight as a hash, waiting as
// Hash would; release gives it back.
func (h *Hasher) Acquire(ctx context.Context) (release func(), err error) {
	if err := h.acquire(ctx); err != nil {
		return nil, err
	}
	var once sync.Once
	return func() { once.Do(h.release) }, nil
}

func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(h.wait)
	defer t.Stop()
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-t.C:
		return ErrBusy
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *Hasher) release() { <-h.slots }

// Hash hashes a new password.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	return HashPasswordWith(password, h.params)
}

// Check compares a password with a stored hash.
func (h *Hasher) Check(ctx context.Context, hash, password string) (bool, error) {
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	return CheckPassword(hash, password)
}

// CheckAbsent spends the work of a check on an account that does not exist.
func (h *Hasher) CheckAbsent(ctx context.Context, password string) error {
	if err := h.acquire(ctx); err != nil {
		return err
	}
	defer h.release()
	CheckAbsent(password)
	return nil
}

// DefaultConcurrency allows as many hashes at once as a quarter of the
// memory available holds (memoryAvailable is per platform), at least one
// and at most four per CPU.
func DefaultConcurrency(p Params) int {
	per := uint64(p.Memory) * 1024
	n := 2 * runtime.NumCPU()
	if avail := memoryAvailable(); avail > 0 && per > 0 {
		n = int(avail / 4 / per)
	}
	return max(1, min(n, 4*runtime.NumCPU()))
}
