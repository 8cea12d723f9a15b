package filexfer

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxSavedName bounds a saved file's name in bytes, leaving room for
// " (999)" within every common file system's 255.
const maxSavedName = 200

// SafeName turns a name a sender chose into a plain file name for the
// Downloads folder: no directory part (either kind of separator), no
// control characters, none of the characters Windows forbids, no leading
// dots (nothing hidden, no "." or ".."), no Windows device names, valid
// UTF-8, at most maxSavedName bytes with its extension kept. Nothing it
// returns can name another directory. "../../etc/passwd" is "passwd".
func SafeName(name string) string {
	name = strings.ToValidUTF8(name, "_")
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		switch {
		case r < 0x20 || r == 0x7f || unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r):
			return -1
		case strings.ContainsRune(`<>:"|?*`, r):
			return '_'
		}
		return r
	}, name)
	name = trimName(name)
	if name == "" {
		return "file"
	}
	stem, ext := splitExt(name)
	if isDeviceName(stem) {
		stem = "_" + stem
	}
	if len(ext) > 32 {
		stem, ext = stem+ext, ""
	}
	if len(stem)+len(ext) > maxSavedName {
		stem = strings.TrimRightFunc(truncateUTF8(stem, maxSavedName-len(ext)), unicode.IsSpace)
	}
	if name = trimName(stem + ext); name == "" {
		return "file"
	}
	return name
}

// trimName drops leading dots (nothing hidden, no "." or "..") and
// spaces, and trailing dots and spaces (Windows drops them, and "name."
// would then collide with "name").
func trimName(s string) string {
	dotOrSpace := func(r rune) bool { return r == '.' || unicode.IsSpace(r) }
	return strings.TrimRightFunc(strings.TrimLeftFunc(s, dotOrSpace), dotOrSpace)
}

// splitExt splits off the extension, keeping the usual double ones
// (.tar.gz) together.
func splitExt(name string) (stem, ext string) {
	lower := strings.ToLower(name)
	for _, d := range []string{".tar.gz", ".tar.bz2", ".tar.xz", ".tar.zst"} {
		if strings.HasSuffix(lower, d) && len(name) > len(d) {
			return name[:len(name)-len(d)], name[len(name)-len(d):]
		}
	}
	ext = filepath.Ext(name)
	if ext == name || strings.ContainsAny(ext, " ") {
		return name, ""
	}
	return name[:len(name)-len(ext)], ext
}

func isDeviceName(stem string) bool {
	s := strings.ToUpper(strings.TrimSpace(stem))
	switch s {
	case "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$":
		return true
	}
	if len(s) == 4 && (strings.HasPrefix(s, "COM") || strings.HasPrefix(s, "LPT")) && s[3] >= '0' && s[3] <= '9' {
		return true
	}
	return false
}

func truncateUTF8(s string, n int) string {
	if n <= 0 {
		return ""
	}
	for len(s) > n {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

// saveUnique moves the finished file src into dir under name, or "stem
// (1).ext", "stem (2).ext", ... when that exists: it never replaces a
// file. It returns the path used. The link is atomic and fails if the
// name exists; where links are not possible it copies into a file created
// exclusively.
func saveUnique(src, dir, name string) (string, error) {
	stem, ext := splitExt(name)
	for i := 0; i < 1000; i++ {
		cand := name
		if i > 0 {
			cand = fmt.Sprintf("%s (%d)%s", stem, i, ext)
		}
		dst := filepath.Join(dir, cand)
		err := os.Link(src, dst)
		if err == nil {
			return dst, os.Remove(src)
		}
		if errors.Is(err, os.ErrExist) {
			continue
		}
		// No hard links here (some file systems): copy instead.
		ok, err := copyExclusive(src, dst)
		if err != nil {
			return "", err
		}
		if ok {
			return dst, os.Remove(src)
		}
	}
	return "", fmt.Errorf("no free name for %q in %s", name, dir)
}

// copyExclusive copies src to a new file dst; false if dst exists.
func copyExclusive(src, dst string) (bool, error) {
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, os.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("creating %s: %w", dst, err)
	}
	in, err := os.Open(src)
	if err != nil {
		out.Close()
		os.Remove(dst)
		return false, fmt.Errorf("opening the received file: %w", err)
	}
	defer in.Close()
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(dst)
		return false, fmt.Errorf("copying to %s: %w", dst, err)
	}
	if err := out.Close(); err != nil {
		os.Remove(dst)
		return false, fmt.Errorf("writing %s: %w", dst, err)
	}
	return true, nil
}
