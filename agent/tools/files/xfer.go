package files

// Transfers run the file browser's downloads and uploads on the file
// channel, in the screen share's protocol (protocol.FileMsg, FileChunk):
// resumable from where a dropped channel stopped, checked by SHA-256.
// A download is offered when the technician asks for a path; an upload
// goes to the directory the technician chose (UploadTo), into a partial
// file opened without following links, and gets its name only once its
// checksum matched, never replacing a file.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/tetherdesk/tether/shared/protocol"
)

// Peer is a viewer's file channel.
type Peer interface {
	ID() string
	Send(m protocol.FileMsg)
	// WriteChunk sends one binary message, waiting while the channel is
	// full; gone says the channel closed (the transfer resumes on the
	// next).
	WriteChunk(ctx context.Context, b []byte) (gone bool, err error)
}

// progressEvery: the receiver reports progress this often (bytes).
const progressEvery = 1 << 20

// Transfers is one files session's transfers.
type Transfers struct {
	ctx    context.Context
	log    *slog.Logger
	write  bool
	report func(Record)

	mu      sync.Mutex
	nextID  uint32
	out     map[uint32]*outgoing
	in      map[uint32]*incoming // by the viewer's transfer id
	parts   map[string]string    // sha-size → partial file, kept for a resume
	target  map[string]string    // viewer → upload directory
	pumping map[uint32]context.CancelFunc
	opening map[string]bool // sha-size → its partial file is being opened and hashed
	closed  bool
}

type outgoing struct {
	id         uint32
	path, name string
	size       int64
	sha        string
	viewer     string
	sent       bool // every byte went once: audited (under Transfers.mu)
}

type incoming struct {
	dir, name string
	size      int64
	sha       string
	part      string
	f         *os.File
	h         hash.Hash
	have      int64
	reported  int64
}

// removePart removes the partial file, in the folder it was opened in.
func (in *incoming) removePart() error { return removeIn(in.dir, filepath.Base(in.part)) }

// Record is a finished transfer, for the audit log.
type Record struct {
	Op     string // protocol.AdminDownload or AdminUploadTo
	Path   string
	Size   int64
	SHA256 string
	Viewer string
}

// NewTransfers makes a session's transfers; write allows uploads, report
// tells the audit log of each finished transfer.
func NewTransfers(ctx context.Context, log *slog.Logger, write bool, report func(Record)) *Transfers {
	return &Transfers{ctx: ctx, log: log, write: write, report: report, out: map[uint32]*outgoing{}, in: map[uint32]*incoming{},
		parts: map[string]string{}, target: map[string]string{}, pumping: map[uint32]context.CancelFunc{}, opening: map[string]bool{}}
}

// Offer offers the file at p to viewer v (a download); it returns once
// the file is open and hashed.
func (t *Transfers) Offer(ctx context.Context, v Peer, p string) error {
	f, fi, err := Open(p)
	if err != nil {
		return err
	}
	h := sha256.New()
	_, err = io.Copy(h, ctxReader{ctx, io.NewSectionReader(f, 0, fi.Size())})
	f.Close()
	if err != nil {
		return fmt.Errorf("reading %s: %w", p, err)
	}
	clean, _ := Clean(p)
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return errors.New("the session is ending")
	}
	t.nextID++
	o := &outgoing{id: t.nextID, path: clean, name: filepath.Base(clean), size: fi.Size(), sha: hex.EncodeToString(h.Sum(nil)), viewer: v.ID()}
	t.out[o.id] = o
	t.mu.Unlock()
	v.Send(protocol.FileMsg{T: protocol.FileOffer, ID: o.id, Name: o.name, Size: o.size, SHA256: o.sha})
	return nil
}

// UploadTo sets where viewer's uploads go.
func (t *Transfers) UploadTo(viewer, dir string) (string, error) {
	if !t.write {
		return "", errors.New("changing files needs the tools.files.write permission")
	}
	d, err := Dir(dir)
	if err != nil {
		return "", err
	}
	t.mu.Lock()
	t.target[viewer] = d
	t.mu.Unlock()
	return d, nil
}

// ChannelOpen offers again what v has not received (a new channel after
// a drop: the viewer resumes where it stopped).
func (t *Transfers) ChannelOpen(v Peer) {
	t.mu.Lock()
	var pending []*outgoing
	for _, o := range t.out {
		if o.viewer == v.ID() {
			pending = append(pending, o)
		}
	}
	t.mu.Unlock()
	for _, o := range pending {
		v.Send(protocol.FileMsg{T: protocol.FileOffer, ID: o.id, Name: o.name, Size: o.size, SHA256: o.sha})
	}
}

