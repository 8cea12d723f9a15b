// Package actions maps action types to the handlers that carry them out and
// turns a handler's outcome into the result reported to the server.
package actions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tetherdesk/tether/shared/protocol"
)

// Handler carries out one action. The returned output is JSON-encoded into
// the result; an error makes the result ok:false with the error's text.
// Handlers must return promptly when ctx is cancelled (the agent is
// stopping) and must not log payload contents, which may hold secrets.
type Handler func(ctx context.Context, payload json.RawMessage) (output any, err error)

// Bounds on a result. The server rejects a poll whose result exceeds its
// limits (1 MiB output, 64 KiB error), and a rejected poll would be retried
// forever, so an oversized result is replaced by a failure saying so.
const (
	MaxOutputBytes = 1 << 20
	MaxErrorBytes  = 4 << 10
)

// Registry maps action types to handlers. Register everything before use;
// Run is then safe for concurrent use.
type Registry struct {
	handlers map[string]Handler
}

// NewRegistry returns a registry with the built-in handlers that need
// nothing from the agent (echo).
func NewRegistry() *Registry {
	r := &Registry{handlers: map[string]Handler{}}
	r.Register(protocol.ActionEcho, Echo)
	return r
}

// Register sets the handler for typ, replacing any earlier one.
func (r *Registry) Register(typ string, h Handler) {
	r.handlers[typ] = h
}

// Has reports whether typ has a handler.
func (r *Registry) Has(typ string) bool {
	_, ok := r.handlers[typ]
	return ok
}

// Run executes a and always returns a result for it, also when the handler
// panics: one bad action must not take the agent down.
func (r *Registry) Run(ctx context.Context, a protocol.Action) protocol.ActionResult {
	res := r.run(ctx, a)
	if len(res.Output) > MaxOutputBytes {
		res = protocol.ActionResult{ID: a.ID, Error: fmt.Sprintf("action output of %d bytes exceeds the %d-byte limit", len(res.Output), MaxOutputBytes)}
	}
	if len(res.Error) > MaxErrorBytes {
		res.Error = strings.ToValidUTF8(res.Error[:MaxErrorBytes], "") + "…"
	}
	return res
}

func (r *Registry) run(ctx context.Context, a protocol.Action) (res protocol.ActionResult) {
	res.ID = a.ID
	h, ok := r.handlers[a.Type]
	if !ok {
		res.Error = fmt.Sprintf("unsupported action type %q", a.Type)
		return res
	}
	defer func() {
		if p := recover(); p != nil {
			res = protocol.ActionResult{ID: a.ID, Error: fmt.Sprintf("action handler panicked: %v", p)}
		}
	}()
	out, err := h(ctx, a.Payload)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	if out != nil {
		data, err := json.Marshal(out)
		if err != nil {
			res.Error = fmt.Sprintf("encoding action output: %v", err)
			return res
		}
		res.Output = data
	}
	res.OK = true
	return res
}

// MaxEchoDelay caps echo's delay_ms.
const MaxEchoDelay = 60 * time.Second

// EchoOutput is the output of ActionEcho.
type EchoOutput struct {
	Message string `json:"message"`
}

// Echo returns its message, after delay_ms (capped at 60 s) if given. It
// exists to exercise the delivery path end to end.
func Echo(ctx context.Context, payload json.RawMessage) (any, error) {
	var p protocol.EchoPayload
	if len(payload) > 0 {
		if err := json.Unmarshal(payload, &p); err != nil {
			return nil, fmt.Errorf("decoding echo payload: %w", err)
		}
	}
	if p.DelayMS < 0 {
		return nil, errors.New("delay_ms must not be negative")
	}
	// Clamp before converting so a huge delay_ms cannot overflow.
	if d := time.Duration(min(p.DelayMS, MaxEchoDelay.Milliseconds())) * time.Millisecond; d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, fmt.Errorf("echo cancelled: %w", context.Cause(ctx))
		}
	}
	return EchoOutput{Message: p.Message}, nil
}

// InventoryRefresh returns the handler for ActionInventoryRefresh. refresh
// recollects the inventory and marks it to be sent on the next poll even if
// unchanged; the handler's output is that inventory.
func InventoryRefresh(refresh func(ctx context.Context) protocol.Inventory) Handler {
	return func(ctx context.Context, _ json.RawMessage) (any, error) {
		return refresh(ctx), nil
	}
}
