package webm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// el is one element read back from a file.
type el struct {
	id       uint32
	at, data int64 // where the element and its data begin
	size     int64
	kids     []*el
	body     []byte
}

// readVint reads an EBML variable-length integer: with its length marker
// (an element ID) or without (a size).
func readVint(b []byte, marker bool) (uint64, int, error) {
	if len(b) == 0 || b[0] == 0 {
		return 0, 0, errors.New("bad variable-length integer")
	}
	n := 1
	for b[0]&(0x80>>(n-1)) == 0 {
		n++
	}
	if len(b) < n {
		return 0, 0, errors.New("variable-length integer cut short")
	}
	v := uint64(b[0])
	if !marker {
		v &= 0xff >> n
	}
	for i := 1; i < n; i++ {
		v = v<<8 | uint64(b[i])
	}
	return v, n, nil
}

func readID(b []byte) (uint32, int, error) {
	id, n, err := readVint(b, true)
	if err == nil && n > 4 {
		err = errors.New("ID longer than 4 bytes")
	}
	return uint32(id), n, err
}

// masters are the elements whose data are elements.
var masters = map[uint32]bool{idEBML: true, idSegment: true, idSeekHead: true, idSeek: true, idInfo: true,
	idTracks: true, idTrackEntry: true, idVideo: true, idCluster: true, idCues: true, idCuePoint: true, idCueTrackPositions: true}

// parse reads the elements of file[from:to] (offsets into file).
func parse(t *testing.T, file []byte, from, to int64) []*el {
	t.Helper()
	var out []*el
	for off := from; off < to; {
		id, n, err := readID(file[off:])
		if err != nil {
			t.Fatalf("at %d: %v", off, err)
		}
		size, m, err := readVint(file[off+int64(n):], false)
		if err != nil {
			t.Fatalf("element %x at %d: %v", id, off, err)
		}
		e := &el{id: id, at: off, data: off + int64(n+m), size: int64(size)}
		if e.data+e.size > to {
			t.Fatalf("element %x at %d: %d bytes past its parent's end %d", id, off, e.data+e.size-to, to)
		}
		if masters[id] {
			e.kids = parse(t, file, e.data, e.data+e.size)
		} else {
			e.body = file[e.data : e.data+e.size]
		}
		out = append(out, e)
		off = e.data + e.size
	}
	return out
}

func find(es []*el, id uint32) []*el {
	var out []*el
	for _, e := range es {
		if e.id == id {
			out = append(out, e)
		}
	}
	return out
}

func one(t *testing.T, es []*el, id uint32) *el {
	t.Helper()
	f := find(es, id)
	if len(f) != 1 {
		t.Fatalf("%d elements %x, want 1", len(f), id)
	}
	return f[0]
}

func uintOf(e *el) uint64 {
	var v uint64
	for _, c := range e.body {
		v = v<<8 | uint64(c)
	}
	return v
}

// block is a frame read back.
type block struct {
	at   time.Duration
	key  bool
	data []byte
}

