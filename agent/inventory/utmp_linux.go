package inventory

import (
	"bytes"
	"encoding/binary"
	"slices"
	"unicode"
	"unicode/utf8"
)

// glibc's struct utmp on Linux. The layout is the same on 32- and 64-bit
// targets (64-bit ones keep 32-bit time fields for compatibility); fields
// are in native byte order.
const (
	utmpRecordSize  = 384
	utmpTypeOffset  = 0  // int16 ut_type
	utmpUserOffset  = 44 // char ut_user[32]
	utmpUserSize    = 32
	utmpUserProcess = 7 // USER_PROCESS: a logged-in session
)

// parseUtmp returns the deduplicated, sorted user names of the
// USER_PROCESS records in utmp data. It never panics on malformed input: a
// trailing partial record is ignored, and names that are empty, not UTF-8 or
// hold control characters are skipped rather than passed to the console.
func parseUtmp(data []byte) []string {
	var users []string
	for len(data) >= utmpRecordSize {
		rec := data[:utmpRecordSize]
		data = data[utmpRecordSize:]
		if int16(binary.NativeEndian.Uint16(rec[utmpTypeOffset:])) != utmpUserProcess {
			continue
		}
		name := rec[utmpUserOffset : utmpUserOffset+utmpUserSize]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		if validUserName(name) {
			users = append(users, string(name))
		}
	}
	slices.Sort(users)
	return slices.Compact(users)
}

func validUserName(b []byte) bool {
	if len(b) == 0 || !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return false
		}
	}
	return true
}
