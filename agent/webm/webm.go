// Package webm writes a WebM file of one VP8 video track, for session
// recordings: seekable in a browser (Cues, a Duration) and readable by
// ffprobe. Frames are written as they come; Close seeks back to fill in what
// only the end knows (the Segment's size, the Duration, where the Cues are).
package webm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
)

// Element IDs (Matroska/WebM), with their length marker bits.
const (
	idEBML               = 0x1A45DFA3
	idEBMLVersion        = 0x4286
	idEBMLReadVersion    = 0x42F7
	idEBMLMaxIDLength    = 0x42F2
	idEBMLMaxSizeLength  = 0x42F3
	idDocType            = 0x4282
	idDocTypeVersion     = 0x4287
	idDocTypeReadVersion = 0x4285
	idSegment            = 0x18538067
	idSeekHead           = 0x114D9B74
	idSeek               = 0x4DBB
	idSeekID             = 0x53AB
	idSeekPosition       = 0x53AC
	idInfo               = 0x1549A966
	idTimecodeScale      = 0x2AD7B1
	idDuration           = 0x4489
	idMuxingApp          = 0x4D80
	idWritingApp         = 0x5741
	idTracks             = 0x1654AE6B
	idTrackEntry         = 0xAE
	idTrackNumber        = 0xD7
	idTrackUID           = 0x73C5
	idTrackType          = 0x83
	idFlagLacing         = 0x9C
	idCodecID            = 0x86
	idVideo              = 0xE0
	idPixelWidth         = 0xB0
	idPixelHeight        = 0xBA
	idCluster            = 0x1F43B675
	idTimecode           = 0xE7
	idSimpleBlock        = 0xA3
	idCues               = 0x1C53BB6B
	idCuePoint           = 0xBB
	idCueTime            = 0xB3
	idCueTrackPositions  = 0xB7
	idCueTrack           = 0xF7
	idCueClusterPosition = 0xF1
)

// Cluster bounds: a new cluster starts at a key frame once the current one
// spans clusterSpan (a seek lands on a key frame at most that far back),
// and in any case before a frame's time relative to its cluster would not
// fit a SimpleBlock's 16 bits.
const (
	clusterSpan = 2 * time.Second
	maxRelative = 32767 * time.Millisecond
)

// Errors of Writer.
var (
	ErrNoKeyFrame = errors.New("webm: the first frame must be a key frame")
	ErrBackwards  = errors.New("webm: frame time before the last one")
	ErrClosed     = errors.New("webm: writer closed")
)

// Writer writes the WebM file. It is not safe for concurrent use.
type Writer struct {
	w        io.WriteSeeker
	off      int64 // bytes written so far (the file's position)
	segData  int64 // where the Segment's children begin
	sizeAt   int64 // the Segment's 8-byte size
	durAt    int64 // Info's Duration value (float64)
	cuesPos  int64 // SeekHead's Cues position value (8-byte uint)
	cluster  []byte
	clusterT time.Duration // the cluster's time
	keyStart bool          // the cluster starts with a key frame
	last     time.Duration
	frames   int
	cues     []cue
	closed   bool
}

type cue struct {
	t   time.Duration
	pos int64 // cluster position relative to segData
}