// readBack checks the file's structure and returns its duration, picture
// size, frames and cue times.
func readBack(t *testing.T, file []byte) (dur time.Duration, w, h int, frames []block, cues []time.Duration) {
	t.Helper()
	top := parse(t, file, 0, int64(len(file)))
	if len(top) != 2 || top[0].id != idEBML || top[1].id != idSegment {
		t.Fatalf("top level: %d elements, want EBML and Segment", len(top))
	}
	if dt := one(t, top[0].kids, idDocType); string(dt.body) != "webm" {
		t.Fatalf("DocType %q", dt.body)
	}
	seg := top[1]
	// Every SeekHead entry points at an element of its ID.
	for _, s := range one(t, seg.kids, idSeekHead).kids {
		id := binary.BigEndian.Uint32(one(t, s.kids, idSeekID).body)
		pos := int64(uintOf(one(t, s.kids, idSeekPosition)))
		got, _, err := readID(file[seg.data+pos:])
		if err != nil || got != id {
			t.Fatalf("SeekHead: %x at %d, found %x (%v)", id, pos, got, err)
		}
	}
	info := one(t, seg.kids, idInfo)
	if sc := uintOf(one(t, info.kids, idTimecodeScale)); sc != 1e6 {
		t.Fatalf("TimecodeScale %d", sc)
	}
	d := one(t, info.kids, idDuration)
	dur = time.Duration(math.Float64frombits(binary.BigEndian.Uint64(d.body)) * float64(time.Millisecond))
	te := one(t, one(t, seg.kids, idTracks).kids, idTrackEntry)
	if c := one(t, te.kids, idCodecID); string(c.body) != "V_VP8" {
		t.Fatalf("CodecID %q", c.body)
	}
	v := one(t, te.kids, idVideo)
	w, h = int(uintOf(one(t, v.kids, idPixelWidth))), int(uintOf(one(t, v.kids, idPixelHeight)))
	clusterAt := map[int64]*el{}
	for _, c := range find(seg.kids, idCluster) {
		clusterAt[c.at-seg.data] = c
		base := time.Duration(uintOf(one(t, c.kids, idTimecode))) * time.Millisecond
		for _, sb := range find(c.kids, idSimpleBlock) {
			if len(sb.body) < 5 || sb.body[0] != 0x81 {
				t.Fatalf("SimpleBlock at %d: bad header", sb.at)
			}
			rel := time.Duration(int16(binary.BigEndian.Uint16(sb.body[1:]))) * time.Millisecond
			frames = append(frames, block{at: base + rel, key: sb.body[3]&0x80 != 0, data: sb.body[4:]})
		}
	}
	for _, cp := range find(one(t, seg.kids, idCues).kids, idCuePoint) {
		ct := time.Duration(uintOf(one(t, cp.kids, idCueTime))) * time.Millisecond
		pos := int64(uintOf(one(t, one(t, cp.kids, idCueTrackPositions).kids, idCueClusterPosition)))
		c := clusterAt[pos]
		if c == nil {
			t.Fatalf("cue at %v points at %d, where no cluster begins", ct, pos)
		}
		first := find(c.kids, idSimpleBlock)[0]
		if base := time.Duration(uintOf(one(t, c.kids, idTimecode))) * time.Millisecond; base != ct || first.body[3]&0x80 == 0 {
			t.Fatalf("cue at %v: its cluster starts at %v with key %v", ct, base, first.body[3]&0x80 != 0)
		}
		cues = append(cues, ct)
	}
	return dur, w, h, frames, cues
}

func TestWriteAndReadBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.webm")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	wr, err := NewWriter(f, 640, 360)
	if err != nil {
		t.Fatal(err)
	}
	var want []block
	at := time.Duration(0)
	for i := range 60 {
		key := i%20 == 0
		data := fmt.Appendf(nil, "frame %d", i)
		if i == 40 {
			at += 40 * time.Second // a long still stretch: past a block's 16-bit time
		}
		if err := wr.WriteFrame(at, key, data); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		want = append(want, block{at, key, data})
		at += 150 * time.Millisecond
	}
	end := at + time.Second
	if err := wr.Close(end); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dur, w, h, got, cues := readBack(t, file)
	if dur != end || w != 640 || h != 360 {
		t.Errorf("duration %v, %dx%d; want %v, 640x360", dur, w, h, end)
	}
	if len(got) != len(want) {
		t.Fatalf("%d frames read back, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].at != want[i].at || got[i].key != want[i].key || !bytes.Equal(got[i].data, want[i].data) {
			t.Fatalf("frame %d: %v key %v %q, want %v key %v %q", i, got[i].at, got[i].key, got[i].data, want[i].at, want[i].key, want[i].data)
		}
	}
	// A cue for each key frame that opened a cluster: 0, 3 s and the one
	// after the long stretch (a cluster spans at least 2 s).
	if len(cues) != 3 || cues[0] != 0 || cues[1] != 3*time.Second {
		t.Errorf("cues at %v", cues)
	}
}

func TestWriterRefuses(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "r.webm"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := NewWriter(f, 0, 10); err == nil {
		t.Error("a 0x10 writer was made")
	}
	wr, err := NewWriter(f, 16, 16)
	if err != nil {
		t.Fatal(err)
	}
	if err := wr.WriteFrame(0, false, []byte{1}); !errors.Is(err, ErrNoKeyFrame) {
		t.Errorf("a first frame that is not key: %v", err)
	}
	if err := wr.WriteFrame(time.Second, true, []byte{1}); err != nil {
		t.Fatal(err)
	}
	if err := wr.WriteFrame(time.Second/2, false, []byte{1}); !errors.Is(err, ErrBackwards) {
		t.Errorf("a frame before the last: %v", err)
	}
	if err := wr.WriteFrame(2*time.Second, false, nil); err == nil {
		t.Error("an empty frame was taken")
	}
	if err := wr.Close(0); err != nil {
		t.Fatal(err)
	}
	if err := wr.WriteFrame(3*time.Second, true, []byte{1}); !errors.Is(err, ErrClosed) {
		t.Errorf("a frame after Close: %v", err)
	}
}
