//go:build !s390x && !ppc64le

package capture

import (
	"cmp"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/damage"
	"github.com/jezek/xgb/shm"
	"github.com/jezek/xgb/xfixes"
	"github.com/jezek/xgb/xinerama"
	"github.com/jezek/xgb/xproto"
	"golang.org/x/sys/unix"

	"github.com/tetherdesk/tether/shared/protocol"
)

// maxDamageRects bounds the rectangles remembered per monitor between two
// captures; beyond it the whole monitor counts as damaged.
const maxDamageRects = 256

// x11Source captures the X11 root window over one connection: with MIT-SHM
// the server writes each frame into a shared-memory segment (no pixels on
// the socket), else plain GetImage carries them over the socket. XDAMAGE
// tells which parts of the screen changed, when the server has it.
//
// Pixels are converted from the server's 32-bit BGRX into an *image.RGBA
// per monitor that is reused from frame to frame.
type x11Source struct {
	log    *slog.Logger
	method Method // MethodX11SHM or MethodX11; MethodAuto tries SHM first
	closed bool

	conn     *xgb.Conn // nil when broken; the next call reconnects
	root     xproto.Window
	xinerama bool

	// MIT-SHM: seg is attached on the server, mem in this process. The
	// segment is marked for removal as soon as both are attached, so the
	// kernel frees it when we detach or exit, whatever happens.
	useSHM bool
	seg    shm.Seg
	mem    []byte

	// XDAMAGE (report level NonEmpty on the root): an event says "the
	// damage region became non-empty"; Damaged then moves the region into
	// xregion and fetches its rectangles.
	useDamage bool
	damage    damage.Damage
	xregion   xfixes.Region
	// notified: a damage event came since the last fetch. Each connection
	// has a goroutine reading its events (watch), so a change wakes the
	// caller through changed at once instead of at its next poll.
	notified atomic.Bool
	changed  chan struct{}
	wins     *windows // top-level windows, for Moved

	grabbed int // pixels fetched by the last capture (tests)

	mons    []image.Rectangle // root coordinates, from the last query
	pending map[int]*monDamage
	imgs    map[int]*image.RGBA
}

// monDamage is what changed on one monitor since its last capture, in root
// coordinates.
type monDamage struct {
	rects []image.Rectangle
	all   bool
	// Damaged reported rects[:told] (all of the monitor if toldAll) to
	// the caller; what came later must outlive the next capture, since the
	// caller does not know about it.
	asked   bool
	told    int
	toldAll bool
}

// tell reports the pending damage of a w×h monitor to the caller
// (Damaged) and remembers what it told: all of the monitor, or the
// rectangles; any is false when nothing changed.
func (d *monDamage) tell(w, h int) ([]image.Rectangle, bool) {
	d.asked, d.told, d.toldAll = true, len(d.rects), d.all
	if d.all {
		return []image.Rectangle{image.Rect(0, 0, w, h)}, true
	}
	return append([]image.Rectangle(nil), d.rects...), len(d.rects) > 0
}

// afterCapture is what remains pending once the caller captured what it
// was told about.
func (d *monDamage) afterCapture() *monDamage {
	n := &monDamage{}
	if d != nil && d.asked {
		n.rects = append(n.rects, d.rects[d.told:]...)
		n.all = d.all && !d.toldAll
	}
	return n
}

// errNoSHM means MIT-SHM cannot be used with this display.
var errNoSHM = errors.New("MIT-SHM unavailable")

