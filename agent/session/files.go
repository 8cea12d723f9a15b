package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/tetherdesk/tether/agent/session/filexfer"
	"github.com/tetherdesk/tether/shared/protocol"
)

// newFiles gives the session's file transfers their surroundings.
func newFiles(s *Session) *filexfer.Hub {
	return filexfer.New(filexfer.Host{
		Ctx: s.ctx, Log: s.log, MaxBytes: fileMax(s.cfg.Policy), Downloads: s.cfg.Downloads,
		Allowed:    func() bool { return slices.Contains(s.features(s.currentMode()), protocol.FeatureFile) },
		NoFilesWhy: s.noFilesWhy,
		Status:     func(key, text string) { s.chat.setStatus(key, text) },
		Notice: func(text string) {
			if n, ok := s.cfg.UI.(Notifier); ok {
				n.Notice(s.ctx, text)
			}
		},
		Spawn: s.spawn,
		Peers: func() []filexfer.Peer {
			s.mu.Lock()
			defer s.mu.Unlock()
			var out []filexfer.Peer
			for _, v := range s.viewerList() {
				out = append(out, filePeer{v})
			}
			return out
		},
		Peer: func(id string) filexfer.Peer {
			if v := s.viewer(id); v != nil {
				return filePeer{v}
			}
			return nil
		},
		Report: func(f protocol.FileRecord) {
			dir := "to the endpoint"
			if f.Direction == protocol.FileFromEndpoint {
				dir = "from the endpoint"
			}
			s.recEvent(protocol.RecEventFile, s.viewerName(f.Viewer), fmt.Sprintf("%s (%d bytes) %s", f.Name, f.Size, dir))
			if err := s.send(protocol.Signal{Type: protocol.SignalFile, File: &f}); err != nil {
				s.log.Warn("reporting a file transfer to the server", "error", err)
			}
		},
	})
}

// filePeer is a viewer's file channel as filexfer sees it.
type filePeer struct{ v *viewer }

func (p filePeer) ID() string { return p.v.id }

func (p filePeer) Send(m protocol.FileMsg) { p.v.sendJSON(p.v.file, &p.v.fileOpen, m) }

// WriteChunk waits while HighWater bytes are queued on the channel (its
// low-water event wakes it; a missed event costs a second, not the
// transfer), then sends b.
func (p filePeer) WriteChunk(ctx context.Context, b []byte) (gone bool, err error) {
	for p.v.file.BufferedAmount() > filexfer.HighWater {
		select {
		case <-ctx.Done():
			return false, nil
		case <-p.v.fileLow:
		case <-time.After(time.Second):
		}
	}
	if ctx.Err() != nil {
		return false, nil
	}
	if err := p.v.file.Send(b); err != nil {
		if errors.Is(err, io.ErrClosedPipe) || p.v.file.ReadyState() != webrtc.DataChannelStateOpen {
			return true, nil
		}
		return false, err
	}
	return false, nil
}
