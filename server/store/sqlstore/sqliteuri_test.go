package sqlstore

import "testing"

func TestSQLiteURI(t *testing.T) {
	tests := []struct{ path, want string }{
		{"/var/lib/tether/tether.db", "file:///var/lib/tether/tether.db"},
		{"/tmp/odd ?#%name.db", "file:///tmp/odd%20%3F%23%25name.db"},
		// filepath.ToSlash only rewrites backslashes on Windows; a
		// drive-letter path still gets the third slash SQLite expects.
		{"C:/ProgramData/Tether/tether.db", "file:///C:/ProgramData/Tether/tether.db"},
	}
	for _, tc := range tests {
		if got := sqliteURI(tc.path); got != tc.want {
			t.Errorf("sqliteURI(%q) = %q, want %q", tc.path, got, tc.want)
		}
	}
}