// OnMessage takes one message of v's file channel.
func (t *Transfers) OnMessage(v Peer, data []byte, text bool) {
	if !text {
		c, err := protocol.DecodeFileChunk(data)
		if err != nil {
			t.log.Debug("ignoring a file chunk", "error", err)
			return
		}
		t.chunk(v, c)
		return
	}
	m, err := protocol.DecodeFileMsg(data)
	if err != nil {
		t.log.Debug("ignoring a file message", "error", err)
		return
	}
	switch m.T {
	case protocol.FileOffer:
		t.offered(v, m)
	case protocol.FileCancel:
		t.mu.Lock()
		if in := t.in[m.ID]; in != nil {
			in.f.Close()
			delete(t.in, m.ID)
		}
		t.mu.Unlock()
	case protocol.FileAccept:
		t.accepted(v, m)
	case protocol.FileDone, protocol.FileReject:
		// The download was audited when its last byte went (pump): what
		// the viewer says afterwards cannot keep a read out of the log.
		t.mu.Lock()
		delete(t.out, m.ID)
		t.mu.Unlock()
	}
}

// ---- downloads ----

func (t *Transfers) accepted(v Peer, m protocol.FileMsg) {
	t.mu.Lock()
	o := t.out[m.ID]
	if o == nil || m.Offset > o.size || t.closed {
		t.mu.Unlock()
		return
	}
	if cancel := t.pumping[o.id]; cancel != nil {
		cancel() // a new channel took over
	}
	ctx, cancel := context.WithCancel(t.ctx)
	t.pumping[o.id] = cancel
	t.mu.Unlock()
	go func() {
		defer cancel()
		if err := t.pump(ctx, v, o, m.Offset); err != nil && ctx.Err() == nil {
			t.log.Warn("sending a file", "path", o.path, "error", err)
			v.Send(protocol.FileMsg{T: protocol.FileCancel, ID: o.id})
		}
	}()
}

func (t *Transfers) pump(ctx context.Context, v Peer, o *outgoing, off int64) error {
	f, fi, err := Open(o.path)
	if err != nil {
		return err
	}
	defer f.Close()
	if fi.Size() != o.size {
		return fmt.Errorf("%s changed since it was offered", o.path)
	}
	buf := make([]byte, protocol.MaxFileChunk)
	for off < o.size {
		n, err := f.ReadAt(buf[:min(int64(len(buf)), o.size-off)], off)
		if n == 0 && err != nil {
			return err
		}
		gone, err := v.WriteChunk(ctx, protocol.AppendFileChunk(nil, protocol.FileChunk{ID: o.id, Offset: off, Data: buf[:n]}))
		if gone || ctx.Err() != nil {
			return nil // the next channel resumes
		}
		if err != nil {
			return err
		}
		off += int64(n)
	}
	t.mu.Lock()
	first := !o.sent
	o.sent = true
	t.mu.Unlock()
	if first {
		t.report(Record{Op: protocol.AdminDownload, Path: o.path, Size: o.size, SHA256: o.sha, Viewer: v.ID()})
	}
	return nil
}

// ---- uploads ----

func (t *Transfers) offered(v Peer, m protocol.FileMsg) {
	reject := func(why string) { v.Send(protocol.FileMsg{T: protocol.FileReject, ID: m.ID, Error: why}) }
	if !t.write {
		reject("changing files needs the tools.files.write permission")
		return
	}
	if err := CheckName(m.Name); err != nil {
		reject(err.Error())
		return
	}
	key := fmt.Sprintf("%s-%d", m.SHA256, m.Size)
	t.mu.Lock()
	dir := t.target[v.ID()]
	why := ""
	switch {
	case t.closed:
		t.mu.Unlock()
		return
	case dir == "":
		why = "choose the folder to upload to first"
	case t.in[m.ID] != nil:
		why = "a transfer with this id is already running"
	case t.opening[key]:
		why = "this file is being uploaded already"
	}
	if why != "" {
		t.mu.Unlock()
		reject(why)
		return
	}
	part := t.parts[key]
	fresh := part == "" || filepath.Dir(part) != dir
	if fresh {
		part = filepath.Join(dir, ".tether-"+m.SHA256[:16]+fmt.Sprintf("-%d.part", m.Size))
	}
	// Hashing what a resumed partial file holds takes a while: the
	// session's other transfers go on meanwhile.
	t.opening[key] = true
	t.mu.Unlock()
	in, err := openPart(part, m)
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.opening, key)
	if err == nil && (t.closed || t.in[m.ID] != nil) {
		in.f.Close()
		if t.closed || fresh {
			removeIn(dir, filepath.Base(part)) // nobody else keeps it
		}
		err = errors.New("the session is ending, or the transfer id was taken meanwhile")
	}
	if err != nil {
		t.log.Warn("cannot write an uploaded file", "dir", dir, "error", err)
		reject("the endpoint cannot write there: " + err.Error())
		return
	}
	in.dir, in.name = dir, m.Name
	t.parts[key] = part
	t.in[m.ID] = in
	v.Send(protocol.FileMsg{T: protocol.FileAccept, ID: m.ID, Offset: in.have})
	if in.have == in.size {
		t.finishLocked(v, m.ID, in, key)
	}
}

