package session

import (
	"errors"
	"image"
	"io"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/tetherdesk/tether/agent/vp8"
)

// The video track. Parts of the screen that move like video (the encoder
// finds them: agent/encode's video regions) go to each viewer on a VP8
// track instead of as JPEG tiles; the viewer draws them over its picture.
// A viewer without a track (the WebSocket relay) keeps the whole picture
// on tiles: the encoder is told video is not allowed while one watches.

// EnvVideo=off keeps the helper's moving pictures on the tile path (for
// comparisons and troubleshooting); the service passes it on.
const EnvVideo = "TETHER_VIDEO"

// VideoEncoder is implemented by a FrameEncoder that finds video regions
// (*agent/encode.Encoder).
type VideoEncoder interface {
	SetVideo(on bool)
	Video() (r image.Rectangle, changed bool)
	VideoDue() bool
}

// videoAPI returns the pion API with VP8 registered and what a sender of
// video needs (retransmission on NACK, sender reports), or an error when
// this agent cannot encode VP8.
func videoAPI(se webrtc.SettingEngine) (*webrtc.API, error) {
	if err := vp8.Available(); err != nil {
		return nil, err
	}
	m := &webrtc.MediaEngine{}
	err := m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeVP8, ClockRate: 90000,
			RTCPFeedback: []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}},
		},
		PayloadType: 96,
	}, webrtc.RTPCodecTypeVideo)
	if err != nil {
		return nil, err
	}
	// Playout delay 0: Chrome then shows each frame as soon as it is
	// decoded, without the render smoothing meant for film.
	if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: playoutDelayURI}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, err
	}
	reg := &interceptor.Registry{}
	reg.Add(playoutDelayFactory{})
	// 256 packets (about 300 KB) kept per track for retransmission: a
	// quarter of pion's default, enough for a LAN's or a VPN's round trip.
	if err := webrtc.ConfigureNackWithOptions(m, reg, nil, nack.ResponderSize(256)); err != nil {
		return nil, err
	}
	if err := webrtc.ConfigureRTCPReports(reg); err != nil {
		return nil, err
	}
	return webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg)), nil
}

const playoutDelayURI = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay"

// playoutDelayFactory makes the interceptor that puts a playout delay of
// zero (min and max) on every outgoing video packet, where the viewer
// agreed to the extension.
type playoutDelayFactory struct{}

func (playoutDelayFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &playoutDelay{}, nil
}

type playoutDelay struct{ interceptor.NoOp }

func (*playoutDelay) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	id := 0
	for _, e := range info.RTPHeaderExtensions {
		if e.URI == playoutDelayURI {
			id = e.ID
		}
	}
	ext, err := rtp.PlayoutDelayExtension{}.Marshal()
	if id == 0 || err != nil {
		return w
	}
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if err := h.SetExtension(uint8(id), ext); err != nil {
			return 0, err
		}
		return w.Write(h, payload, a)
	})
}

// videoOut is one viewer's video track and what its receiver reports.
type videoOut struct {
	track *webrtc.TrackLocalStaticSample
	mu    sync.Mutex
	key   bool      // the viewer asked for a key frame (PLI, FIR)
	lost  float64   // fraction of packets lost, from its last receiver report
	rrAt  time.Time // when that report came
	last  time.Time // when the last sample was written
}

// addVideo adds a send-only VP8 track to pc and reads its RTCP.
func addVideo(pc *webrtc.PeerConnection, log func(string, ...any)) (*videoOut, error) {
	track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "screen")
	if err != nil {
		return nil, err
	}
	tr, err := pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		return nil, err
	}
	out := &videoOut{track: track}
	go out.readRTCP(tr.Sender(), log)
	return out, nil
}

func (o *videoOut) readRTCP(sender *webrtc.RTPSender, log func(string, ...any)) {
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrClosedPipe) {
				log("video: reading RTCP", "error", err)
			}
			return
		}
		o.mu.Lock()
		for _, p := range pkts {
			switch p := p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				o.key = true
			case *rtcp.ReceiverReport:
				for _, r := range p.Reports {
					o.lost, o.rrAt = float64(r.FractionLost)/256, time.Now()
				}
			}
		}
		o.mu.Unlock()
	}
}

// takeKey reports (and forgets) whether the viewer asked for a key frame.
func (o *videoOut) takeKey() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	k := o.key
	o.key = false
	return k
}

// write sends one frame.
func (o *videoOut) write(f vp8.Frame, now time.Time) error {
	o.mu.Lock()
	d := now.Sub(o.last)
	if o.last.IsZero() || d <= 0 || d > time.Second {
		d = 33 * time.Millisecond
	}
	o.last = now
	o.mu.Unlock()
	return o.track.WriteSample(media.Sample{Data: f.Data, Duration: d})
}

