// Package filexfer runs a screen-sharing session's file transfers both
// ways over each viewer's file channel (protocol.FileMsg and FileChunk):
// resumable, checked by SHA-256, saved under safe names in Downloads. The
// session gives it its viewers (Peer) and its surroundings (Host).
package filexfer

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
	"slices"
	"sync"
	"time"

	"github.com/tetherdesk/tether/shared/protocol"
)

// File channel flow control: a sender stops at HighWater bytes queued
// and goes on when the queue drains to LowWater.
const (
	HighWater = 1 << 20
	LowWater  = 256 << 10
	// fileProgressEvery: a receiver reports progress this often (bytes).
	fileProgressEvery = 1 << 20
	// maxIncoming bounds the files one viewer sends at once, maxPartials
	// the unfinished files kept for resuming.
	maxIncoming = 4
	maxPartials = 16
)

// Peer is one viewer's file channel.
type Peer interface {
	ID() string
	// Send sends a message on the channel (dropped while it is closed).
	Send(m protocol.FileMsg)
	// WriteChunk sends one binary message once fewer than HighWater
	// bytes are queued; gone says the channel closed (the next resumes).
	WriteChunk(ctx context.Context, b []byte) (gone bool, err error)
}

// Host is the session around the transfers.
type Host struct {
	Ctx context.Context
	Log *slog.Logger
	// MaxBytes is the policy's size limit; Downloads where received
	// files go ("": the user's Downloads folder, found on first use).
	MaxBytes  int64
	Downloads string
	// Allowed says whether the session's mode and policy allow files
	// now, NoFilesWhy why not.
	Allowed    func() bool
	NoFilesWhy func() string
	// Status sets a line of the end user's chat window by key.
	Status func(key, text string)
	// Notice tells the end user (optional).
	Notice func(text string)
	// Spawn runs f unless the session is ending (then it reports false).
	Spawn func(f func()) bool
	// Peers are the viewers now, Peer one of them (nil when gone).
	Peers func() []Peer
	Peer  func(id string) Peer
	// Report sends a finished transfer to the server for the audit log.
	Report func(protocol.FileRecord)
}

// Hub runs the session's file transfers both ways (protocol.FileMsg).
//
// Incoming files are written to a hidden partial file in the Downloads
// folder, hashed as they arrive, and on the last byte checked against the
// offered SHA-256 and moved to a name of their own (SafeName, never
// overwriting). A partial outlives the channel that brought it: the same
// file offered again (same SHA-256 and size, on any viewer's channel)
// resumes at its end. The session's end removes every partial.
//
// Outgoing files are the end user's (the chat window's "Send file…"):
// offered to every viewer whose file channel is open, and to viewers whose
// channel opens later while no one has received it yet, each resuming
// where that viewer's partial ends.
type Hub struct {
	h Host

	mu     sync.Mutex
	dir    string // Downloads, found on first use
	in     map[xferKey]*incoming
	parts  map[string]*partial // by content: sha256 + size
	out    map[uint32]*outgoing
	pumps  map[xferKey]context.CancelFunc
	nextID uint32
	closed bool
}

type xferKey struct {
	viewer string
	id     uint32
}

type partial struct {
	path string
	busy bool // a transfer writes it now
}

type incoming struct {
	key      string // content key of its partial
	name     string
	size     int64
	sha      string
	f        *os.File
	h        hash.Hash
	have     int64
	reported int64
}

type outgoing struct {
	id   uint32
	path string
	name string
	size int64
	sha  string
	done bool
}

// New makes the session's hub.
func New(host Host) *Hub {
	return &Hub{h: host, in: map[xferKey]*incoming{}, parts: map[string]*partial{}, out: map[uint32]*outgoing{},
		pumps: map[xferKey]context.CancelFunc{}}
}

// allowed reports whether the session's mode and policy allow files now.
func (h *Hub) allowed() bool { return h.h.Allowed() }

func (h *Hub) send(v Peer, m protocol.FileMsg) { v.Send(m) }

