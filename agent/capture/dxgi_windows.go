//go:build windows

package capture

// Windows fast path: DXGI desktop duplication (Windows 8 and later). The
// graphics driver keeps a copy of each monitor's desktop and tells which
// rectangles changed (dirty rects) and which moved (move rects) since the
// last frame; we copy the picture into a CPU-readable texture and convert
// only the changed parts. COM is called through its vtables (no cgo).
//
// This file is compiled for Windows in CI (go vet) but cannot run on the
// Linux machines the tests run on; every failure falls back to the
// portable path, per monitor and per frame.

import (
	"errors"
	"fmt"
	"image"
	"log/slog"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/tetherdesk/tether/shared/protocol"
)

var (
	modD3D11              = windows.NewLazySystemDLL("d3d11.dll")
	procD3D11CreateDevice = modD3D11.NewProc("D3D11CreateDevice")

	iidIDXGIDevice     = windows.GUID{Data1: 0x54ec77fa, Data2: 0x1377, Data3: 0x44e6, Data4: [8]byte{0x8c, 0x32, 0x88, 0xfd, 0x5f, 0x44, 0xc8, 0x4c}}
	iidIDXGIOutput1    = windows.GUID{Data1: 0x00cddea8, Data2: 0x939b, Data3: 0x4b83, Data4: [8]byte{0xa3, 0x40, 0xa6, 0x85, 0x22, 0x66, 0x66, 0xcc}}
	iidID3D11Texture2D = windows.GUID{Data1: 0x6f15aaf2, Data2: 0xd208, Data3: 0x4e89, Data4: [8]byte{0x9a, 0xb4, 0x48, 0x95, 0x35, 0xd3, 0x4f, 0x9c}}
)

// vtable slots used (declaration order of the interfaces in the SDK
// headers; IUnknown takes 0-2).
const (
	slotQueryInterface = 0
	slotRelease        = 2

	slotDXGIDeviceGetAdapter   = 7  // IDXGIDevice
	slotAdapterEnumOutputs     = 7  // IDXGIAdapter
	slotOutputGetDesc          = 7  // IDXGIOutput
	slotOutput1DuplicateOutput = 22 // IDXGIOutput1

	slotDuplGetDesc          = 7 // IDXGIOutputDuplication
	slotDuplAcquireNextFrame = 8
	slotDuplGetDirtyRects    = 9
	slotDuplGetMoveRects     = 10
	slotDuplReleaseFrame     = 14

	slotDeviceCreateTexture2D = 5 // ID3D11Device
	slotContextMap            = 14
	slotContextUnmap          = 15
	slotContextCopyResource   = 47 // ID3D11DeviceContext
)

const (
	dxgiErrorWaitTimeout = 0x887A0027
	dxgiErrorAccessLost  = 0x887A0026
	dxgiErrorNotFound    = 0x887A0002

	d3dDriverTypeHardware = 1
	d3d11SDKVersion       = 7
	dxgiFormatB8G8R8A8    = 87
	d3d11UsageStaging     = 3
	d3d11CPUAccessRead    = 0x20000
	d3d11MapRead          = 1
)

// comIface is what a COM interface pointer points at: its vtable.
type comIface struct{ vtbl *[64]uintptr }

// comObject is a COM interface pointer.
type comObject = *comIface

func (o *comIface) ptr() uintptr { return uintptr(unsafe.Pointer(o)) }

func (o *comIface) call(slot int, args ...uintptr) uintptr {
	r, _, _ := syscall.SyscallN(o.vtbl[slot], append([]uintptr{o.ptr()}, args...)...)
	return r
}

func (o *comIface) release() {
	if o != nil {
		o.call(slotRelease)
	}
}

func (o *comIface) query(iid *windows.GUID) (comObject, error) {
	var out comObject
	if hr := o.call(slotQueryInterface, uintptr(unsafe.Pointer(iid)), uintptr(unsafe.Pointer(&out))); failed(hr) {
		return nil, hresult("QueryInterface", hr)
	}
	return out, nil
}

func failed(hr uintptr) bool { return int32(hr) < 0 }

func hresult(what string, hr uintptr) error {
	return fmt.Errorf("capture: %s: HRESULT 0x%08X", what, uint32(hr))
}

type rect32 struct{ Left, Top, Right, Bottom int32 }

func (r rect32) image() image.Rectangle {
	return image.Rect(int(r.Left), int(r.Top), int(r.Right), int(r.Bottom))
}

