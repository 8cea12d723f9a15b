package supervisor

import "testing"

func TestParseDesktopsFile(t *testing.T) {
	ds, err := parseDesktopsFile([]byte(`{"active":"b","desktops":[{"key":"a","display":":91"},{"key":"b","display":":92","xauthority":"/tmp/xa"}]}`))
	if err != nil || len(ds) != 2 {
		t.Fatalf("parseDesktopsFile = %+v, %v", ds, err)
	}
	if ds[0].Active || !ds[1].Active || ds[1].UID != -1 || envValue(ds[1].Env, "XAUTHORITY") != "/tmp/xa" || envValue(ds[0].Env, "DISPLAY") != ":91" {
		t.Errorf("desktops %+v", ds)
	}
	ds, err = parseDesktopsFile([]byte(`{"active":"b","desktops":[{"key":"g","display":":90","greeter":true},{"key":"b","display":":92","uid":64001,"user":"alice"},{"key":"c","display":":93","uid":64002,"gid":100}]}`))
	if err != nil || len(ds) != 3 {
		t.Fatalf("parseDesktopsFile with users = %+v, %v", ds, err)
	}
	if g := ds[0]; !g.Greeter || g.UID != -1 || g.GID != -1 {
		t.Errorf("login screen %+v", g)
	}
	if b := ds[1]; b.Greeter || b.UID != 64001 || b.GID != 64001 || b.User != "alice" || !b.Active {
		t.Errorf("alice's desktop %+v", b)
	}
	if c := ds[2]; c.UID != 64002 || c.GID != 100 {
		t.Errorf("third desktop %+v", c)
	}
	if userOf(ds[1]).sameUser(userOf(ds[2])) || !userOf(ds[1]).sameUser(userOf(ds[1])) || userOf(ds[0]).sameUser(userOf(ds[0])) {
		t.Error("desktops file users compare wrongly")
	}
	for _, bad := range []string{`{`, `{"desktops":[{"key":"a"}]}`, `{"desktops":[{"key":"a","display":":1"},{"key":"a","display":":2"}]}`,
		`{"desktops":[{"key":"a","display":":1","uid":-5}]}`, `{"desktops":[{"key":"a","display":":1","gid":5}]}`} {
		if _, err := parseDesktopsFile([]byte(bad)); err == nil {
			t.Errorf("parseDesktopsFile(%s) accepted", bad)
		}
	}
}