// loss returns the viewer's last reported loss, if recent.
func (o *videoOut) loss(now time.Time) (float64, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.lost, !o.rrAt.IsZero() && now.Sub(o.rrAt) < 3*time.Second
}

// videoStream is one monitor's VP8 encoder, made when a video region
// starts and freed when it ends.
type videoStream struct {
	enc     *vp8.Encoder
	started time.Time
	adapted time.Time // the last bitrate change
	ceiling int       // kbit/s: the most worth spending on this region
}

// Bitrate bounds: 0.15 bit per encoded pixel at 30 frames/s, between
// minVideoKbps and maxVideoKbps.
const (
	maxVideoKbps = 8000
	minVideoKbps = 800
	// halfVideoArea: a region larger than this (in pixels) is encoded at
	// half its width and height. A full-HD movie then costs a quarter of
	// the encoding (and decoding), and keeps its frame rate on two cores.
	halfVideoArea = 1280 * 720
)

func videoConfig(r image.Rectangle) vp8.Config {
	half := r.Dx()*r.Dy() > halfVideoArea
	px := r.Dx() * r.Dy()
	if half {
		px /= 4
	}
	cfg := vp8.Config{Half: half, Bitrate: max(minVideoKbps, min(maxVideoKbps, px*30*15/100/1000))}
	if half {
		// libvpx's fastest: 6 ms a frame for a full-HD movie at half
		// size against 11 at speed 12 (BenchmarkEncode1080p).
		cfg.Speed = 16
	}
	return cfg
}

// sendVideo encodes the video region of img for the group's viewers when
// it changed or one of them needs a key frame (a new viewer: full). It
// returns the stream to keep for the monitor (nil once the region ended).
func (s *Session) sendVideo(vs *videoStream, enc FrameEncoder, img *image.RGBA, g *group, now time.Time) *videoStream {
	ve, ok := enc.(VideoEncoder)
	if !ok {
		return nil
	}
	r, changed := ve.Video()
	if r.Empty() {
		if vs != nil {
			vs.enc.Close()
		}
		return nil
	}
	key := g.full
	for _, v := range g.viewers {
		if v.video != nil && v.video.takeKey() {
			key = true
		}
	}
	if vs != nil {
		if w, h := vs.enc.Size(); w != r.Dx() || h != r.Dy() {
			vs.enc.Close()
			vs = nil
		}
	}
	if vs == nil {
		cfg := videoConfig(r)
		ceiling := cfg.Bitrate
		e, err := vp8.NewEncoder(r.Dx(), r.Dy(), cfg)
		if err != nil {
			// The region ends at the next frame: its tiles come back.
			s.log.Warn("video: no encoder; the screen stays on tiles", "error", err)
			s.noVideo.Store(true)
			return nil
		}
		s.log.Debug("video region", "rect", r.String(), "kbps", ceiling, "half", cfg.Half)
		vs = &videoStream{enc: e, started: now, adapted: now, ceiling: ceiling}
		key = true
	}
	if !changed && !key {
		return vs
	}
	s.adaptVideo(vs, g, now)
	f, err := vs.enc.Encode(img, r.Add(img.Rect.Min), now.Sub(vs.started), key)
	if err != nil {
		s.log.Warn("video: encoding", "error", err)
		return vs
	}
	if len(f.Data) == 0 {
		return vs
	}
	for _, v := range g.viewers {
		if v.video == nil {
			continue
		}
		if err := v.video.write(f, now); err != nil && !errors.Is(err, io.ErrClosedPipe) {
			s.log.Debug("video: sending", "viewer_id", v.id, "error", err)
		}
	}
	return vs
}

// adaptVideo steers the bitrate by the worst loss the viewers report, as
// loss-based congestion control does: back off in proportion to a loss
// over 10 %, creep up by 5 % a second while under 2 %.
func (s *Session) adaptVideo(vs *videoStream, g *group, now time.Time) {
	if now.Sub(vs.adapted) < time.Second {
		return
	}
	worst, known := 0.0, false
	for _, v := range g.viewers {
		if v.video == nil {
			continue
		}
		if l, ok := v.video.loss(now); ok {
			worst, known = max(worst, l), true
		}
	}
	if !known {
		return
	}
	vs.adapted = now
	rate := vs.enc.Bitrate()
	switch {
	case worst > 0.10:
		rate = int(float64(rate) * (1 - worst/2))
	case worst < 0.02:
		rate = min(vs.ceiling, rate*105/100)
	}
	if rate != vs.enc.Bitrate() {
		if err := vs.enc.SetBitrate(rate); err != nil {
			s.log.Warn("video: setting the bitrate", "error", err)
		}
	}
}

// videoAllowed reports whether every viewer of the group has a video
// track (a relayed one does not).
func (s *Session) videoAllowed(g *group) bool {
	if s.noVideo.Load() {
		return false
	}
	for _, v := range g.viewers {
		if v.video == nil {
			return false
		}
	}
	return len(g.viewers) > 0
}
