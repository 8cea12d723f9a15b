//go:build linux || windows

package tray

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"fyne.io/systray"
)

// stopWait bounds how long Stop waits for the tray's loop to end.
const stopWait = 3 * time.Second

// SystrayHost is the system tray through fyne.io/systray: on Linux a
// StatusNotifierItem on the session D-Bus (no cgo), on Windows a
// notification-area icon. The menu has a fixed place for every Slot;
// Show fills, hides and enables them. fyne.io/systray keeps one tray per
// process, so there is at most one SystrayHost that starts.
type SystrayHost struct {
	log *slog.Logger

	mu       sync.Mutex
	click    func(string)
	items    map[string]*systray.MenuItem // slot → item, once ready
	shown    map[string]Entry             // slot → what its item shows
	hidden   map[string]bool
	last     *View // the latest view, applied once ready
	icon     Icon
	tooltip  string
	ready    bool
	stop     chan struct{} // ends the click forwarders
	stopOnce sync.Once
	done     chan struct{} // closed when systray.Run returned
	wg       sync.WaitGroup
}

// NewSystrayHost returns the system tray host.
func NewSystrayHost(log *slog.Logger) Host {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &SystrayHost{log: log.With("component", "tray"), stop: make(chan struct{}), done: make(chan struct{}), icon: -1}
}

// Available implements Host.
func (h *SystrayHost) Available(ctx context.Context) error { return hostAvailable(ctx) }

// Start implements Host.
func (h *SystrayHost) Start(click func(string)) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.click != nil {
		return fmt.Errorf("tray icon already started")
	}
	h.click = click
	systray.SetTitle("Tether")
	go func() {
		// Windows runs the tray's message loop on the thread that made
		// its window; Linux does not care.
		runtime.LockOSThread()
		defer close(h.done)
		defer func() {
			// fyne.io/systray's Linux end closes a D-Bus connection that
			// is nil when the bus went away under it.
			if r := recover(); r != nil {
				h.log.Warn("the tray icon's loop failed", "panic", r)
			}
		}()
		systray.Run(h.onReady, nil)
	}()
	return nil
}

// onReady builds the menu, one item per slot, and forwards clicks.
func (h *SystrayHost) onReady() {
	items := map[string]*systray.MenuItem{}
	for _, s := range Slots() {
		parent := items[s.Parent]
		if s.SeparatorBefore {
			if parent != nil {
				parent.AddSeparator()
			} else {
				systray.AddSeparator()
			}
		}
		var mi *systray.MenuItem
		if parent != nil {
			mi = parent.AddSubMenuItem(s.ID, "")
		} else {
			mi = systray.AddMenuItem(s.ID, "")
		}
		mi.Hide()
		items[s.ID] = mi
		h.wg.Add(1)
		go func(id string) {
			defer h.wg.Done()
			for {
				select {
				case <-mi.ClickedCh:
					h.clicked(id)
				case <-h.stop:
					return
				}
			}
		}(s.ID)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.items, h.ready = items, true
	h.shown, h.hidden = map[string]Entry{}, map[string]bool{}
	for id := range items {
		h.hidden[id] = true
	}
	// The latest view, under the same lock as becoming ready: a view shown
	// between the two would otherwise be overwritten by an older one.
	if h.last != nil {
		h.applyLocked(*h.last)
	}
}

func (h *SystrayHost) clicked(slot string) {
	h.mu.Lock()
	e, shown := h.shown[slot]
	visible := shown && !h.hidden[slot]
	click := h.click
	h.mu.Unlock()
	if visible && e.Action != "" {
		click(e.Action)
	}
}

// Show implements Host. Only what changed is sent to the tray.
func (h *SystrayHost) Show(v View) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.last = &v
	if h.ready {
		h.applyLocked(v)
	}
}

// applyLocked sends v to the tray; h.mu is held and the menu is ready.
func (h *SystrayHost) applyLocked(v View) {
	if v.Icon != h.icon {
		systray.SetIcon(iconData(v.Icon))
		h.icon = v.Icon
	}
	if v.Tooltip != h.tooltip {
		systray.SetTooltip(v.Tooltip)
		h.tooltip = v.Tooltip
	}
	want := map[string]Entry{}
	for _, e := range v.Entries {
		want[e.ID] = e
	}
	for _, s := range Slots() {
		mi := h.items[s.ID]
		e, ok := want[s.ID]
		if !ok {
			if !h.hidden[s.ID] {
				mi.Hide()
				h.hidden[s.ID] = true
			}
			continue
		}
		old, had := h.shown[s.ID]
		if !had || old.Label != e.Label {
			mi.SetTitle(e.Label)
		}
		if !had || old.Enabled != e.Enabled {
			if e.Enabled {
				mi.Enable()
			} else {
				mi.Disable()
			}
		}
		h.shown[s.ID] = e
		if h.hidden[s.ID] {
			mi.Show()
			h.hidden[s.ID] = false
		}
	}
}

// Stop implements Host.
func (h *SystrayHost) Stop() {
	h.mu.Lock()
	started := h.click != nil
	h.mu.Unlock()
	if !started {
		return
	}
	h.stopOnce.Do(func() {
		systray.Quit()
		close(h.stop)
	})
	h.wg.Wait()
	select {
	case <-h.done:
	case <-time.After(stopWait):
		h.log.Warn("the tray icon's loop did not end")
	}
}
