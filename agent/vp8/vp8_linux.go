//go:build linux && cgo

package vp8

/*
#cgo LDFLAGS: -ldl -lpthread
#cgo CFLAGS: -O3
#include <stdlib.h>
#include "vp8_linux.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"image"
	"sync"
	"time"
	"unsafe"
)

const errLen = 256

func cerr(buf []byte) error {
	n := 0
	for n < len(buf) && buf[n] != 0 {
		n++
	}
	return fmt.Errorf("%s", buf[:n])
}

var available = sync.OnceValue(func() error {
	buf := make([]byte, errLen)
	if C.tvp8_load((*C.char)(unsafe.Pointer(&buf[0])), errLen) != 0 {
		return fmt.Errorf("%w: %w", ErrUnavailable, cerr(buf))
	}
	// A library of another ABI than our headers' loads, and refuses to
	// start an encoder: find out now, not when a viewer waits for video.
	c := C.tvp8_enc_new(16, 16, 1, 100, 1, DefaultSpeed, (*C.char)(unsafe.Pointer(&buf[0])), errLen)
	if c == nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, cerr(buf))
	}
	C.tvp8_enc_free(c)
	return nil
})

// Available reports whether VP8 can be encoded here, and if not, why.
func Available() error { return available() }

// Encoder encodes successive pictures of one size. It is not safe for
// concurrent use.
type Encoder struct {
	c    *C.tvp8_enc
	w, h int
	cfg  Config
	err  []byte
	// loaded: Load has converted a picture.
	loaded bool
}

// NewEncoder returns an encoder of w x h pictures.
func NewEncoder(w, h int, cfg Config) (*Encoder, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	if err := checkSize(w, h); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	e := &Encoder{w: w, h: h, cfg: cfg, err: make([]byte, errLen)}
	e.c = C.tvp8_enc_new(C.int(w), C.int(h), C.int(cfg.scale()), C.int(cfg.Bitrate), C.int(cfg.Threads), C.int(cfg.Speed), e.errp(), errLen)
	if e.c == nil {
		return nil, cerr(e.err)
	}
	return e, nil
}

func (e *Encoder) errp() *C.char { return (*C.char)(unsafe.Pointer(&e.err[0])) }

// Size is the size of the pictures e takes.
func (e *Encoder) Size() (w, h int) { return e.w, e.h }

// Bitrate is the target in kbit/s.
func (e *Encoder) Bitrate() int { return e.cfg.Bitrate }

// SetBitrate changes the target (clamped by ClampBitrate) from the next
// picture on.
func (e *Encoder) SetBitrate(kbps int) error {
	kbps = ClampBitrate(kbps)
	if kbps == e.cfg.Bitrate {
		return nil
	}
	if C.tvp8_enc_bitrate(e.c, C.int(kbps), e.errp(), errLen) != 0 {
		return cerr(e.err)
	}
	e.cfg.Bitrate = kbps
	return nil
}

// Encode encodes the part r of img (r's size must be the encoder's) shown
// at time at. key asks for a key frame. A Frame with no Data means the
// encoder skipped the picture (it keeps to its bitrate).
func (e *Encoder) Encode(img *image.RGBA, r image.Rectangle, at time.Duration, key bool) (Frame, error) {
	if err := e.Load(img, r); err != nil {
		return Frame{}, err
	}
	return e.EncodeLoaded(at, key)
}

// Load converts the part r of img into the encoder's own picture, to be
// encoded by EncodeLoaded: the caller may then reuse img while another
// goroutine encodes (a recording must not hold up the live stream).
func (e *Encoder) Load(img *image.RGBA, r image.Rectangle) error {
	if r.Dx() != e.w || r.Dy() != e.h {
		return fmt.Errorf("vp8: a %dx%d part for an encoder of %dx%d", r.Dx(), r.Dy(), e.w, e.h)
	}
	s, err := sub(img, r)
	if err != nil {
		return err
	}
	C.tvp8_enc_load(e.c, (*C.uint8_t)(unsafe.Pointer(&s.Pix[0])), C.int(s.Stride))
	e.loaded = true
	return nil
}

// Blocks is the size of the encoded picture in 16x16 macroblocks: the
// grid LoadBlocks takes.
func (e *Encoder) Blocks() (cols, rows int) {
	var c, r C.int
	C.tvp8_enc_blocks(e.c, &c, &r)
	return int(c), int(r)
}

// LoadBlocks is Load for a picture that changed only in the macroblocks
// marked in changed (cols*rows, row-major, see Blocks): it converts those,
// and the next EncodeLoaded codes only those, unless it makes a key frame.
// The rest of img must be as the picture loaded before. The first picture
// is converted whole. It returns how many macroblocks it converted.
func (e *Encoder) LoadBlocks(img *image.RGBA, r image.Rectangle, changed []bool) (int, error) {
	cols, rows := e.Blocks()
	if len(changed) != cols*rows {
		return 0, fmt.Errorf("vp8: a map of %d macroblocks for a picture of %dx%d", len(changed), cols, rows)
	}
	if !e.loaded {
		return cols * rows, e.Load(img, r)
	}
	if r.Dx() != e.w || r.Dy() != e.h {
		return 0, fmt.Errorf("vp8: a %dx%d part for an encoder of %dx%d", r.Dx(), r.Dy(), e.w, e.h)
	}
	s, err := sub(img, r)
	if err != nil {
		return 0, err
	}
	// A Go bool is one byte, 0 or 1: the map goes to C as it is.
	n := C.tvp8_enc_load_blocks(e.c, (*C.uint8_t)(unsafe.Pointer(&s.Pix[0])), C.int(s.Stride), (*C.uint8_t)(unsafe.Pointer(&changed[0])))
	return int(n), nil
}

// EncodeLoaded encodes the picture Load converted last, as Encode does.
func (e *Encoder) EncodeLoaded(at time.Duration, key bool) (Frame, error) {
	if !e.loaded {
		return Frame{}, errors.New("vp8: no picture loaded")
	}
	var out *C.uint8_t
	var isKey C.int
	force := C.int(0)
	if key {
		force = 1
	}
	n := C.tvp8_enc_frame(e.c, nil, 0, C.int64_t(at.Milliseconds()), force, &out, &isKey, e.errp(), errLen)
	if n < 0 {
		return Frame{}, cerr(e.err)
	}
	if n == 0 {
		return Frame{}, nil
	}
	return Frame{Data: C.GoBytes(unsafe.Pointer(out), n), Key: isKey != 0}, nil
}

// CPU is the processor time e spent converting and encoding, in all.
func (e *Encoder) CPU() time.Duration { return time.Duration(C.tvp8_enc_cpu_ns(e.c)) }

// Close frees the encoder.
func (e *Encoder) Close() {
	if e.c != nil {
		C.tvp8_enc_free(e.c)
		e.c = nil
	}
}

// Decoder decodes a VP8 stream (tests and checks; viewers decode in the
// browser). It is not safe for concurrent use.
type Decoder struct {
	c   *C.tvp8_dec
	err []byte
}

// NewDecoder returns a decoder.
func NewDecoder() (*Decoder, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	d := &Decoder{err: make([]byte, errLen)}
	d.c = C.tvp8_dec_new((*C.char)(unsafe.Pointer(&d.err[0])), errLen)
	if d.c == nil {
		return nil, cerr(d.err)
	}
	return d, nil
}

// Decode decodes one frame and returns its picture (nil if it shows none).
func (d *Decoder) Decode(frame []byte) (*image.YCbCr, error) {
	if len(frame) == 0 {
		return nil, fmt.Errorf("vp8: empty frame")
	}
	var w, h, ys, cs C.int
	var y, u, v *C.uint8_t
	if C.tvp8_dec_frame(d.c, (*C.uint8_t)(unsafe.Pointer(&frame[0])), C.int(len(frame)), &w, &h, &y, &u, &v, &ys, &cs, (*C.char)(unsafe.Pointer(&d.err[0])), errLen) != 0 {
		return nil, cerr(d.err)
	}
	if w == 0 {
		return nil, nil
	}
	img := image.NewYCbCr(image.Rect(0, 0, int(w), int(h)), image.YCbCrSubsampleRatio420)
	cw, ch := (int(w)+1)/2, (int(h)+1)/2
	for row := 0; row < int(h); row++ {
		copy(img.Y[row*img.YStride:][:w], unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(y), row*int(ys))), int(w)))
	}
	for row := 0; row < ch; row++ {
		copy(img.Cb[row*img.CStride:][:cw], unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(u), row*int(cs))), cw))
		copy(img.Cr[row*img.CStride:][:cw], unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(v), row*int(cs))), cw))
	}
	return img, nil
}

// Close frees the decoder.
func (d *Decoder) Close() {
	if d.c != nil {
		C.tvp8_dec_free(d.c)
		d.c = nil
	}
}
