package session

// The processes and services tools' channel (protocol.ChannelAdmin): each
// viewer's requests are served one at a time, in order, each answered
// with its ID. What changes the endpoint (ending a process, starting,
// stopping or restarting a service) goes to the audit log as well
// (SignalToolAction), done or failed.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/tetherdesk/tether/agent/tools/procs"
	"github.com/tetherdesk/tether/agent/tools/services"
	"github.com/tetherdesk/tether/shared/protocol"
)

// Bounds of the admin channel.
const (
	adminQueue   = 8                // requests waiting per viewer
	adminTimeout = 45 * time.Second // one request
	// maxAdminResponse keeps an answer within a data channel message
	// (browsers take 256 KiB).
	maxAdminResponse = 200 << 10
)

// adminState is a processes or services session's tools.
type adminState struct {
	lister *procs.Lister
	mu     sync.Mutex
	svc    services.Manager
}

// manager opens the service manager on first use.
func (a *adminState) manager(ctx context.Context) (services.Manager, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.svc != nil {
		return a.svc, nil
	}
	m, err := services.Open(ctx)
	if err != nil {
		return nil, err
	}
	a.svc = m
	return m, nil
}

func (a *adminState) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.svc != nil {
		a.svc.Close()
		a.svc = nil
	}
}

// wireAdmin serves v's admin channel.
func (s *Session) wireAdmin(v *viewer) {
	work := make(chan protocol.AdminRequest, adminQueue)
	v.admin.OnMessage(func(m webrtc.DataChannelMessage) {
		if !m.IsString {
			s.adminReply(v, protocol.AdminResponse{Error: "admin requests are text (JSON)"})
			return
		}
		req, err := protocol.DecodeAdminRequest(m.Data)
		if err != nil {
			s.adminReply(v, protocol.AdminResponse{ID: req.ID, Error: err.Error()})
			return
		}
		select {
		case work <- req:
		default:
			s.adminReply(v, protocol.AdminResponse{ID: req.ID, Error: "too many requests at once; try again"})
		}
	})
	s.spawn(func() { // a reconnection brings a new viewer and worker
		for {
			select {
			case <-s.ctx.Done():
				return
			case <-v.gone:
				return
			case req := <-work:
				s.adminReply(v, s.admin(v, req))
			}
		}
	})
}

// admin serves one request.
func (s *Session) admin(v *viewer, req protocol.AdminRequest) protocol.AdminResponse {
	resp := protocol.AdminResponse{ID: req.ID}
	if tool := s.cfg.Start.Tool; !protocol.ToolDoes(tool, req.Op) {
		resp.Error = fmt.Sprintf("this session was opened for %s, not %s", tool, req.Op)
		return resp
	}
	ctx, cancel := context.WithTimeout(s.ctx, adminTimeout)
	defer cancel()
	var err error
	switch req.Op {
	case protocol.AdminListProcesses:
		resp.Processes, err = s.admins.lister.List(ctx)
		resp.Taken = time.Now().UTC()
	case protocol.AdminEndProcess:
		target := strconv.Itoa(int(req.PID))
		err = procs.End(ctx, req.PID, req.Started)
		s.toolAction(v, req.Op, target, err)
	case protocol.AdminListServices:
		var m services.Manager
		if m, err = s.admins.manager(ctx); err == nil {
			resp.Services, err = m.List(ctx)
			resp.Taken = time.Now().UTC()
		}
	case protocol.AdminStartService, protocol.AdminStopService, protocol.AdminRestart:
		var m services.Manager
		if m, err = s.admins.manager(ctx); err == nil {
			switch req.Op {
			case protocol.AdminStartService:
				err = m.Start(ctx, req.Service)
			case protocol.AdminStopService:
				err = m.Stop(ctx, req.Service)
			default:
				err = m.Restart(ctx, req.Service)
			}
		}
		s.toolAction(v, req.Op, req.Service, err)
	default:
		err = s.fileOp(ctx, v, req, &resp)
	}
	if err != nil {
		resp.Error = err.Error()
	}
	return resp
}

// toolAction reports a change to the server's audit log.
func (s *Session) toolAction(v *viewer, op, target string, err error) {
	s.toolActionFor(v.id, op, target, err)
}

func (s *Session) toolActionFor(viewerID, op, target string, err error) {
	if len(target) > 1000 {
		target = target[:1000] + "…"
	}
	a := protocol.ToolAction{Op: op, Target: target, Viewer: viewerID}
	if err != nil {
		a.Error = err.Error()
	}
	s.log.Info("support tool action", "op", op, "target", target, "viewer_id", viewerID, "error", a.Error)
	if e := s.send(protocol.Signal{Type: protocol.SignalToolAction, ToolAction: &a}); e != nil {
		s.log.Warn("reporting a support tool's action", "op", op, "error", e)
	}
}

// adminReply sends resp, made to fit one message: long command lines are
// cut shorter, then the list itself, processes, services or a folder's
// entries (Cut says so).
func (s *Session) adminReply(v *viewer, resp protocol.AdminResponse) {
	b, err := json.Marshal(resp)
	for cmd := 512; err == nil && len(b) > maxAdminResponse && cmd >= 64; cmd /= 2 {
		for i := range resp.Processes {
			if len(resp.Processes[i].Command) > cmd {
				resp.Processes[i].Command = resp.Processes[i].Command[:cmd] + "…"
			}
		}
		resp.Cut = true
		b, err = json.Marshal(resp)
	}
	for err == nil && len(b) > maxAdminResponse && (len(resp.Processes) > 0 || len(resp.Services) > 0 || len(resp.Entries) > 0) {
		resp.Processes = resp.Processes[:len(resp.Processes)*9/10]
		resp.Services = resp.Services[:len(resp.Services)*9/10]
		resp.Entries = resp.Entries[:len(resp.Entries)*9/10]
		resp.Cut = true
		b, err = json.Marshal(resp)
	}
	if err != nil {
		s.log.Error("encoding an admin response", "error", err)
		return
	}
	if err := v.admin.SendText(string(b)); err != nil && !errors.Is(err, errNoChannel) {
		s.log.Debug("sending an admin response", "viewer_id", v.id, "error", err)
	}
}
