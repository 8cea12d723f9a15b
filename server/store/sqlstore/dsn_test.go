package sqlstore

import "testing"

func TestWithConnectTimeout(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u@db:5432/tether?sslmode=disable": "postgres://u@db:5432/tether?connect_timeout=5&sslmode=disable",
		"postgres://u@db/tether?connect_timeout=30":   "postgres://u@db/tether?connect_timeout=30",
		"host=db dbname=tether":                       "host=db dbname=tether connect_timeout=5",
		"host=db connect_timeout=2":                   "host=db connect_timeout=2",
		"postgresql://u:p%40ss@db/tether":             "postgresql://u:p%40ss@db/tether?connect_timeout=5",
	} {
		if got := withConnectTimeout(in); got != want {
			t.Errorf("withConnectTimeout(%q) = %q, want %q", in, got, want)
		}
	}
}
