//go:build !s390x && !ppc64le

package capture

import (
	"fmt"
	"reflect"
	"sync"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"
)

// extTables guards our writes to xgb's process-wide event and error
// constructor tables.
//
// The extension packages' Init (shm.Init, damage.Init, ...) rewrite those
// global maps on every call, while the reader goroutine of every open
// connection reads them whenever an event or error arrives: a data race
// that can end the process ("concurrent map read and map write"). initExt
// does what Init does but writes an entry only when it is missing or
// different (first connection, or a server numbering its extensions
// differently), so reconnecting and opening more sources writes nothing.
// This is the one piece of package-level state, forced by xgb's own.
var extTables sync.Mutex

// initExt makes extension name (as the server calls it: "MIT-SHM",
// "DAMAGE", "XFIXES") usable on c, like the extension package's Init.
func initExt(c *xgb.Conn, name string) error {
	reply, err := xproto.QueryExtension(c, uint16(len(name)), name).Reply()
	switch {
	case err != nil:
		return fmt.Errorf("querying %s: %w", name, err)
	case !reply.Present:
		return fmt.Errorf("the X server has no %s extension", name)
	}
	c.ExtLock.Lock()
	c.Extensions[name] = reply.MajorOpcode
	c.ExtLock.Unlock()

	extTables.Lock()
	defer extTables.Unlock()
	for n, fun := range xgb.NewExtEventFuncs[name] {
		k := int(reply.FirstEvent) + n
		if cur, ok := xgb.NewEventFuncs[k]; !ok || reflect.ValueOf(cur).Pointer() != reflect.ValueOf(fun).Pointer() {
			xgb.NewEventFuncs[k] = fun
		}
	}
	for n, fun := range xgb.NewExtErrorFuncs[name] {
		k := int(reply.FirstError) + n
		if cur, ok := xgb.NewErrorFuncs[k]; !ok || reflect.ValueOf(cur).Pointer() != reflect.ValueOf(fun).Pointer() {
			xgb.NewErrorFuncs[k] = fun
		}
	}
	return nil
}