// dxgiOutputDesc is DXGI_OUTPUT_DESC.
type dxgiOutputDesc struct {
	DeviceName         [32]uint16
	DesktopCoordinates rect32
	AttachedToDesktop  int32
	Rotation           uint32
	Monitor            uintptr
}

// dxgiOutduplDesc is DXGI_OUTDUPL_DESC.
type dxgiOutduplDesc struct {
	Width, Height              uint32
	RefreshNum, RefreshDen     uint32
	Format, Scanline, Scaling  uint32
	Rotation                   uint32
	DesktopImageInSystemMemory int32
}

// dxgiFrameInfo is DXGI_OUTDUPL_FRAME_INFO.
type dxgiFrameInfo struct {
	LastPresentTime         int64
	LastMouseUpdateTime     int64
	AccumulatedFrames       uint32
	RectsCoalesced          int32
	ProtectedContentMasked  int32
	PointerX, PointerY      int32
	PointerVisible          int32
	TotalMetadataBufferSize uint32
	PointerShapeBufferSize  uint32
}

// dxgiMoveRect is DXGI_OUTDUPL_MOVE_RECT.
type dxgiMoveRect struct {
	SourceX, SourceY int32
	Destination      rect32
}

// d3d11Texture2DDesc is D3D11_TEXTURE2D_DESC.
type d3d11Texture2DDesc struct {
	Width, Height, MipLevels, ArraySize uint32
	Format                              uint32
	SampleCount, SampleQuality          uint32
	Usage, BindFlags, CPUAccessFlags    uint32
	MiscFlags                           uint32
}

// d3d11Mapped is D3D11_MAPPED_SUBRESOURCE.
type d3d11Mapped struct {
	Data       unsafe.Pointer
	RowPitch   uint32
	DepthPitch uint32
}

// duplication is one monitor's desktop duplication.
type duplication struct {
	dupl    comObject
	staging comObject
	w, h    int
	img     *image.RGBA
	fresh   bool              // img holds no frame yet
	asked   bool              // Damaged took the frame Capture returns
	dirty   []image.Rectangle // changed since the last Capture, monitor pixels
	all     bool              // all of it changed (first frame, lost rects)
	moves   []Move
	rects   []rect32
	mrects  []dxgiMoveRect
}

// dxgiSource captures with desktop duplication, monitor by monitor, in the
// portable path's monitor order; a monitor it cannot duplicate is captured
// by the portable path.
type dxgiSource struct {
	log     *slog.Logger
	port    *portable
	device  comObject
	context comObject
	adapter comObject
	dupls   map[int]*duplication
	closed  bool
}

