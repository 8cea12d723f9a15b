package actions

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tetherdesk/tether/shared/protocol"
)

func TestRegistryRun(t *testing.T) {
	r := NewRegistry()
	r.Register("test.panic", func(context.Context, json.RawMessage) (any, error) { panic("boom") })
	r.Register("test.fail", func(context.Context, json.RawMessage) (any, error) { return nil, errors.New("no disk") })
	r.Register("test.badout", func(context.Context, json.RawMessage) (any, error) { return func() {}, nil })
	r.Register("test.nil", func(context.Context, json.RawMessage) (any, error) { return nil, nil })
	r.Register("test.huge", func(context.Context, json.RawMessage) (any, error) { return strings.Repeat("x", MaxOutputBytes), nil })
	r.Register("test.longerr", func(context.Context, json.RawMessage) (any, error) {
		return nil, errors.New(strings.Repeat("é", MaxErrorBytes))
	})
	r.Register(protocol.ActionInventoryRefresh, InventoryRefresh(func(context.Context) protocol.Inventory {
		return protocol.Inventory{Hostname: "h"}
	}))

	tests := []struct {
		typ, payload string
		wantOK       bool
		wantOut      string
		wantErr      string
	}{
		{protocol.ActionEcho, `{"message":"hi"}`, true, `{"message":"hi"}`, ""},
		{protocol.ActionEcho, ``, true, `{"message":""}`, ""},
		{protocol.ActionEcho, `{"delay_ms":-1}`, false, "", "delay_ms must not be negative"},
		{protocol.ActionEcho, `[1]`, false, "", "decoding echo payload"},
		{"x", ``, false, "", `unsupported action type "x"`},
		{"test.panic", ``, false, "", "action handler panicked: boom"},
		{"test.fail", ``, false, "", "no disk"},
		{"test.badout", ``, false, "", "encoding action output"},
		{"test.nil", ``, true, "", ""},
		{"test.huge", ``, false, "", "exceeds the 1048576-byte limit"},
		{"test.longerr", ``, false, "", "éé"},
		{protocol.ActionInventoryRefresh, ``, true, `"hostname":"h"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.typ+tt.payload, func(t *testing.T) {
			res := r.Run(context.Background(), protocol.Action{ID: "a1", Type: tt.typ, Payload: json.RawMessage(tt.payload)})
			if res.ID != "a1" || res.OK != tt.wantOK || !strings.Contains(string(res.Output), tt.wantOut) || !strings.Contains(res.Error, tt.wantErr) {
				t.Errorf("Run = %+v", res)
			}
			if len(res.Error) > MaxErrorBytes+len("…") || !utf8.ValidString(res.Error) {
				t.Errorf("error of %d bytes, valid UTF-8 %v", len(res.Error), utf8.ValidString(res.Error))
			}
			if !tt.wantOK && len(res.Output) != 0 {
				t.Errorf("failed result carries output %s", res.Output)
			}
		})
	}
}

func TestEchoDelay(t *testing.T) {
	t.Run("waits", func(t *testing.T) {
		start := time.Now()
		out, err := Echo(context.Background(), json.RawMessage(`{"message":"m","delay_ms":20}`))
		if err != nil || out.(EchoOutput).Message != "m" {
			t.Fatalf("Echo = %v, %v", out, err)
		}
		if el := time.Since(start); el < 20*time.Millisecond {
			t.Errorf("returned after %v, before the delay", el)
		}
	})
	t.Run("cancellable, and huge delays are clamped", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := Echo(ctx, json.RawMessage(`{"delay_ms":9223372036854775807}`))
			done <- err
		}()
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Echo after cancel = %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Echo ignored cancellation")
		}
	})
}
