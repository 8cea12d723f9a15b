package services

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"

	"github.com/tetherdesk/tether/shared/protocol"
)

// scm is Windows' service control manager.
type scm struct{ m *mgr.Mgr }

func open(context.Context) (Manager, error) {
	m, err := mgr.Connect()
	if err != nil {
		return nil, fmt.Errorf("%w: the service control manager: %v", ErrUnsupported, err)
	}
	return &scm{m: m}, nil
}

var stateNames = map[svc.State]string{
	svc.Stopped: "stopped", svc.StartPending: "start_pending", svc.StopPending: "stop_pending", svc.Running: "running",
	svc.ContinuePending: "continue_pending", svc.PausePending: "pause_pending", svc.Paused: "paused",
}

var startNames = map[uint32]string{
	mgr.StartAutomatic: "auto", mgr.StartManual: "manual", mgr.StartDisabled: "disabled", 0: "boot", 1: "system",
}

// List lists every service the manager knows; one it cannot open is
// listed by name alone.
func (s *scm) List(ctx context.Context) ([]protocol.ServiceInfo, error) {
	names, err := s.m.ListServices()
	if err != nil {
		return nil, fmt.Errorf("listing services: %w", err)
	}
	out := make([]protocol.ServiceInfo, 0, len(names))
	for _, n := range names {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		info := protocol.ServiceInfo{Name: n}
		if sv, err := s.m.OpenService(n); err == nil {
			if st, err := sv.Query(); err == nil {
				info.State = stateNames[st.State]
			}
			if c, err := sv.Config(); err == nil {
				info.Description, info.Startup = c.DisplayName, startNames[c.StartType]
			}
			sv.Close()
		}
		out = append(out, info)
	}
	sortByName(out)
	return out, nil
}

func (s *scm) open(name string) (*mgr.Service, error) {
	if err := protocol.CheckServiceName(name); err != nil {
		return nil, err
	}
	sv, err := s.m.OpenService(name)
	if err != nil {
		return nil, fmt.Errorf("service %s: %w", name, err)
	}
	return sv, nil
}

func (s *scm) Start(_ context.Context, name string) error {
	sv, err := s.open(name)
	if err != nil {
		return err
	}
	defer sv.Close()
	if err := sv.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	return nil
}

func (s *scm) Stop(_ context.Context, name string) error {
	sv, err := s.open(name)
	if err != nil {
		return err
	}
	defer sv.Close()
	if _, err := sv.Control(svc.Stop); err != nil {
		return fmt.Errorf("stop %s: %w", name, err)
	}
	return nil
}

// restartWait bounds how long Restart waits for the service to stop.
const restartWait = 30 * time.Second

func (s *scm) Restart(ctx context.Context, name string) error {
	sv, err := s.open(name)
	if err != nil {
		return err
	}
	defer sv.Close()
	if st, err := sv.Query(); err == nil && st.State != svc.Stopped {
		if _, err := sv.Control(svc.Stop); err != nil {
			return fmt.Errorf("restart %s: stopping: %w", name, err)
		}
		deadline := time.Now().Add(restartWait)
		for {
			st, err := sv.Query()
			if err != nil {
				return fmt.Errorf("restart %s: %w", name, err)
			}
			if st.State == svc.Stopped {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("restart %s: it did not stop within %s", name, restartWait)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	if err := sv.Start(); err != nil {
		return fmt.Errorf("restart %s: starting: %w", name, err)
	}
	return nil
}

func (s *scm) Close() error { return s.m.Disconnect() }