// OnMessage takes one message of a viewer's file channel.
func (h *Hub) OnMessage(v Peer, data []byte, text bool) {
	if !text {
		c, err := protocol.DecodeFileChunk(data)
		if err != nil {
			h.h.Log.Debug("ignoring file chunk", "viewer_id", v.ID(), "error", err)
			return
		}
		h.chunk(v, c)
		return
	}
	m, err := protocol.DecodeFileMsg(data)
	if err != nil {
		h.h.Log.Debug("ignoring file message", "viewer_id", v.ID(), "error", err)
		return
	}
	switch m.T {
	case protocol.FileOffer:
		h.offered(v, m)
	case protocol.FileCancel:
		h.cancelIncoming(v.ID(), m.ID, true)
	case protocol.FileAccept:
		h.accepted(v, m)
	case protocol.FileProgress:
		h.progress(v, m)
	case protocol.FileDone:
		h.delivered(v, m)
	case protocol.FileReject:
		h.refused(v, m)
	}
}

// ---- incoming: a technician sends a file to the endpoint ----

func (h *Hub) offered(v Peer, m protocol.FileMsg) {
	reject := func(why string) {
		h.send(v, protocol.FileMsg{T: protocol.FileReject, ID: m.ID, Error: why})
	}
	if !h.allowed() {
		reject(h.h.NoFilesWhy())
		return
	}
	if max := h.h.MaxBytes; m.Size > max {
		reject(fmt.Sprintf("the file is larger than the policy allows (%d bytes)", max))
		return
	}
	dir, err := h.downloads()
	if err != nil {
		h.h.Log.Warn("no Downloads folder for a received file", "error", err)
		reject("the endpoint has no Downloads folder to save to")
		return
	}
	key := fmt.Sprintf("%s-%d", m.SHA256, m.Size)
	k := xferKey{v.ID(), m.ID}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	n := 0
	for ik := range h.in {
		if ik.viewer == v.ID() {
			n++
		}
	}
	p := h.parts[key]
	switch {
	case h.in[k] != nil:
		reject("a transfer with this id is already running")
		return
	case n >= maxIncoming:
		reject("too many files at once")
		return
	case p != nil && p.busy:
		reject("this file is already being received")
		return
	case p == nil && len(h.parts) >= maxPartials:
		reject("too many unfinished files")
		return
	}
	if p == nil {
		p = &partial{path: filepath.Join(dir, ".tether-"+m.SHA256[:16]+fmt.Sprintf("-%d.part", m.Size))}
	}
	in, err := openPartial(p.path, m)
	if err != nil {
		h.h.Log.Warn("cannot write a received file", "error", err)
		reject("the endpoint cannot write the file")
		return
	}
	in.key = key
	p.busy = true
	h.parts[key] = p
	h.in[k] = in
	if in.have > 0 {
		h.h.Log.Info("resuming a received file", "viewer_id", v.ID(), "offset", in.have, "size", in.size)
	}
	h.send(v, protocol.FileMsg{T: protocol.FileAccept, ID: m.ID, Offset: in.have})
	h.h.Status(StatusKey("in", m.SHA256), fmt.Sprintf("Receiving %s: %s", SafeName(m.Name), percent(in.have, in.size)))
	if in.have == in.size {
		h.finishLocked(v, k, in)
	}
}