// openPart opens (or creates) a partial file without following a link,
// refusing one a local user might have put in its place, and hashes what
// it holds already.
func openPart(path string, m protocol.FileMsg) (*incoming, error) {
	f, err := openNoFollow(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && (!fi.Mode().IsRegular() || fi.Size() > m.Size || !ownPart(f, fi)) {
		err = fmt.Errorf("%s is not a partial file of this upload", path)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	in := &incoming{size: m.Size, sha: m.SHA256, part: path, f: f, h: sha256.New()}
	if in.have, err = io.Copy(in.h, f); err != nil {
		f.Close()
		return nil, err
	}
	in.reported = in.have
	return in, nil
}

func (t *Transfers) chunk(v Peer, c protocol.FileChunk) {
	t.mu.Lock()
	defer t.mu.Unlock()
	in := t.in[c.ID]
	if in == nil {
		return
	}
	if c.Offset != in.have || in.have+int64(len(c.Data)) > in.size {
		in.f.Close()
		delete(t.in, c.ID)
		v.Send(protocol.FileMsg{T: protocol.FileReject, ID: c.ID, Error: fmt.Sprintf("data at %d, expected %d", c.Offset, in.have)})
		return
	}
	if _, err := in.f.WriteAt(c.Data, in.have); err != nil {
		in.f.Close()
		delete(t.in, c.ID)
		v.Send(protocol.FileMsg{T: protocol.FileReject, ID: c.ID, Error: "the endpoint could not write: " + err.Error()})
		return
	}
	in.h.Write(c.Data)
	in.have += int64(len(c.Data))
	if in.have == in.size {
		t.finishLocked(v, c.ID, in, fmt.Sprintf("%s-%d", in.sha, in.size))
		return
	}
	if in.have-in.reported >= progressEvery {
		in.reported = in.have
		v.Send(protocol.FileMsg{T: protocol.FileProgress, ID: c.ID, Offset: in.have})
	}
}

// finishLocked checks the whole upload's SHA-256 and gives it its name:
// the one offered, or "name (2).ext" and so on, never replacing a file.
func (t *Transfers) finishLocked(v Peer, id uint32, in *incoming, key string) {
	delete(t.in, id)
	delete(t.parts, key)
	// The mode is set on the open file: by path, a link swapped in after
	// the rename would have root chmod its target.
	modeErr := in.f.Chmod(0o644)
	in.f.Close()
	if modeErr != nil {
		t.log.Warn("setting an uploaded file's mode", "error", modeErr)
	}
	if sum := hex.EncodeToString(in.h.Sum(nil)); sum != in.sha {
		in.removePart()
		v.Send(protocol.FileMsg{T: protocol.FileReject, ID: id, Error: "checksum mismatch: the file changed or was damaged on the way"})
		return
	}
	ext := filepath.Ext(in.name)
	base := strings.TrimSuffix(in.name, ext)
	for i := 1; i < 1000; i++ {
		name := in.name
		if i > 1 {
			name = fmt.Sprintf("%s (%d)%s", base, i, ext)
		}
		to := filepath.Join(in.dir, name)
		err := renameIn(in.dir, filepath.Base(in.part), name)
		if errors.Is(err, ErrExists) {
			continue
		}
		if err != nil {
			in.removePart()
			v.Send(protocol.FileMsg{T: protocol.FileReject, ID: id, Error: "the endpoint could not save the file: " + err.Error()})
			return
		}
		v.Send(protocol.FileMsg{T: protocol.FileDone, ID: id, Name: name})
		t.report(Record{Op: protocol.AdminUploadTo, Path: to, Size: in.size, SHA256: in.sha, Viewer: v.ID()})
		return
	}
	in.removePart()
	v.Send(protocol.FileMsg{T: protocol.FileReject, ID: id, Error: "too many files of that name"})
}

// Close stops every transfer and removes the partial files.
func (t *Transfers) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	for _, cancel := range t.pumping {
		cancel()
	}
	for _, in := range t.in {
		in.f.Close()
	}
	for _, p := range t.parts {
		removeIn(filepath.Dir(p), filepath.Base(p))
	}
}

// ctxReader stops a long read (hashing a large file) when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
