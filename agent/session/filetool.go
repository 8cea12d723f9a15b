package session

// The file browser tool (protocol.ToolFiles as the desktop's user in its
// helper, ToolFilesSystem in the service): listings and changes on the
// admin channel, transfers on the file channel (agent/tools/files).

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"

	"github.com/pion/webrtc/v4"

	"github.com/tetherdesk/tether/agent/tools/files"
	"github.com/tetherdesk/tether/shared/protocol"
)

// errReadOnly refuses a change without the write permission.
var errReadOnly = errors.New("changing files needs the tools.files.write permission")

// fileTransfers is the session's, made on first use.
func (s *Session) fileTransfers() *files.Transfers {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fileXfers == nil {
		s.fileXfers = files.NewTransfers(s.ctx, s.log, s.cfg.Start.Write, func(r files.Record) {
			s.toolActionFor(r.Viewer, r.Op, fmt.Sprintf("%s (%d bytes, sha256 %s)", r.Path, r.Size, r.SHA256), nil)
		})
	}
	return s.fileXfers
}

// wireFileTool connects a files session's file channel to its transfers.
func (s *Session) wireFileTool(v *viewer) {
	xf := s.fileTransfers()
	v.watchFileLow()
	v.file.OnOpen(func() {
		v.markOpen(&v.fileOpen)
		xf.ChannelOpen(filePeer{v})
	})
	v.file.OnMessage(func(m webrtc.DataChannelMessage) {
		v.markOpen(&v.fileOpen)
		xf.OnMessage(filePeer{v}, m.Data, m.IsString)
	})
}

// fileOp serves a files.* request.
func (s *Session) fileOp(ctx context.Context, v *viewer, req protocol.AdminRequest, resp *protocol.AdminResponse) error {
	write := s.cfg.Start.Write
	resp.Write = write
	switch req.Op {
	case protocol.AdminFileRoots:
		resp.Roots = files.Roots()
		if home := homeDir(); home != "" && s.cfg.Start.Tool == protocol.ToolFiles {
			// The user's own files first: the viewer opens the first root.
			resp.Roots = append([]string{home}, resp.Roots...)
		}
		return nil
	case protocol.AdminListFiles:
		p, entries, cut, err := files.List(req.Path)
		resp.Path, resp.Entries, resp.Cut = p, entries, cut
		return err
	case protocol.AdminDownload:
		// Hashing a large file outlasts one request's bound: it stops
		// with the session instead.
		return s.fileTransfers().Offer(s.ctx, filePeer{v}, req.Path)
	case protocol.AdminUploadTo:
		d, err := s.fileTransfers().UploadTo(v.id, req.Path)
		resp.Path = d
		return err
	case protocol.AdminDeleteFile:
		if !write {
			return errReadOnly
		}
		err := files.Delete(req.Path)
		s.toolAction(v, req.Op, req.Path, err)
		return err
	case protocol.AdminRenameFile:
		if !write {
			return errReadOnly
		}
		to, err := files.Rename(req.Path, req.Name)
		resp.Path = to
		s.toolAction(v, req.Op, req.Path+" → "+req.Name, err)
		return err
	}
	return fmt.Errorf("unknown operation %q", req.Op)
}

// homeDir is this process's user's home folder, "" when it has none that
// exists (a service account's /nonexistent).
func homeDir() string {
	u, err := user.Current()
	if err != nil || u.HomeDir == "" {
		return ""
	}
	if fi, err := os.Stat(u.HomeDir); err != nil || !fi.IsDir() {
		return ""
	}
	return u.HomeDir
}