// openPartial opens (or creates) the partial file of offer m and hashes
// what it already holds.
func openPartial(path string, m protocol.FileMsg) (*incoming, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	in := &incoming{name: m.Name, size: m.Size, sha: m.SHA256, f: f, h: sha256.New()}
	st, err := f.Stat()
	if err == nil && st.Size() > m.Size {
		err = f.Truncate(0)
	}
	if err == nil {
		// What an earlier channel delivered: hash it, go on from its end.
		in.have, err = io.Copy(in.h, f)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	in.reported = in.have
	return in, nil
}

func (h *Hub) chunk(v Peer, c protocol.FileChunk) {
	k := xferKey{v.ID(), c.ID}
	h.mu.Lock()
	defer h.mu.Unlock()
	in := h.in[k]
	if in == nil {
		return // after a reject or cancel: the sender is told already
	}
	fail := func(why string) {
		h.dropLocked(k, in, true)
		h.send(v, protocol.FileMsg{T: protocol.FileReject, ID: c.ID, Error: why})
		h.h.Status(StatusKey("in", in.sha), fmt.Sprintf("Receiving %s failed: %s", SafeName(in.name), why))
	}
	if c.Offset != in.have {
		fail(fmt.Sprintf("data at %d, expected %d", c.Offset, in.have))
		return
	}
	if in.have+int64(len(c.Data)) > in.size {
		fail("more data than offered")
		return
	}
	if _, err := in.f.Write(c.Data); err != nil {
		h.h.Log.Warn("writing a received file", "error", err)
		fail("the endpoint cannot write the file")
		return
	}
	in.h.Write(c.Data)
	in.have += int64(len(c.Data))
	if in.have == in.size {
		h.finishLocked(v, k, in)
		return
	}
	if in.have-in.reported >= fileProgressEvery {
		in.reported = in.have
		h.send(v, protocol.FileMsg{T: protocol.FileProgress, ID: c.ID, Offset: in.have})
		h.h.Status(StatusKey("in", in.sha), fmt.Sprintf("Receiving %s: %s", SafeName(in.name), percent(in.have, in.size)))
	}
}

// finishLocked checks the whole file's SHA-256 and saves it. h.mu is held.
func (h *Hub) finishLocked(v Peer, k xferKey, in *incoming) {
	delete(h.in, k)
	p := h.parts[in.key]
	delete(h.parts, in.key)
	err := in.f.Close()
	sum := hex.EncodeToString(in.h.Sum(nil))
	status := StatusKey("in", in.sha)
	if sum != in.sha {
		os.Remove(p.path)
		h.h.Log.Warn("received file failed its checksum", "viewer_id", v.ID(), "size", in.size)
		h.send(v, protocol.FileMsg{T: protocol.FileReject, ID: k.id, Error: "checksum mismatch: the file changed or was damaged on the way"})
		h.h.Status(status, fmt.Sprintf("Receiving %s failed: damaged on the way", SafeName(in.name)))
		return
	}
	var saved string
	if err == nil {
		err = os.Chmod(p.path, 0o644)
	}
	if err == nil {
		saved, err = saveUnique(p.path, h.dir, SafeName(in.name))
	}
	if err != nil {
		os.Remove(p.path)
		h.h.Log.Warn("saving a received file", "error", err)
		h.send(v, protocol.FileMsg{T: protocol.FileReject, ID: k.id, Error: "the endpoint could not save the file"})
		h.h.Status(status, fmt.Sprintf("Saving %s failed", SafeName(in.name)))
		return
	}
	name := filepath.Base(saved)
	h.h.Log.Info("file received", "viewer_id", v.ID(), "size", in.size)
	h.send(v, protocol.FileMsg{T: protocol.FileDone, ID: k.id, Name: name})
	h.h.Status(status, fmt.Sprintf("Received %s (in Downloads as %s)", SafeName(in.name), name))
	if h.h.Notice != nil {
		h.h.Spawn(func() { h.h.Notice("File received: " + name + " (saved in Downloads).") })
	}
	h.report(protocol.FileRecord{Direction: protocol.FileToEndpoint, Name: name, Size: in.size, SHA256: in.sha, Viewer: v.ID()})
}

// dropLocked stops an incoming transfer; its partial stays for a resume
// unless discard. h.mu is held.
func (h *Hub) dropLocked(k xferKey, in *incoming, discard bool) {
	delete(h.in, k)
	in.f.Close()
	if p := h.parts[in.key]; p != nil {
		p.busy = false
		if discard {
			os.Remove(p.path)
			delete(h.parts, in.key)
		}
	}
}

func (h *Hub) cancelIncoming(viewer string, id uint32, discard bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := xferKey{viewer, id}
	if in := h.in[k]; in != nil {
		h.dropLocked(k, in, discard)
		h.h.Status(StatusKey("in", in.sha), fmt.Sprintf("%s: cancelled by the technician", SafeName(in.name)))
	}
}

func (h *Hub) downloads() (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.dir != "" {
		return h.dir, nil
	}
	dir := h.h.Downloads
	if dir == "" {
		var err error
		if dir, err = downloadsDir(); err != nil {
			return "", err
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	h.dir = dir
	removeStalePartials(dir, time.Now().Add(-stalePartial))
	return dir, nil
}

// stalePartial: a partial file untouched this long was left by a helper
// that did not end cleanly (a session removes its own at its end).
const stalePartial = time.Hour

// removeStalePartials removes partial files in dir last written before
// cutoff.
func removeStalePartials(dir string, cutoff time.Time) {
	ms, _ := filepath.Glob(filepath.Join(dir, ".tether-*.part"))
	for _, m := range ms {
		if st, err := os.Lstat(m); err == nil && st.Mode().IsRegular() && st.ModTime().Before(cutoff) {
			os.Remove(m)
		}
	}
}

// ---- outgoing: the end user sends a file to the technicians ----

// SendFromUser offers a file the end user picked to every viewer.
func (h *Hub) SendFromUser(path string) {
	h.h.Spawn(func() {
		name := filepath.Base(path)
		status := StatusKey("out", path)
		fail := func(why string) { h.h.Status(status, fmt.Sprintf("Sending %s: %s", name, why)) }
		if !h.allowed() {
			fail(h.h.NoFilesWhy())
			return
		}
		st, err := os.Stat(path)
		switch {
		case err != nil:
			fail("cannot read the file")
			return
		case !st.Mode().IsRegular():
			fail("not a file")
			return
		case st.Size() > h.h.MaxBytes:
			fail("larger than the policy allows")
			return
		}
		h.h.Status(status, fmt.Sprintf("Preparing %s…", name))
		sum, err := hashFile(h.h.Ctx, path)
		if err != nil {
			fail("cannot read the file")
			return
		}
		h.mu.Lock()
		if h.closed {
			h.mu.Unlock()
			return
		}
		h.nextID++
		o := &outgoing{id: h.nextID, path: path, name: name, size: st.Size(), sha: sum}
		h.out[o.id] = o
		h.mu.Unlock()
		h.h.Status(status, fmt.Sprintf("Offering %s to the technician…", name))
		for _, v := range h.h.Peers() {
			h.offer(v, o)
		}
	})
}

func (h *Hub) offer(v Peer, o *outgoing) {
	h.send(v, protocol.FileMsg{T: protocol.FileOffer, ID: o.id, Name: o.name, Size: o.size, SHA256: o.sha})
}

// ChannelOpen offers a viewer whose file channel just opened every file
// of the user's that no one has received yet.
func (h *Hub) ChannelOpen(v Peer) {
	if !h.allowed() {
		return
	}
	h.mu.Lock()
	var pending []*outgoing
	for _, o := range h.out {
		if !o.done {
			pending = append(pending, o)
		}
	}
	h.mu.Unlock()
	slices.SortFunc(pending, func(a, b *outgoing) int { return int(a.id) - int(b.id) })
	for _, o := range pending {
		h.offer(v, o)
	}
}

func (h *Hub) accepted(v Peer, m protocol.FileMsg) {
	h.mu.Lock()
	o := h.out[m.ID]
	k := xferKey{v.ID(), m.ID}
	if o == nil || h.pumps[k] != nil || m.Offset > o.size || h.closed {
		h.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(h.h.Ctx)
	h.pumps[k] = cancel
	h.mu.Unlock()
	if m.Offset > 0 {
		h.h.Log.Info("resuming a sent file", "viewer_id", v.ID(), "offset", m.Offset, "size", o.size)
	}
	if !h.h.Spawn(func() {
		defer h.pumpDone(k)
		if err := h.pump(ctx, v, o, m.Offset); err != nil && ctx.Err() == nil {
			h.h.Log.Warn("sending a file", "viewer_id", v.ID(), "error", err)
			h.h.Status(StatusKey("out", o.path), fmt.Sprintf("Sending %s failed", o.name))
		}
	}) {
		h.pumpDone(k)
	}
}

func (h *Hub) pumpDone(k xferKey) {
	h.mu.Lock()
	if c := h.pumps[k]; c != nil {
		c()
		delete(h.pumps, k)
	}
	h.mu.Unlock()
}

// pump sends o's bytes from off as chunks, keeping at most HighWater
// bytes queued on the channel.
func (h *Hub) pump(ctx context.Context, v Peer, o *outgoing, off int64) error {
	f, err := os.Open(o.path)
	if err != nil {
		return fmt.Errorf("opening the file: %w", err)
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return fmt.Errorf("seeking: %w", err)
	}
	buf := make([]byte, protocol.MaxFileChunk)
	msg := make([]byte, 0, protocol.MaxFileChunk+16)
	for off < o.size {
		n, err := f.Read(buf[:min(int64(len(buf)), o.size-off)])
		if n == 0 && err != nil {
			return fmt.Errorf("reading at %d: %w", off, err)
		}
		msg = protocol.AppendFileChunk(msg[:0], protocol.FileChunk{ID: o.id, Offset: off, Data: buf[:n]})
		gone, err := v.WriteChunk(ctx, msg)
		if gone || ctx.Err() != nil {
			return nil // the channel dropped: the next one resumes
		}
		if err != nil {
			return fmt.Errorf("sending: %w", err)
		}
		off += int64(n)
	}
	return nil
}

func (h *Hub) progress(v Peer, m protocol.FileMsg) {
	h.mu.Lock()
	o := h.out[m.ID]
	h.mu.Unlock()
	if o != nil {
		h.h.Status(StatusKey("out", o.path), fmt.Sprintf("Sending %s: %s", o.name, percent(m.Offset, o.size)))
	}
}

func (h *Hub) delivered(v Peer, m protocol.FileMsg) {
	h.mu.Lock()
	o := h.out[m.ID]
	first := o != nil && !o.done
	if first {
		o.done = true
	}
	h.mu.Unlock()
	if !first {
		return
	}
	h.h.Log.Info("file sent", "viewer_id", v.ID(), "size", o.size)
	h.h.Status(StatusKey("out", o.path), fmt.Sprintf("Sent %s", o.name))
	h.report(protocol.FileRecord{Direction: protocol.FileFromEndpoint, Name: o.name, Size: o.size, SHA256: o.sha, Viewer: v.ID()})
}

func (h *Hub) refused(v Peer, m protocol.FileMsg) {
	h.mu.Lock()
	o := h.out[m.ID]
	k := xferKey{v.ID(), m.ID}
	if c := h.pumps[k]; c != nil {
		c()
		delete(h.pumps, k)
	}
	h.mu.Unlock()
	if o != nil && !o.done {
		h.h.Status(StatusKey("out", o.path), fmt.Sprintf("Sending %s: refused (%s)", o.name, m.Error))
	}
}

// ---- the session ----

// ViewerGone stops a viewer's transfers; partials stay for a resume.
func (h *Hub) ViewerGone(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, in := range h.in {
		if k.viewer == id {
			h.dropLocked(k, in, false)
		}
	}
	for k, c := range h.pumps {
		if k.viewer == id {
			c()
			delete(h.pumps, k)
		}
	}
}

// ModeChanged stops every transfer when the new mode has no files (the
// partials stay: the mode may come back), and offers the user's pending
// files again when it has.
func (h *Hub) ModeChanged(allowed bool) {
	if allowed {
		for _, v := range h.h.Peers() {
			h.ChannelOpen(v)
		}
		return
	}
	h.mu.Lock()
	var rejects []xferKey
	for k, in := range h.in {
		h.dropLocked(k, in, false)
		rejects = append(rejects, k)
	}
	for k, c := range h.pumps {
		c()
		delete(h.pumps, k)
	}
	h.mu.Unlock()
	for _, k := range rejects {
		if v := h.h.Peer(k.viewer); v != nil {
			h.send(v, protocol.FileMsg{T: protocol.FileReject, ID: k.id, Error: "the session left file transfer mode"})
		}
	}
}

// Close stops everything and removes every partial file.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for k, in := range h.in {
		h.dropLocked(k, in, true)
	}
	for k, p := range h.parts {
		os.Remove(p.path)
		delete(h.parts, k)
	}
	for k, c := range h.pumps {
		c()
		delete(h.pumps, k)
	}
	h.out = map[uint32]*outgoing{}
}

func (h *Hub) report(f protocol.FileRecord) {
	h.h.Report(f)
}

func hashFile(ctx context.Context, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		n, err := f.Read(buf)
		h.Write(buf[:n])
		if errors.Is(err, io.EOF) {
			return hex.EncodeToString(h.Sum(nil)), nil
		}
		if err != nil {
			return "", err
		}
	}
}

// StatusKey is the key of a transfer's line in the chat window.
func StatusKey(dir, id string) string { return dir + ":" + id }

func percent(have, size int64) string {
	if size <= 0 {
		return "100%"
	}
	return fmt.Sprintf("%d%%", have*100/size)
}
