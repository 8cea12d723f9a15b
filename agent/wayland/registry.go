//go:build linux

package wayland

import "fmt"

// Global is an interface the compositor offers.
type Global struct {
	Name    uint32
	Iface   string
	Version uint32
}

// Registry is the compositor's list of globals, as of the last roundtrip.
type Registry struct {
	obj     *Object
	Globals []Global
}

// GetRegistry asks for the globals and waits for the list.
func (c *Conn) GetRegistry() (*Registry, error) {
	r := &Registry{}
	r.obj = c.NewObject("wl_registry", 1, func(op uint16, m *Msg) {
		switch op {
		case 0: // global
			g := Global{Name: m.Uint(), Iface: m.String(), Version: m.Uint()}
			if m.Err == nil {
				r.Globals = append(r.Globals, g)
			}
		case 1: // global_remove
			name := m.Uint()
			for i, g := range r.Globals {
				if g.Name == name {
					r.Globals = append(r.Globals[:i], r.Globals[i+1:]...)
					break
				}
			}
		}
	})
	if err := c.Display().Send(displayGetRegistry, NewID(r.obj)); err != nil {
		return nil, err
	}
	if err := c.Roundtrip(); err != nil {
		return nil, err
	}
	return r, nil
}

// Find returns the globals offering iface, in the order announced.
func (r *Registry) Find(iface string) []Global {
	var out []Global
	for _, g := range r.Globals {
		if g.Iface == iface {
			out = append(out, g)
		}
	}
	return out
}

// Bind binds g at the lower of its version and max; min is the oldest
// version the caller can use.
func (r *Registry) Bind(g Global, min, max uint32, h Handler) (*Object, error) {
	v := min32(g.Version, max)
	if v < min {
		return nil, fmt.Errorf("wayland: the compositor offers %s version %d; version %d is needed", g.Iface, g.Version, min)
	}
	o := r.obj.conn.NewObject(g.Iface, v, h)
	if err := r.obj.Send(0, Uint(g.Name), String(g.Iface), Uint(v), NewID(o)); err != nil {
		return nil, err
	}
	return o, nil
}

// BindFirst binds the first global offering iface.
func (r *Registry) BindFirst(iface string, min, max uint32, h Handler) (*Object, error) {
	gs := r.Find(iface)
	if len(gs) == 0 {
		return nil, fmt.Errorf("wayland: the compositor does not offer %s", iface)
	}
	return r.Bind(gs[0], min, max, h)
}

func min32(a, b uint32) uint32 {
	if a < b {
		return a
	}
	return b
}
