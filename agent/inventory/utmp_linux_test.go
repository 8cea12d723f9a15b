package inventory

import (
	"encoding/binary"
	"slices"
	"testing"
)

// utmpRecord builds one glibc utmp record the way the C library lays it out.
func utmpRecord(typ int16, user, line string) []byte {
	rec := make([]byte, utmpRecordSize)
	binary.NativeEndian.PutUint16(rec[utmpTypeOffset:], uint16(typ))
	binary.NativeEndian.PutUint32(rec[4:], 4242) // ut_pid
	copy(rec[8:40], line)                        // ut_line
	copy(rec[utmpUserOffset:utmpUserOffset+utmpUserSize], user)
	copy(rec[76:], "host.example") // ut_host
	return rec
}

const (
	utmpBootTime     = 2
	utmpInitProcess  = 5
	utmpLoginProcess = 6
	utmpDeadProcess  = 8
)

func TestParseUtmp(t *testing.T) {
	long := "a-user-name-that-fills-32-bytes!" // no NUL terminator, as glibc allows
	var fixture []byte
	for _, r := range []struct {
		typ        int16
		user, line string
	}{
		{utmpBootTime, "reboot", "~"},
		{utmpInitProcess, "", "tty1"},
		{utmpLoginProcess, "LOGIN", "tty2"},
		{utmpUserProcess, "bob", "pts/0"},
		{utmpUserProcess, "alice", "tty1"},
		{utmpUserProcess, "bob", "pts/1"},   // second session: listed once
		{utmpDeadProcess, "carol", "pts/2"}, // logged out
		{utmpUserProcess, "", "pts/3"},
		{utmpUserProcess, "bad\x01name", "pts/4"},
		{utmpUserProcess, "sp ace", "pts/5"},
		{utmpUserProcess, "\xff\xfe", "pts/6"},
		{utmpUserProcess, long, "pts/7"},
	} {
		fixture = append(fixture, utmpRecord(r.typ, r.user, r.line)...)
	}
	tests := []struct {
		name string
		data []byte
		want []string
	}{
		{"fixture", fixture, []string{long, "alice", "bob"}},
		{"trailing partial record ignored", append(fixture, utmpRecord(utmpUserProcess, "dave", "pts/9")[:100]...), []string{long, "alice", "bob"}},
		{"empty", nil, nil},
		{"shorter than a record", make([]byte, utmpRecordSize-1), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseUtmp(tt.data); !slices.Equal(got, tt.want) {
				t.Errorf("parseUtmp = %q, want %q", got, tt.want)
			}
		})
	}
}

func FuzzParseUtmp(f *testing.F) {
	f.Add([]byte{})
	f.Add(utmpRecord(utmpUserProcess, "alice", "tty1"))
	f.Add(append(utmpRecord(utmpUserProcess, "bob", "pts/0"), utmpRecord(utmpDeadProcess, "x", "pts/1")[:200]...))
	f.Add(utmpRecord(utmpUserProcess, "\xff\x00\x7f", ""))
	f.Fuzz(func(t *testing.T, data []byte) {
		users := parseUtmp(data)
		if len(users) > len(data)/utmpRecordSize {
			t.Fatalf("%d users from %d records", len(users), len(data)/utmpRecordSize)
		}
		if !slices.IsSorted(users) {
			t.Fatalf("not sorted: %q", users)
		}
		for i, u := range users {
			if !validUserName([]byte(u)) || len(u) > utmpUserSize {
				t.Fatalf("invalid user %q", u)
			}
			if i > 0 && users[i-1] == u {
				t.Fatalf("duplicate user %q", u)
			}
		}
	})
}
