//go:build windows

package supervisor

import (
	"slices"
	"testing"
)

func TestMergeEnv(t *testing.T) {
	base := []string{"=C:=C:\\", "Path=C:\\Windows", "USERPROFILE=C:\\Users\\alice", "TEMP=C:\\Users\\alice\\Temp"}
	got := mergeEnv(base, []string{"PATH=C:\\x", "TETHER_CAPTURE=gdi"})
	want := []string{"=C:=C:\\", "PATH=C:\\x", "USERPROFILE=C:\\Users\\alice", "TEMP=C:\\Users\\alice\\Temp", "TETHER_CAPTURE=gdi"}
	if !slices.Equal(got, want) {
		t.Errorf("mergeEnv = %q\nwant %q", got, want)
	}
}

func TestHelperOverlay(t *testing.T) {
	cmdEnv := helperEnv([]string{"TETHER_TOKEN=secret", "TETHER_CAPTURE=gdi", "PATH=C:\\svc"}, Desktop{})
	got := helperOverlay(cmdEnv, Desktop{Env: []string{"A=b"}})
	if want := []string{"TETHER_CAPTURE=gdi", "A=b"}; !slices.Equal(got, want) {
		t.Errorf("helperOverlay = %q, want %q", got, want)
	}
}

func TestEnvBlock(t *testing.T) {
	b, err := envBlock([]string{"A=1", "B=2"})
	if err != nil {
		t.Fatal(err)
	}
	want := []uint16{'A', '=', '1', 0, 'B', '=', '2', 0, 0}
	if !slices.Equal(b, want) {
		t.Errorf("envBlock = %v, want %v", b, want)
	}
	if b, _ := envBlock(nil); !slices.Equal(b, []uint16{0, 0}) {
		t.Errorf("empty envBlock = %v", b)
	}
	if _, err := envBlock([]string{"A=\x00"}); err == nil {
		t.Error("NUL in an entry accepted")
	}
}
