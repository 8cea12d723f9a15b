//go:build linux

package wayland

import "fmt"

// Output is a monitor as the compositor describes it: its mode in buffer
// pixels and its place in the layout in logical (scaled) coordinates.
type Output struct {
	Obj        *Object
	Name       string
	W, H       int   // current mode, pixels
	X, Y       int32 // logical position
	LW, LH     int32 // logical size (0 when the compositor has no xdg-output)
	Scale      int32
	Transform  int32
	gotLogical bool
}

// Outputs binds every wl_output (and its xdg-output, for the logical
// layout) and waits for their descriptions.
func Outputs(r *Registry) ([]*Output, error) {
	var outs []*Output
	for _, g := range r.Find("wl_output") {
		o := &Output{Scale: 1}
		obj, err := r.Bind(g, 2, 4, func(op uint16, m *Msg) {
			switch op {
			case 0: // geometry
				x, y := m.Int(), m.Int()
				m.Int()
				m.Int()
				m.Int()
				_ = m.String()
				_ = m.String()
				o.Transform = m.Int()
				if !o.gotLogical {
					o.X, o.Y = x, y
				}
			case 1: // mode
				flags, w, h := m.Uint(), m.Int(), m.Int()
				if flags&1 != 0 { // current
					o.W, o.H = int(w), int(h)
				}
			case 3: // scale
				o.Scale = m.Int()
			case 4: // name
				o.Name = m.String()
			}
		})
		if err != nil {
			return nil, err
		}
		o.Obj = obj
		outs = append(outs, o)
	}
	if len(outs) == 0 {
		return nil, fmt.Errorf("wayland: the compositor has no outputs")
	}
	if gs := r.Find("zxdg_output_manager_v1"); len(gs) > 0 {
		mgr, err := r.Bind(gs[0], 1, 3, nil)
		if err != nil {
			return nil, err
		}
		for _, o := range outs {
			o := o
			xo := r.obj.conn.NewObject("zxdg_output_v1", mgr.Version, func(op uint16, m *Msg) {
				switch op {
				case 0: // logical_position
					o.X, o.Y, o.gotLogical = m.Int(), m.Int(), true
				case 1: // logical_size
					o.LW, o.LH = m.Int(), m.Int()
				case 3: // name
					if o.Name == "" {
						o.Name = m.String()
					}
				}
			})
			if err := mgr.Send(1, NewID(xo), Obj(o.Obj)); err != nil { // get_xdg_output
				return nil, err
			}
		}
	}
	if err := r.obj.conn.Roundtrip(); err != nil {
		return nil, err
	}
	for _, o := range outs {
		if o.W <= 0 || o.H <= 0 {
			return nil, fmt.Errorf("wayland: output %q has no current mode", o.Name)
		}
		if o.LW == 0 || o.LH == 0 {
			s := o.Scale
			if s < 1 {
				s = 1
			}
			o.LW, o.LH = int32(o.W)/s, int32(o.H)/s
		}
	}
	return outs, nil
}