// NewWriter writes the headers of a width x height VP8 track to w, which
// must be at its start (a new file).
func NewWriter(w io.WriteSeeker, width, height int) (*Writer, error) {
	if width <= 0 || height <= 0 || width > 16383 || height > 16383 {
		return nil, fmt.Errorf("webm: picture of %dx%d", width, height)
	}
	wr := &Writer{w: w}
	var b []byte
	b = element(b, idEBML, func(b []byte) []byte {
		b = uintElement(b, idEBMLVersion, 1)
		b = uintElement(b, idEBMLReadVersion, 1)
		b = uintElement(b, idEBMLMaxIDLength, 4)
		b = uintElement(b, idEBMLMaxSizeLength, 8)
		b = stringElement(b, idDocType, "webm")
		b = uintElement(b, idDocTypeVersion, 2)
		return uintElement(b, idDocTypeReadVersion, 2)
	})
	b = appendID(b, idSegment)
	wr.sizeAt = int64(len(b))
	b = appendSize8(b, 0) // patched by Close
	wr.segData = int64(len(b))

	// SeekHead: where Info, Tracks and Cues are (relative to the
	// Segment's data). Its entries have a fixed size, so Info's place is
	// known before it is written; the Cues' is filled in by Close.
	const entries = 3
	headLen := int64(len(appendID(nil, idSeekHead))) + 1 + entries*seekEntryLen
	var info []byte
	info = uintElement(info, idTimecodeScale, uint64(time.Millisecond)) // block times in ms
	info = stringElement(info, idMuxingApp, "tether")
	info = stringElement(info, idWritingApp, "tether")
	info = appendID(info, idDuration)
	info = appendSize(info, 8)
	durInBody := len(info)
	info = binary.BigEndian.AppendUint64(info, 0) // filled in by Close
	infoHead := appendSize(appendID(nil, idInfo), uint64(len(info)))
	infoPos := headLen
	tracksPos := infoPos + int64(len(infoHead)+len(info))

	b = appendID(b, idSeekHead)
	b = appendSize(b, entries*seekEntryLen)
	b = appendSeek(b, idInfo, uint64(infoPos))
	b = appendSeek(b, idTracks, uint64(tracksPos))
	wr.cuesPos = int64(len(b)) + seekValueAt
	b = appendSeek(b, idCues, 0)
	wr.durAt = int64(len(b)+len(infoHead)) + int64(durInBody)
	b = append(b, infoHead...)
	b = append(b, info...)
	b = element(b, idTracks, func(b []byte) []byte {
		return element(b, idTrackEntry, func(b []byte) []byte {
			b = uintElement(b, idTrackNumber, 1)
			b = uintElement(b, idTrackUID, 1)
			b = uintElement(b, idTrackType, 1) // video
			b = uintElement(b, idFlagLacing, 0)
			b = stringElement(b, idCodecID, "V_VP8")
			return element(b, idVideo, func(b []byte) []byte {
				b = uintElement(b, idPixelWidth, uint64(width))
				return uintElement(b, idPixelHeight, uint64(height))
			})
		})
	})
	if err := wr.write(b); err != nil {
		return nil, err
	}
	return wr, nil
}

// A Seek entry: Seek's ID (2 bytes) and size (1), SeekID (2 + 1 + 4) and
// SeekPosition (2 + 1 + 8, the position at seekValueAt).
const (
	seekEntryLen = 3 + 7 + 11
	seekValueAt  = 3 + 7 + 3
)

func appendSeek(b []byte, id uint32, pos uint64) []byte {
	b = appendID(b, idSeek)
	b = appendSize(b, seekEntryLen-3)
	b = appendID(b, idSeekID)
	b = appendSize(b, 4)
	b = binary.BigEndian.AppendUint32(b, id)
	b = appendID(b, idSeekPosition)
	b = appendSize(b, 8)
	return binary.BigEndian.AppendUint64(b, pos)
}

func (wr *Writer) write(b []byte) error {
	n, err := wr.w.Write(b)
	wr.off += int64(n)
	if err != nil {
		return fmt.Errorf("webm: writing: %w", err)
	}
	return nil
}

// WriteFrame adds one VP8 frame shown at time at (from the recording's
// start; never before the last frame's).
func (wr *Writer) WriteFrame(at time.Duration, key bool, data []byte) error {
	switch {
	case wr.closed:
		return ErrClosed
	case wr.frames == 0 && !key:
		return ErrNoKeyFrame
	case at < wr.last:
		return fmt.Errorf("%w: %v after %v", ErrBackwards, at, wr.last)
	case len(data) == 0:
		return errors.New("webm: empty frame")
	}
	at = at.Truncate(time.Millisecond)
	if wr.cluster == nil || at-wr.clusterT > maxRelative || (key && at-wr.clusterT >= clusterSpan) {
		if err := wr.flushCluster(); err != nil {
			return err
		}
		wr.clusterT, wr.keyStart = at, key
		wr.cluster = uintElement(make([]byte, 0, 64<<10), idTimecode, uint64(at/time.Millisecond))
	}
	rel := int16((at - wr.clusterT) / time.Millisecond)
	flags := byte(0)
	if key {
		flags = 0x80
	}
	wr.cluster = appendID(wr.cluster, idSimpleBlock)
	wr.cluster = appendSize(wr.cluster, uint64(4+len(data)))
	wr.cluster = append(wr.cluster, 0x81) // track 1 as a vint
	wr.cluster = binary.BigEndian.AppendUint16(wr.cluster, uint16(rel))
	wr.cluster = append(wr.cluster, flags)
	wr.cluster = append(wr.cluster, data...)
	wr.last = at
	wr.frames++
	return nil
}