// newX11 connects to the display named by $DISPLAY. MethodX11SHM fails
// without MIT-SHM; MethodAuto then falls back to GetImage.
func newX11(m Method) (*x11Source, error) {
	s := &x11Source{
		log:     slog.Default().With("component", "capture"),
		method:  m,
		pending: map[int]*monDamage{},
		imgs:    map[int]*image.RGBA{},
		changed: make(chan struct{}, 1),
		wins:    newWindows(),
	}
	if err := s.connect(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *x11Source) connect() error {
	c, err := xgb.NewConn()
	if err != nil {
		return fmt.Errorf("capture: connecting to X: %v: %w", err, ErrNoDisplay)
	}
	ok := false
	defer func() {
		if !ok {
			c.Close()
		}
	}()
	setup := xproto.Setup(c)
	scr := setup.DefaultScreen(c)
	if err := checkFormat(setup, scr); err != nil {
		return err
	}
	s.conn, s.root = c, scr.Root
	s.xinerama = initExt(c, "XINERAMA") == nil
	s.useSHM, s.useDamage, s.mem = false, false, nil
	if s.method != MethodX11 {
		if err := s.initSHM(int(scr.WidthInPixels) * int(scr.HeightInPixels) * 4); err != nil {
			if s.method == MethodX11SHM {
				return fmt.Errorf("capture: %w", err)
			}
			s.log.Debug("X11 capture without shared memory", "reason", err)
		}
	}
	if err := s.initDamage(); err != nil {
		s.log.Debug("X11 capture without damage events", "reason", err)
	}
	s.forgetDamage()
	if err := s.wins.watchWindows(c, s.root); err != nil {
		s.log.Debug("X11 capture without window moves", "reason", err)
	}
	go s.watch(c)
	ok = true
	return nil
}

// watch reads c's events until c is closed. It is the only reader of the
// event queue: xgb's queue would otherwise fill up and stall the connection.
// Errors of unchecked requests land there too; the checked requests that
// matter report their own.
func (s *x11Source) watch(c *xgb.Conn) {
	for {
		ev, xerr := c.WaitForEvent()
		if ev == nil && xerr == nil {
			return // closed
		}
		if _, ok := ev.(damage.NotifyEvent); ok {
			s.notified.Store(true)
			select {
			case s.changed <- struct{}{}:
			default:
			}
			continue
		}
		if ev != nil {
			s.wins.event(ev)
		}
	}
}

// Moved implements MoveSource.
func (s *x11Source) Moved(monitor int) []Move {
	if s.ready() != nil || monitor < 0 || monitor >= len(s.mons) {
		return nil
	}
	return s.wins.collect(s.mons[monitor])
}

// Changed implements ChangeNotifier: it receives a value after the screen
// changed (damage events), at most one pending.
func (s *x11Source) Changed() <-chan struct{} {
	if !s.useDamage {
		return nil
	}
	return s.changed
}

// checkFormat accepts the usual 24/32-bit TrueColor root with 32 bits per
// pixel, little-endian, red in bits 16-23: what bgrxToRGBA converts.
func checkFormat(setup *xproto.SetupInfo, scr *xproto.ScreenInfo) error {
	if setup.ImageByteOrder != xproto.ImageOrderLSBFirst {
		return fmt.Errorf("capture: X image byte order is MSB first: %w", ErrUnknownMethod)
	}
	bpp := 0
	for _, f := range setup.PixmapFormats {
		if f.Depth == scr.RootDepth {
			bpp = int(f.BitsPerPixel)
		}
	}
	if bpp != 32 {
		return fmt.Errorf("capture: X root depth %d has %d bits per pixel, want 32: %w", scr.RootDepth, bpp, ErrUnknownMethod)
	}
	for _, d := range scr.AllowedDepths {
		for _, v := range d.Visuals {
			if v.VisualId == scr.RootVisual {
				if v.Class != xproto.VisualClassTrueColor || v.RedMask != 0xff0000 || v.GreenMask != 0xff00 || v.BlueMask != 0xff {
					return fmt.Errorf("capture: X root visual is not 8-bit RGB TrueColor: %w", ErrUnknownMethod)
				}
				return nil
			}
		}
	}
	return fmt.Errorf("capture: X root visual not found: %w", ErrUnknownMethod)
}

// localDisplay reports whether $DISPLAY names a local server (a Unix
// socket), the only kind that can share memory with us.
func localDisplay() bool {
	d := os.Getenv("DISPLAY")
	host, _, _ := strings.Cut(d, ":")
	return host == "" || host == "unix" || strings.HasPrefix(d, "/")
}

// initSHM creates and attaches a segment of size bytes, marks it for
// removal at once and checks that the server really writes into it (a
// server in another IPC namespace could attach some other segment).
func (s *x11Source) initSHM(size int) error {
	if !localDisplay() {
		return fmt.Errorf("%w: display %q is not local", errNoSHM, os.Getenv("DISPLAY"))
	}
	if err := initExt(s.conn, "MIT-SHM"); err != nil {
		return fmt.Errorf("%w: %v", errNoSHM, err)
	}
	if _, err := shm.QueryVersion(s.conn).Reply(); err != nil {
		return fmt.Errorf("%w: %v", errNoSHM, err)
	}
	if err := s.attach(size); err != nil {
		return err
	}
	if err := s.verifySHM(); err != nil {
		s.detach()
		return err
	}
	s.useSHM = true
	return nil
}

func (s *x11Source) attach(size int) error {
	id, err := unix.SysvShmGet(unix.IPC_PRIVATE, size, unix.IPC_CREAT|0o600)
	if err != nil {
		return fmt.Errorf("%w: shmget %d bytes: %v", errNoSHM, size, err)
	}
	// Whatever happens next, the segment goes when the last user detaches.
	defer unix.SysvShmCtl(id, unix.IPC_RMID, nil)
	mem, err := unix.SysvShmAttach(id, 0, 0)
	if err != nil {
		return fmt.Errorf("%w: shmat: %v", errNoSHM, err)
	}
	seg, err := shm.NewSegId(s.conn)
	if err != nil {
		unix.SysvShmDetach(mem)
		return fmt.Errorf("%w: %v", errNoSHM, err)
	}
	if err := shm.AttachChecked(s.conn, seg, uint32(id), false).Check(); err != nil {
		unix.SysvShmDetach(mem)
		return fmt.Errorf("%w: server attach: %v", errNoSHM, err)
	}
	s.seg, s.mem = seg, mem
	return nil
}

func (s *x11Source) detach() {
	if s.mem == nil {
		return
	}
	if s.conn != nil {
		shm.Detach(s.conn, s.seg)
	}
	unix.SysvShmDetach(s.mem)
	s.mem = nil
}

// verifySHM fetches one pixel twice into the segment, over two different
// sentinels; if both survive, the server is not writing to our memory.
func (s *x11Source) verifySHM() error {
	var got [2][4]byte
	for i, sentinel := range [2][4]byte{{0x5a, 0xa5, 0x5a, 0xa5}, {0xa5, 0x5a, 0xa5, 0x5a}} {
		copy(s.mem, sentinel[:])
		if _, err := shm.GetImage(s.conn, xproto.Drawable(s.root), 0, 0, 1, 1, 0xffffffff,
			xproto.ImageFormatZPixmap, s.seg, 0).Reply(); err != nil {
			return fmt.Errorf("%w: GetImage: %v", errNoSHM, err)
		}
		copy(got[i][:], s.mem)
		if got[i] != sentinel {
			return nil
		}
	}
	return fmt.Errorf("%w: the server does not write into the segment", errNoSHM)
}

func (s *x11Source) initDamage() error {
	if err := initExt(s.conn, "XFIXES"); err != nil {
		return err
	}
	if _, err := xfixes.QueryVersion(s.conn, 5, 0).Reply(); err != nil {
		return err
	}
	if err := initExt(s.conn, "DAMAGE"); err != nil {
		return err
	}
	if _, err := damage.QueryVersion(s.conn, 1, 1).Reply(); err != nil {
		return err
	}
	var err error
	if s.xregion, err = xfixes.NewRegionId(s.conn); err != nil {
		return err
	}
	if err := xfixes.CreateRegionChecked(s.conn, s.xregion, nil).Check(); err != nil {
		return err
	}
	if s.damage, err = damage.NewDamageId(s.conn); err != nil {
		return err
	}
	if err := damage.CreateChecked(s.conn, s.damage, xproto.Drawable(s.root), damage.ReportLevelNonEmpty).Check(); err != nil {
		return err
	}
	s.useDamage = true
	return nil
}

// broken drops a connection that failed below the X protocol (the server
// went away); the next call reconnects.
func (s *x11Source) broken(err error) {
	var xerr xgb.Error
	if errors.As(err, &xerr) || s.conn == nil {
		return
	}
	s.detach()
	s.conn.Close()
	s.conn = nil
}

func (s *x11Source) ready() error {
	if s.closed {
		return ErrClosed
	}
	if s.conn == nil {
		return s.connect()
	}
	return nil
}

// monitorRects lists the monitors in root coordinates. Damage remembered
// for monitors is dropped when the layout changes.
func (s *x11Source) monitorRects() ([]image.Rectangle, error) {
	var rs []image.Rectangle
	if s.xinerama {
		r, err := xinerama.QueryScreens(s.conn).Reply()
		if err != nil {
			s.broken(err)
			return nil, fmt.Errorf("capture: xinerama: %w", err)
		}
		for _, si := range r.ScreenInfo {
			rs = append(rs, image.Rect(int(si.XOrg), int(si.YOrg), int(si.XOrg)+int(si.Width), int(si.YOrg)+int(si.Height)))
		}
	}
	if len(rs) == 0 {
		g, err := xproto.GetGeometry(s.conn, xproto.Drawable(s.root)).Reply()
		if err != nil {
			s.broken(err)
			return nil, fmt.Errorf("capture: root geometry: %w", err)
		}
		rs = append(rs, image.Rect(0, 0, int(g.Width), int(g.Height)))
	}
	if !equalRects(rs, s.mons) {
		s.mons = rs
		s.forgetDamage()
	}
	return rs, nil
}

func equalRects(a, b []image.Rectangle) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (s *x11Source) Monitors() ([]protocol.Monitor, error) {
	if err := s.ready(); err != nil {
		return nil, err
	}
	rs, err := s.monitorRects()
	if err != nil {
		return nil, err
	}
	// Same numbering and primary as the portable path: rectangles
	// relative to screen 0, offset by its origin.
	o := rs[0].Min
	rel := make([]image.Rectangle, len(rs))
	for i, r := range rs {
		rel[i] = r.Sub(o)
	}
	return monitorsFromRects(rel, o), nil
}

func (s *x11Source) Capture(monitor int) (*image.RGBA, error) {
	if err := s.ready(); err != nil {
		return nil, err
	}
	rs, err := s.monitorRects()
	if err != nil {
		return nil, err
	}
	if monitor < 0 || monitor >= len(rs) {
		return nil, fmt.Errorf("capture: monitor %d of %d: %w", monitor, len(rs), ErrNoMonitor)
	}
	r := rs[monitor]
	w, h := r.Dx(), r.Dy()
	img := s.imgs[monitor]
	fresh := img == nil || img.Rect.Dx() != w || img.Rect.Dy() != h
	if fresh {
		img = image.NewRGBA(image.Rect(0, 0, w, h))
		s.imgs[monitor] = img
	}
	if s.useSHM && len(s.mem) < w*h*4 {
		// The screen grew (RandR): a bigger segment.
		s.detach()
		if err := s.attach(w * h * 4); err != nil {
			s.useSHM = false
			if s.method == MethodX11SHM {
				s.broken(err)
				return nil, fmt.Errorf("capture: monitor %d: %w", monitor, err)
			}
		}
	}
	parts := []image.Rectangle{img.Rect}
	if !fresh {
		if d, ok := s.partial(monitor, img.Rect); ok {
			parts = d
		}
	}
	if err := s.grab(img, r.Min, parts); err != nil {
		s.broken(err)
		delete(s.imgs, monitor) // may be half updated
		return nil, fmt.Errorf("capture: monitor %d: %w", monitor, err)
	}
	s.pending[monitor] = s.pending[monitor].afterCapture()
	return img, nil
}

// partial returns the parts of a monitor (bounds, in monitor pixels) to
// grab instead of all of it: the damage Damaged reported since the last
// capture, when it is small. Only damage the caller was told about may be
// grabbed alone: what was not fetched yet stays in the server's region and
// is reported (and grabbed) next time.
func (s *x11Source) partial(monitor int, bounds image.Rectangle) ([]image.Rectangle, bool) {
	d := s.pending[monitor]
	if !s.useDamage || d == nil || !d.asked || d.toldAll || monitor >= len(s.mons) {
		return nil, false
	}
	org := s.mons[monitor].Min
	var parts []image.Rectangle
	var bbox image.Rectangle
	area := 0
	for _, r := range d.rects[:d.told] {
		if r = r.Sub(org).Intersect(bounds); !r.Empty() {
			parts = append(parts, r)
			bbox = bbox.Union(r)
			area += r.Dx() * r.Dy()
		}
	}
	if len(parts) > maxGrabRects {
		parts, area = append(parts[:0], bbox), bbox.Dx()*bbox.Dy()
	}
	if area*2 > bounds.Dx()*bounds.Dy() {
		return nil, false // as cheap to take it all
	}
	return parts, true
}

// maxGrabRects bounds the GetImage requests of one partial capture; more
// damage rectangles are grabbed as their bounding box.
const maxGrabRects = 64

// grab fetches parts (monitor pixels; the monitor's top left is org on
// the root) into img. The requests go out together and the replies are
// read in order; with shared memory each part has its own place in the
// segment.
func (s *x11Source) grab(img *image.RGBA, org image.Point, parts []image.Rectangle) error {
	type req struct {
		r      image.Rectangle
		off    int
		shm    shm.GetImageCookie
		socket xproto.GetImageCookie
	}
	reqs := make([]req, 0, len(parts))
	off := 0
	for _, r := range parts {
		x, y, w, h := int16(org.X+r.Min.X), int16(org.Y+r.Min.Y), uint16(r.Dx()), uint16(r.Dy())
		q := req{r: r, off: off}
		if s.useSHM {
			q.shm = shm.GetImage(s.conn, xproto.Drawable(s.root), x, y, w, h, 0xffffffff, xproto.ImageFormatZPixmap, s.seg, uint32(off))
		} else {
			q.socket = xproto.GetImage(s.conn, xproto.ImageFormatZPixmap, xproto.Drawable(s.root), x, y, w, h, 0xffffffff)
		}
		off += r.Dx() * r.Dy() * 4
		reqs = append(reqs, q)
	}
	s.grabbed = off / 4
	var firstErr error
	for _, q := range reqs {
		var data []byte
		var err error
		if s.useSHM {
			_, err = q.shm.Reply()
			data = s.mem[q.off:]
		} else {
			var rep *xproto.GetImageReply
			if rep, err = q.socket.Reply(); err == nil {
				data = rep.Data
			}
		}
		if err != nil || firstErr != nil {
			firstErr = cmp.Or(firstErr, err) // read every reply all the same
			continue
		}
		w, h := q.r.Dx(), q.r.Dy()
		row := w * 4
		if len(data) < row*h {
			firstErr = fmt.Errorf("short image: %d bytes for %dx%d", len(data), w, h)
			continue
		}
		if q.r.Min.X == 0 && w == img.Rect.Dx() {
			bgrxToRGBA(img.Pix[q.r.Min.Y*img.Stride:][:row*h], data) // whole rows: one run
			continue
		}
		for y := 0; y < h; y++ {
			bgrxToRGBA(img.Pix[img.PixOffset(q.r.Min.X, q.r.Min.Y+y):][:row], data[y*row:])
		}
	}
	return firstErr
}

// Damaged implements DamageSource.
func (s *x11Source) Damaged(monitor int) ([]image.Rectangle, bool) {
	if s.ready() != nil {
		return nil, true // Capture will tell what is wrong
	}
	if monitor < 0 || monitor >= len(s.mons) {
		if _, err := s.monitorRects(); err != nil || monitor < 0 || monitor >= len(s.mons) {
			return nil, true
		}
	}
	r := s.mons[monitor]
	whole := []image.Rectangle{image.Rect(0, 0, r.Dx(), r.Dy())}
	if !s.useDamage {
		return whole, true
	}
	s.fetchDamage()
	d := s.pending[monitor]
	if d == nil {
		return whole, true
	}
	d.asked, d.told, d.toldAll = true, len(d.rects), d.all
	if d.all {
		return whole, true
	}
	var out []image.Rectangle
	for _, dr := range d.rects {
		if dr = dr.Intersect(r); !dr.Empty() {
			out = append(out, dr.Sub(r.Min))
		}
	}
	return out, len(out) > 0
}

// fetchDamage drains the event queue and, when damage was reported, moves
// the server's damage region into every monitor's pending damage.
func (s *x11Source) fetchDamage() {
	if !s.notified.Swap(false) {
		return
	}
	damage.Subtract(s.conn, s.damage, 0, s.xregion)
	rep, err := xfixes.FetchRegion(s.conn, s.xregion).Reply()
	if err != nil {
		s.broken(err)
		s.forgetDamage()
		return
	}
	for _, d := range s.pending {
		if d.all {
			continue
		}
		if len(d.rects)+len(rep.Rectangles) > maxDamageRects {
			d.all = true // rects stay: the caller may have been told some
			continue
		}
		for _, xr := range rep.Rectangles {
			d.rects = append(d.rects, image.Rect(int(xr.X), int(xr.Y), int(xr.X)+int(xr.Width), int(xr.Y)+int(xr.Height)))
		}
	}
}

// forgetDamage makes every monitor count as wholly damaged until its next
// capture.
func (s *x11Source) forgetDamage() {
	clear(s.pending)
	s.notified.Store(true) // fetch (and so empty) the server's region next time
}

// Cursor reports where the pointer is on monitor, in monitor pixels; ok is
// false when it is on another monitor or cannot be read.
func (s *x11Source) Cursor(monitor int) (x, y int, ok bool) {
	if s.ready() != nil {
		return 0, 0, false
	}
	if monitor < 0 || monitor >= len(s.mons) {
		if _, err := s.monitorRects(); err != nil || monitor < 0 || monitor >= len(s.mons) {
			return 0, 0, false
		}
	}
	m := s.mons[monitor]
	r, err := xproto.QueryPointer(s.conn, s.root).Reply()
	if err != nil {
		s.broken(err)
		return 0, 0, false
	}
	if !r.SameScreen {
		return 0, 0, false
	}
	p := image.Pt(int(r.RootX), int(r.RootY))
	return p.X - m.Min.X, p.Y - m.Min.Y, p.In(m)
}

// Method reports the capture path in use (for logs and tests).
func (s *x11Source) Method() Method {
	if s.useSHM {
		return MethodX11SHM
	}
	return MethodX11
}

func (s *x11Source) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	if s.conn != nil {
		s.detach()
		s.conn.Close()
		s.conn = nil
	}
	s.imgs = nil
	return nil
}
