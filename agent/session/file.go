package session

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/tetherdesk/tether/shared/protocol"
)

// File channel flow control: a sender stops at fileHighWater bytes queued
// and goes on when the queue drains to fileLowWater.
const (
	fileHighWater = 1 << 20
	fileLowWater  = 256 << 10
	// fileProgressEvery: a receiver reports progress this often (bytes).
	fileProgressEvery = 1 << 20
	// maxIncoming bounds the files one viewer sends at once, maxPartials
	// the unfinished files kept for resuming.
	maxIncoming = 4
	maxPartials = 16
)

// fileHub runs the session's file transfers both ways (protocol.FileMsg).
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
type fileHub struct {
	s *Session

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

func newFileHub(s *Session) *fileHub {
	return &fileHub{s: s, in: map[xferKey]*incoming{}, parts: map[string]*partial{}, out: map[uint32]*outgoing{},
		pumps: map[xferKey]context.CancelFunc{}}
}

// allowed reports whether the session's mode and policy allow files now.
func (h *fileHub) allowed() bool {
	return slices.Contains(h.s.features(h.s.currentMode()), protocol.FeatureFile)
}

func (h *fileHub) send(v *viewer, m protocol.FileMsg) {
	v.sendJSON(v.file, &v.fileOpen, m)
}

// onMessage takes one message of a viewer's file channel.
func (h *fileHub) onMessage(v *viewer, data []byte, text bool) {
	if !text {
		c, err := protocol.DecodeFileChunk(data)
		if err != nil {
			h.s.log.Debug("ignoring file chunk", "viewer_id", v.id, "error", err)
			return
		}
		h.chunk(v, c)
		return
	}
	m, err := protocol.DecodeFileMsg(data)
	if err != nil {
		h.s.log.Debug("ignoring file message", "viewer_id", v.id, "error", err)
		return
	}
	switch m.T {
	case protocol.FileOffer:
		h.offered(v, m)
	case protocol.FileCancel:
		h.cancelIncoming(v.id, m.ID, true)
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

func (h *fileHub) offered(v *viewer, m protocol.FileMsg) {
	reject := func(why string) {
		h.send(v, protocol.FileMsg{T: protocol.FileReject, ID: m.ID, Error: why})
	}
	if !h.allowed() {
		reject(h.s.noFilesWhy())
		return
	}
	if max := fileMax(h.s.cfg.Policy); m.Size > max {
		reject(fmt.Sprintf("the file is larger than the policy allows (%d bytes)", max))
		return
	}
	dir, err := h.downloads()
	if err != nil {
		h.s.log.Warn("no Downloads folder for a received file", "error", err)
		reject("the endpoint has no Downloads folder to save to")
		return
	}
	key := fmt.Sprintf("%s-%d", m.SHA256, m.Size)
	k := xferKey{v.id, m.ID}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	n := 0
	for ik := range h.in {
		if ik.viewer == v.id {
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
		h.s.log.Warn("cannot write a received file", "error", err)
		reject("the endpoint cannot write the file")
		return
	}
	in.key = key
	p.busy = true
	h.parts[key] = p
	h.in[k] = in
	if in.have > 0 {
		h.s.log.Info("resuming a received file", "viewer_id", v.id, "offset", in.have, "size", in.size)
	}
	h.send(v, protocol.FileMsg{T: protocol.FileAccept, ID: m.ID, Offset: in.have})
	h.s.chat.setStatus(statusKey("in", m.SHA256), fmt.Sprintf("Receiving %s: %s", SafeName(m.Name), percent(in.have, in.size)))
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

func (h *fileHub) chunk(v *viewer, c protocol.FileChunk) {
	k := xferKey{v.id, c.ID}
	h.mu.Lock()
	defer h.mu.Unlock()
	in := h.in[k]
	if in == nil {
		return // after a reject or cancel: the sender is told already
	}
	fail := func(why string) {
		h.dropLocked(k, in, true)
		h.send(v, protocol.FileMsg{T: protocol.FileReject, ID: c.ID, Error: why})
		h.s.chat.setStatus(statusKey("in", in.sha), fmt.Sprintf("Receiving %s failed: %s", SafeName(in.name), why))
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
		h.s.log.Warn("writing a received file", "error", err)
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
		h.s.chat.setStatus(statusKey("in", in.sha), fmt.Sprintf("Receiving %s: %s", SafeName(in.name), percent(in.have, in.size)))
	}
}

// finishLocked checks the whole file's SHA-256 and saves it. h.mu is held.
func (h *fileHub) finishLocked(v *viewer, k xferKey, in *incoming) {
	delete(h.in, k)
	p := h.parts[in.key]
	delete(h.parts, in.key)
	err := in.f.Close()
	sum := hex.EncodeToString(in.h.Sum(nil))
	status := statusKey("in", in.sha)
	if sum != in.sha {
		os.Remove(p.path)
		h.s.log.Warn("received file failed its checksum", "viewer_id", v.id, "size", in.size)
		h.send(v, protocol.FileMsg{T: protocol.FileReject, ID: k.id, Error: "checksum mismatch: the file changed or was damaged on the way"})
		h.s.chat.setStatus(status, fmt.Sprintf("Receiving %s failed: damaged on the way", SafeName(in.name)))
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
		h.s.log.Warn("saving a received file", "error", err)
		h.send(v, protocol.FileMsg{T: protocol.FileReject, ID: k.id, Error: "the endpoint could not save the file"})
		h.s.chat.setStatus(status, fmt.Sprintf("Saving %s failed", SafeName(in.name)))
		return
	}
	name := filepath.Base(saved)
	h.s.log.Info("file received", "viewer_id", v.id, "size", in.size)
	h.send(v, protocol.FileMsg{T: protocol.FileDone, ID: k.id, Name: name})
	h.s.chat.setStatus(status, fmt.Sprintf("Received %s (in Downloads as %s)", SafeName(in.name), name))
	if n, ok := h.s.cfg.UI.(Notifier); ok {
		h.s.spawn(func() { n.Notice(h.s.ctx, "File received: "+name+" (saved in Downloads).") })
	}
	h.report(protocol.FileRecord{Direction: protocol.FileToEndpoint, Name: name, Size: in.size, SHA256: in.sha, Viewer: v.id})
}

// dropLocked stops an incoming transfer; its partial stays for a resume
// unless discard. h.mu is held.
func (h *fileHub) dropLocked(k xferKey, in *incoming, discard bool) {
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

func (h *fileHub) cancelIncoming(viewer string, id uint32, discard bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := xferKey{viewer, id}
	if in := h.in[k]; in != nil {
		h.dropLocked(k, in, discard)
		h.s.chat.setStatus(statusKey("in", in.sha), fmt.Sprintf("%s: cancelled by the technician", SafeName(in.name)))
	}
}

func (h *fileHub) downloads() (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.dir != "" {
		return h.dir, nil
	}
	dir := h.s.cfg.Downloads
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

// sendFromUser offers a file the end user picked to every viewer.
func (h *fileHub) sendFromUser(path string) {
	h.s.spawn(func() {
		name := filepath.Base(path)
		status := statusKey("out", path)
		fail := func(why string) { h.s.chat.setStatus(status, fmt.Sprintf("Sending %s: %s", name, why)) }
		if !h.allowed() {
			fail(h.s.noFilesWhy())
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
		case st.Size() > fileMax(h.s.cfg.Policy):
			fail("larger than the policy allows")
			return
		}
		h.s.chat.setStatus(status, fmt.Sprintf("Preparing %s…", name))
		sum, err := hashFile(h.s.ctx, path)
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
		h.s.chat.setStatus(status, fmt.Sprintf("Offering %s to the technician…", name))
		h.s.mu.Lock()
		vs := h.s.viewerList()
		h.s.mu.Unlock()
		for _, v := range vs {
			h.offer(v, o)
		}
	})
}

func (h *fileHub) offer(v *viewer, o *outgoing) {
	h.send(v, protocol.FileMsg{T: protocol.FileOffer, ID: o.id, Name: o.name, Size: o.size, SHA256: o.sha})
}

// channelOpen offers a viewer whose file channel just opened every file
// of the user's that no one has received yet.
func (h *fileHub) channelOpen(v *viewer) {
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

func (h *fileHub) accepted(v *viewer, m protocol.FileMsg) {
	h.mu.Lock()
	o := h.out[m.ID]
	k := xferKey{v.id, m.ID}
	if o == nil || h.pumps[k] != nil || m.Offset > o.size || h.closed {
		h.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(h.s.ctx)
	h.pumps[k] = cancel
	h.mu.Unlock()
	if m.Offset > 0 {
		h.s.log.Info("resuming a sent file", "viewer_id", v.id, "offset", m.Offset, "size", o.size)
	}
	if !h.s.spawn(func() {
		defer h.pumpDone(k)
		if err := h.pump(ctx, v, o, m.Offset); err != nil && ctx.Err() == nil {
			h.s.log.Warn("sending a file", "viewer_id", v.id, "error", err)
			h.s.chat.setStatus(statusKey("out", o.path), fmt.Sprintf("Sending %s failed", o.name))
		}
	}) {
		h.pumpDone(k)
	}
}

func (h *fileHub) pumpDone(k xferKey) {
	h.mu.Lock()
	if c := h.pumps[k]; c != nil {
		c()
		delete(h.pumps, k)
	}
	h.mu.Unlock()
}

// pump sends o's bytes from off as chunks, keeping at most fileHighWater
// bytes queued on the channel.
func (h *fileHub) pump(ctx context.Context, v *viewer, o *outgoing, off int64) error {
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
		for v.file.BufferedAmount() > fileHighWater {
			select {
			case <-ctx.Done():
				return nil
			case <-v.fileLow:
			case <-time.After(time.Second): // a missed low-water event costs a second, not the transfer
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		n, err := f.Read(buf[:min(int64(len(buf)), o.size-off)])
		if n == 0 && err != nil {
			return fmt.Errorf("reading at %d: %w", off, err)
		}
		msg = protocol.AppendFileChunk(msg[:0], protocol.FileChunk{ID: o.id, Offset: off, Data: buf[:n]})
		if err := v.file.Send(msg); err != nil {
			if errors.Is(err, io.ErrClosedPipe) || v.file.ReadyState() != webrtc.DataChannelStateOpen {
				return nil // the channel dropped: the next one resumes
			}
			return fmt.Errorf("sending: %w", err)
		}
		off += int64(n)
	}
	return nil
}

func (h *fileHub) progress(v *viewer, m protocol.FileMsg) {
	h.mu.Lock()
	o := h.out[m.ID]
	h.mu.Unlock()
	if o != nil {
		h.s.chat.setStatus(statusKey("out", o.path), fmt.Sprintf("Sending %s: %s", o.name, percent(m.Offset, o.size)))
	}
}

func (h *fileHub) delivered(v *viewer, m protocol.FileMsg) {
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
	h.s.log.Info("file sent", "viewer_id", v.id, "size", o.size)
	h.s.chat.setStatus(statusKey("out", o.path), fmt.Sprintf("Sent %s", o.name))
	h.report(protocol.FileRecord{Direction: protocol.FileFromEndpoint, Name: o.name, Size: o.size, SHA256: o.sha, Viewer: v.id})
}

func (h *fileHub) refused(v *viewer, m protocol.FileMsg) {
	h.mu.Lock()
	o := h.out[m.ID]
	k := xferKey{v.id, m.ID}
	if c := h.pumps[k]; c != nil {
		c()
		delete(h.pumps, k)
	}
	h.mu.Unlock()
	if o != nil && !o.done {
		h.s.chat.setStatus(statusKey("out", o.path), fmt.Sprintf("Sending %s: refused (%s)", o.name, m.Error))
	}
}

// ---- the session ----

// viewerGone stops a viewer's transfers; partials stay for a resume.
func (h *fileHub) viewerGone(id string) {
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

// modeChanged stops every transfer when the new mode has no files (the
// partials stay: the mode may come back), and offers the user's pending
// files again when it has.
func (h *fileHub) modeChanged(mode protocol.Mode) {
	if slices.Contains(h.s.features(mode), protocol.FeatureFile) {
		h.s.mu.Lock()
		vs := h.s.viewerList()
		h.s.mu.Unlock()
		for _, v := range vs {
			h.channelOpen(v)
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
		if v := h.s.viewer(k.viewer); v != nil {
			h.send(v, protocol.FileMsg{T: protocol.FileReject, ID: k.id, Error: "the session left file transfer mode"})
		}
	}
}

// close stops everything and removes every partial file.
func (h *fileHub) close() {
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

func (h *fileHub) report(f protocol.FileRecord) {
	if err := h.s.send(protocol.Signal{Type: protocol.SignalFile, File: &f}); err != nil {
		h.s.log.Warn("reporting a file transfer to the server", "error", err)
	}
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

func statusKey(dir, id string) string { return dir + ":" + id }

func percent(have, size int64) string {
	if size <= 0 {
		return "100%"
	}
	return fmt.Sprintf("%d%%", have*100/size)
}