func (wr *Writer) flushCluster() error {
	if wr.cluster == nil {
		return nil
	}
	if wr.keyStart {
		wr.cues = append(wr.cues, cue{t: wr.clusterT, pos: wr.off - wr.segData})
	}
	b := appendID(make([]byte, 0, len(wr.cluster)+12), idCluster)
	b = appendSize(b, uint64(len(wr.cluster)))
	b = append(b, wr.cluster...)
	wr.cluster = nil
	return wr.write(b)
}

// Frames is how many frames were written.
func (wr *Writer) Frames() int { return wr.frames }

// Close writes the last cluster and the Cues and fills in the Duration:
// end (the recording's length), or the last frame's time if later. It does
// not close the underlying file.
func (wr *Writer) Close(end time.Duration) error {
	if wr.closed {
		return ErrClosed
	}
	wr.closed = true
	if err := wr.flushCluster(); err != nil {
		return err
	}
	cuesAt := wr.off - wr.segData
	if len(wr.cues) > 0 {
		b := element(nil, idCues, func(b []byte) []byte {
			for _, c := range wr.cues {
				b = element(b, idCuePoint, func(b []byte) []byte {
					b = uintElement(b, idCueTime, uint64(c.t/time.Millisecond))
					return element(b, idCueTrackPositions, func(b []byte) []byte {
						b = uintElement(b, idCueTrack, 1)
						return uintElement(b, idCueClusterPosition, uint64(c.pos))
					})
				})
			}
			return b
		})
		if err := wr.write(b); err != nil {
			return err
		}
	}
	total := wr.off
	dur := max(end, wr.last)
	for _, p := range []struct {
		at int64
		v  uint64
	}{
		{wr.sizeAt, 0x01<<56 | uint64(total-wr.segData)},
		{wr.durAt, math.Float64bits(float64(dur) / float64(time.Millisecond))},
		{wr.cuesPos, uint64(cuesAt)},
	} {
		if _, err := wr.w.Seek(p.at, io.SeekStart); err != nil {
			return fmt.Errorf("webm: seeking back: %w", err)
		}
		if err := binary.Write(wr.w, binary.BigEndian, p.v); err != nil {
			return fmt.Errorf("webm: filling in the headers: %w", err)
		}
	}
	if _, err := wr.w.Seek(total, io.SeekStart); err != nil {
		return fmt.Errorf("webm: seeking to the end: %w", err)
	}
	return nil
}

// ---- EBML ----

func appendID(b []byte, id uint32) []byte {
	switch {
	case id >= 1<<24:
		return append(b, byte(id>>24), byte(id>>16), byte(id>>8), byte(id))
	case id >= 1<<16:
		return append(b, byte(id>>16), byte(id>>8), byte(id))
	case id >= 1<<8:
		return append(b, byte(id>>8), byte(id))
	}
	return append(b, byte(id))
}

// appendSize appends n as the shortest EBML variable-size integer.
func appendSize(b []byte, n uint64) []byte {
	for l := 1; l <= 8; l++ {
		if n < 1<<(7*l)-1 { // all ones is reserved for "unknown"
			v := n | 1<<(7*l)
			for i := l - 1; i >= 0; i-- {
				b = append(b, byte(v>>(8*i)))
			}
			return b
		}
	}
	panic("webm: size too large")
}

// appendSize8 appends n as an 8-byte size (to be patched later).
func appendSize8(b []byte, n uint64) []byte {
	return binary.BigEndian.AppendUint64(b, 0x01<<56|n)
}

func element(b []byte, id uint32, body func([]byte) []byte) []byte {
	inner := body(nil)
	b = appendID(b, id)
	b = appendSize(b, uint64(len(inner)))
	return append(b, inner...)
}

func uintElement(b []byte, id uint32, v uint64) []byte {
	n := 1
	for v>>(8*n) != 0 && n < 8 {
		n++
	}
	b = appendID(b, id)
	b = appendSize(b, uint64(n))
	for i := n - 1; i >= 0; i-- {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

func stringElement(b []byte, id uint32, s string) []byte {
	return binaryElement(b, id, []byte(s))
}

func binaryElement(b []byte, id uint32, v []byte) []byte {
	b = appendID(b, id)
	b = appendSize(b, uint64(len(v)))
	return append(b, v...)
}
