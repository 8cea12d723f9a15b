//go:build !linux || !cgo

package vp8

import (
	"image"
	"time"
)

// Available reports why VP8 cannot be encoded here.
func Available() error { return ErrUnavailable }

// Encoder is unavailable on this system.
type Encoder struct{}

// NewEncoder returns ErrUnavailable.
func NewEncoder(w, h int, cfg Config) (*Encoder, error) { return nil, ErrUnavailable }

func (e *Encoder) Size() (w, h int)                        { return 0, 0 }
func (e *Encoder) Bitrate() int                            { return 0 }
func (e *Encoder) SetBitrate(int) error                    { return ErrUnavailable }
func (e *Encoder) Close()                                  {}
func (e *Encoder) Load(*image.RGBA, image.Rectangle) error { return ErrUnavailable }
func (e *Encoder) Blocks() (cols, rows int)                { return 0, 0 }
func (e *Encoder) CPU() time.Duration                      { return 0 }
func (e *Encoder) LoadBlocks(*image.RGBA, image.Rectangle, []bool) (int, error) {
	return 0, ErrUnavailable
}
func (e *Encoder) EncodeLoaded(time.Duration, bool) (Frame, error) {
	return Frame{}, ErrUnavailable
}
func (e *Encoder) Encode(*image.RGBA, image.Rectangle, time.Duration, bool) (Frame, error) {
	return Frame{}, ErrUnavailable
}

// Decoder is unavailable on this system.
type Decoder struct{}

// NewDecoder returns ErrUnavailable.
func NewDecoder() (*Decoder, error) { return nil, ErrUnavailable }

func (d *Decoder) Decode([]byte) (*image.YCbCr, error) { return nil, ErrUnavailable }
func (d *Decoder) Close()                              {}
