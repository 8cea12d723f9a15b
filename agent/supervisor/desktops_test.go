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
	for _, bad := range []string{`{`, `{"desktops":[{"key":"a"}]}`, `{"desktops":[{"key":"a","display":":1"},{"key":"a","display":":2"}]}`} {
		if _, err := parseDesktopsFile([]byte(bad)); err == nil {
			t.Errorf("parseDesktopsFile(%s) accepted", bad)
		}
	}
}