func newDXGI() (*dxgiSource, error) {
	port, err := newPortable()
	if err != nil {
		return nil, err
	}
	if err := procD3D11CreateDevice.Find(); err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	s := &dxgiSource{log: slog.Default().With("component", "capture"), port: port, dupls: map[int]*duplication{}}
	hr, _, _ := procD3D11CreateDevice.Call(0, d3dDriverTypeHardware, 0, 0, 0, 0, d3d11SDKVersion,
		uintptr(unsafe.Pointer(&s.device)), 0, uintptr(unsafe.Pointer(&s.context)))
	if failed(hr) {
		return nil, hresult("D3D11CreateDevice", hr)
	}
	dxgiDevice, err := s.device.query(&iidIDXGIDevice)
	if err != nil {
		s.Close()
		return nil, err
	}
	defer dxgiDevice.release()
	if hr := dxgiDevice.call(slotDXGIDeviceGetAdapter, uintptr(unsafe.Pointer(&s.adapter))); failed(hr) {
		s.Close()
		return nil, hresult("IDXGIDevice::GetAdapter", hr)
	}
	// Prove it works on the primary before choosing this path.
	if _, err := s.duplication(0); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// duplication returns (making it if needed) monitor's duplication.
func (s *dxgiSource) duplication(monitor int) (*duplication, error) {
	if d := s.dupls[monitor]; d != nil {
		return d, nil
	}
	rs, err := s.port.bounds()
	if err != nil {
		return nil, err
	}
	if monitor < 0 || monitor >= len(rs) {
		return nil, fmt.Errorf("capture: monitor %d of %d: %w", monitor, len(rs), ErrNoMonitor)
	}
	o, err := s.port.origin()
	if err != nil {
		return nil, err
	}
	want := rs[monitor].Add(o)
	for i := 0; ; i++ {
		var out comObject
		hr := s.adapter.call(slotAdapterEnumOutputs, uintptr(i), uintptr(unsafe.Pointer(&out)))
		if uint32(hr) == dxgiErrorNotFound {
			return nil, fmt.Errorf("capture: no DXGI output at %v", want)
		}
		if failed(hr) {
			return nil, hresult("IDXGIAdapter::EnumOutputs", hr)
		}
		var desc dxgiOutputDesc
		out.call(slotOutputGetDesc, uintptr(unsafe.Pointer(&desc)))
		if desc.DesktopCoordinates.image() != want || desc.Rotation > 1 {
			out.release()
			continue
		}
		d, err := s.duplicate(out)
		out.release()
		if err != nil {
			return nil, err
		}
		s.dupls[monitor] = d
		return d, nil
	}
}

func (s *dxgiSource) duplicate(out comObject) (*duplication, error) {
	out1, err := out.query(&iidIDXGIOutput1)
	if err != nil {
		return nil, err
	}
	defer out1.release()
	d := &duplication{fresh: true, all: true}
	if hr := out1.call(slotOutput1DuplicateOutput, s.device.ptr(), uintptr(unsafe.Pointer(&d.dupl))); failed(hr) {
		return nil, hresult("IDXGIOutput1::DuplicateOutput", hr)
	}
	var desc dxgiOutduplDesc
	d.dupl.call(slotDuplGetDesc, uintptr(unsafe.Pointer(&desc)))
	d.w, d.h = int(desc.Width), int(desc.Height)
	td := d3d11Texture2DDesc{Width: desc.Width, Height: desc.Height, MipLevels: 1, ArraySize: 1, Format: dxgiFormatB8G8R8A8,
		SampleCount: 1, Usage: d3d11UsageStaging, CPUAccessFlags: d3d11CPUAccessRead}
	if hr := s.device.call(slotDeviceCreateTexture2D, uintptr(unsafe.Pointer(&td)), 0, uintptr(unsafe.Pointer(&d.staging))); failed(hr) {
		d.dupl.release()
		return nil, hresult("ID3D11Device::CreateTexture2D", hr)
	}
	d.img = image.NewRGBA(image.Rect(0, 0, d.w, d.h))
	return d, nil
}

func (d *duplication) release() {
	d.staging.release()
	d.dupl.release()
}

// maxDirtyRects bounds the rectangles kept between two captures; beyond
// it the whole monitor counts as changed.
const maxDirtyRects = 256

// errNoFrame: nothing changed since the last frame.
var errNoFrame = errors.New("no new frame")

// acquire takes the next frame if there is one within timeout ms, adds
// its dirty and move rectangles and converts the changed parts into img.
func (s *dxgiSource) acquire(monitor int, d *duplication, timeout uint32) error {
	var info dxgiFrameInfo
	var res comObject
	hr := d.dupl.call(slotDuplAcquireNextFrame, uintptr(timeout), uintptr(unsafe.Pointer(&info)), uintptr(unsafe.Pointer(&res)))
	switch uint32(hr) {
	case dxgiErrorWaitTimeout:
		return errNoFrame
	case dxgiErrorAccessLost:
		// A mode change or the secure desktop: start over.
		d.release()
		delete(s.dupls, monitor)
		return hresult("AcquireNextFrame (access lost)", hr)
	}
	if failed(hr) {
		return hresult("AcquireNextFrame", hr)
	}
	defer d.dupl.call(slotDuplReleaseFrame)
	defer res.release()
	if info.LastPresentTime == 0 && !d.fresh {
		return errNoFrame // only the pointer moved
	}
	changed := d.frameRects(info)
	tex, err := res.query(&iidID3D11Texture2D)
	if err != nil {
		return err
	}
	defer tex.release()
	s.context.call(slotContextCopyResource, d.staging.ptr(), tex.ptr())
	var m d3d11Mapped
	if hr := s.context.call(slotContextMap, d.staging.ptr(), 0, d3d11MapRead, 0, uintptr(unsafe.Pointer(&m))); failed(hr) {
		return hresult("ID3D11DeviceContext::Map", hr)
	}
	defer s.context.call(slotContextUnmap, d.staging.ptr(), 0)
	pitch := int(m.RowPitch)
	src := unsafe.Slice((*byte)(m.Data), pitch*d.h)
	bounds := d.img.Rect
	if d.fresh || changed == nil {
		changed = []image.Rectangle{bounds}
	}
	for _, r := range changed {
		r = r.Intersect(bounds)
		for y := r.Min.Y; y < r.Max.Y; y++ {
			bgrxToRGBA(d.img.Pix[d.img.PixOffset(r.Min.X, y):][:r.Dx()*4], src[y*pitch+r.Min.X*4:])
		}
	}
	d.fresh = false
	return nil
}

// frameRects reads the frame's move and dirty rectangles into d (nil
// changed: they could not be read, take all of it).
func (d *duplication) frameRects(info dxgiFrameInfo) []image.Rectangle {
	n := info.TotalMetadataBufferSize
	if n == 0 {
		return []image.Rectangle{}
	}
	var need uint32
	if k := int(n)/int(unsafe.Sizeof(dxgiMoveRect{})) + 1; len(d.mrects) < k {
		d.mrects = make([]dxgiMoveRect, k)
	}
	var changed []image.Rectangle
	size := uint32(len(d.mrects)) * uint32(unsafe.Sizeof(dxgiMoveRect{}))
	if hr := d.dupl.call(slotDuplGetMoveRects, uintptr(size), uintptr(unsafe.Pointer(&d.mrects[0])), uintptr(unsafe.Pointer(&need))); failed(hr) {
		d.all = true
		return nil
	}
	for _, mr := range d.mrects[:need/uint32(unsafe.Sizeof(dxgiMoveRect{}))] {
		to := mr.Destination.image()
		d.moves = append(d.moves, Move{From: image.Rectangle{Min: image.Pt(int(mr.SourceX), int(mr.SourceY)), Max: image.Pt(int(mr.SourceX), int(mr.SourceY)).Add(to.Size())}, To: to.Min})
		d.dirty = append(d.dirty, to)
		changed = append(changed, to)
	}
	if k := int(n)/int(unsafe.Sizeof(rect32{})) + 1; len(d.rects) < k {
		d.rects = make([]rect32, k)
	}
	size = uint32(len(d.rects)) * uint32(unsafe.Sizeof(rect32{}))
	if hr := d.dupl.call(slotDuplGetDirtyRects, uintptr(size), uintptr(unsafe.Pointer(&d.rects[0])), uintptr(unsafe.Pointer(&need))); failed(hr) {
		d.all = true
		return nil
	}
	for _, r := range d.rects[:need/uint32(unsafe.Sizeof(rect32{}))] {
		d.dirty = append(d.dirty, r.image())
		changed = append(changed, r.image())
	}
	if len(d.dirty) > maxDirtyRects {
		d.all, d.dirty = true, d.dirty[:0]
	}
	return changed
}

func (s *dxgiSource) Monitors() ([]protocol.Monitor, error) {
	if s.closed {
		return nil, ErrClosed
	}
	return s.port.Monitors()
}

// Damaged implements DamageSource: it takes the frame the driver has
// ready, if any, so the rectangles are the ones Capture will return.
func (s *dxgiSource) Damaged(monitor int) ([]image.Rectangle, bool) {
	if s.closed {
		return nil, true
	}
	d, err := s.duplication(monitor)
	if err != nil {
		return nil, true // Capture takes the portable path
	}
	if err := s.acquire(monitor, d, 0); err != nil && !errors.Is(err, errNoFrame) {
		return nil, true
	}
	d.asked = true
	if d.all || d.fresh {
		return []image.Rectangle{d.img.Rect}, true
	}
	return d.dirty, len(d.dirty) > 0
}

// Moved implements MoveSource with the driver's move rectangles.
func (s *dxgiSource) Moved(monitor int) []Move {
	d := s.dupls[monitor]
	if d == nil {
		return nil
	}
	m := d.moves
	d.moves = nil
	return m
}

func (s *dxgiSource) Capture(monitor int) (*image.RGBA, error) {
	if s.closed {
		return nil, ErrClosed
	}
	d, err := s.duplication(monitor)
	switch {
	case err != nil:
	case d.fresh:
		// The first frame after DuplicateOutput comes at once.
		err = s.acquire(monitor, d, 500)
	case !d.asked:
		err = s.acquire(monitor, d, 0)
	}
	if err != nil && !errors.Is(err, errNoFrame) {
		s.log.Debug("desktop duplication failed, capturing the portable way", "monitor", monitor, "error", err)
		return s.port.Capture(monitor)
	}
	d.dirty, d.all, d.asked = d.dirty[:0], false, false
	return d.img, nil
}

// Method reports the capture path.
func (s *dxgiSource) Method() Method { return MethodDXGI }

func (s *dxgiSource) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	for _, d := range s.dupls {
		d.release()
	}
	s.dupls = nil
	s.adapter.release()
	s.context.release()
	s.device.release()
	return s.port.Close()
}
