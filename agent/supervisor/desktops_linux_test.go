package supervisor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestScanProc(t *testing.T) {
	root := t.TempDir()
	proc, x11 := filepath.Join(root, "proc"), filepath.Join(root, "x11")
	os.MkdirAll(x11, 0o755)
	os.WriteFile(filepath.Join(x11, "X1"), nil, 0o644)
	os.WriteFile(filepath.Join(x11, "X3"), nil, 0o644)
	owners := map[string]int{}
	add := func(pid string, uid int, env ...string) {
		dir := filepath.Join(proc, pid)
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "environ"), []byte(strings.Join(env, "\x00")+"\x00"), 0o644)
		owners[dir] = uid
	}
	add("10", 0, "DISPLAY=:1")                                                      // root: ignored
	add("11", 1000, "DISPLAY=:1", "USER=ann")                                       // no XAUTHORITY
	add("12", 1000, "DISPLAY=:1", "XAUTHORITY=/run/user/1000/xauth", "USER=ann")    // preferred
	add("13", 1001, "DISPLAY=:3.0", "XAUTHORITY=/home/bob/.Xauthority", "USER=bob") // second desktop
	add("14", 1002, "DISPLAY=:7", "USER=carl")                                      // no socket: ignored
	add("15", 1003, "DISPLAY=remote:1", "USER=dan")                                 // remote: ignored
	add("self", 1000, "DISPLAY=:1")                                                 // not a pid
	owner := func(p string) (int, int, bool) { u, ok := owners[p]; return u, u, ok }
	ds, err := scanProc(proc, x11, owner)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 2 {
		t.Fatalf("got %d desktops: %+v", len(ds), ds)
	}
	if ds[0].Key != "x11:1000::1" || !ds[0].Active || ds[0].UID != 1000 || envValue(ds[0].Env, "XAUTHORITY") != "/run/user/1000/xauth" {
		t.Errorf("first desktop %+v", ds[0])
	}
	if ds[1].Key != "x11:1001::3.0" || ds[1].Active || envValue(ds[1].Env, "USER") != "bob" {
		t.Errorf("second desktop %+v", ds[1])
	}
}
