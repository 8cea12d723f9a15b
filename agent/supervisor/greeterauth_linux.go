package supervisor

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
)

// X authority files (libXau): entries of a big-endian family and four
// length-prefixed fields (address, display number, auth name, data).
const (
	xauthFamilyWild = 0xffff // matches any address
	xauthCookieName = "MIT-MAGIC-COOKIE-1"
	maxServerAuth   = 64 << 10
)

// xauthEntry is one entry of an X authority file.
type xauthEntry struct {
	family          uint16
	address, number string
	name            string
	data            []byte
}

// parseXauth reads the entries of an X authority file.
func parseXauth(b []byte) ([]xauthEntry, error) {
	r := bytes.NewReader(b)
	field := func() ([]byte, error) {
		var n uint16
		if err := binary.Read(r, binary.BigEndian, &n); err != nil {
			return nil, err
		}
		f := make([]byte, n)
		_, err := io.ReadFull(r, f)
		return f, err
	}
	var out []xauthEntry
	for r.Len() > 0 {
		var e xauthEntry
		if err := binary.Read(r, binary.BigEndian, &e.family); err != nil {
			return nil, fmt.Errorf("X authority entry %d: %w", len(out)+1, err)
		}
		var fs [4][]byte
		for i := range fs {
			f, err := field()
			if err != nil {
				return nil, fmt.Errorf("X authority entry %d: %w", len(out)+1, io.ErrUnexpectedEOF)
			}
			fs[i] = f
		}
		e.address, e.number, e.name, e.data = string(fs[0]), string(fs[1]), string(fs[2]), fs[3]
		out = append(out, e)
	}
	return out, nil
}

// appendXauth encodes e.
func appendXauth(b []byte, e xauthEntry) []byte {
	b = binary.BigEndian.AppendUint16(b, e.family)
	for _, f := range [][]byte{[]byte(e.address), []byte(e.number), []byte(e.name), e.data} {
		b = binary.BigEndian.AppendUint16(b, uint16(len(f)))
		b = append(b, f...)
	}
	return b
}

// cookieFile is the X authority file a helper of display gets from the
// X server's own file: each distinct MIT-MAGIC-COOKIE-1 of it, for any
// address of that display (the server's file may name its entries in
// ways a client's lookup does not match, or name none at all).
func cookieFile(serverAuth []byte, display int) ([]byte, error) {
	es, err := parseXauth(serverAuth)
	if err != nil {
		return nil, err
	}
	var out []byte
	seen := map[string]bool{}
	for _, e := range es {
		if e.name != xauthCookieName || len(e.data) == 0 || seen[string(e.data)] {
			continue
		}
		seen[string(e.data)] = true
		out = appendXauth(out, xauthEntry{family: xauthFamilyWild, number: strconv.Itoa(display), name: xauthCookieName, data: e.data})
	}
	if out == nil {
		return nil, errors.New("no " + xauthCookieName + " in the X server's authority file")
	}
	return out, nil
}

// prepareHelper gives the helper of a login screen that runs as the
// display manager's user (Desktop.ServerAuth set) a copy of the X server's
// cookie in a file of its own: mode 0600, owned by that user, in a
// directory only that user can read (inside a root-owned one it may only
// pass through), removed with both directories once the helper exited.
// The helper never sees the server's own file, nor anyone else the copy.
func prepareHelper(d Desktop) (env []string, cleanup func(), err error) {
	nothing := func() {}
	if d.ServerAuth == "" {
		return nil, nothing, nil
	}
	n, ok := localDisplay(envValue(d.Env, "DISPLAY"))
	if !ok {
		return nil, nothing, fmt.Errorf("desktop %s has no local display", d.Key)
	}
	f, err := os.Open(d.ServerAuth)
	if err != nil {
		return nil, nothing, fmt.Errorf("reading the X server's authority file: %w", err)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxServerAuth+1))
	f.Close()
	if err != nil {
		return nil, nothing, fmt.Errorf("reading the X server's authority file: %w", err)
	}
	if len(b) > maxServerAuth {
		return nil, nothing, fmt.Errorf("the X server's authority file %s is larger than %d bytes", d.ServerAuth, maxServerAuth)
	}
	content, err := cookieFile(b, n)
	if err != nil {
		return nil, nothing, fmt.Errorf("%s: %w", d.ServerAuth, err)
	}
	path, cleanup, err := writePrivate(content, d.UID, d.GID)
	if err != nil {
		return nil, nothing, err
	}
	return []string{"XAUTHORITY=" + path}, cleanup, nil
}

// writePrivate writes content to a new file readable by uid alone:
// <tmp>/tether-greeter-*/ (root's, 0711) / x/ (uid's, 0700) / Xauthority
// (uid's, 0600). Ownership is given only where the service is root (and
// the helper runs as uid); otherwise everything stays the service's own.
// cleanup removes it all.
func writePrivate(content []byte, uid, gid int) (path string, cleanup func(), err error) {
	parent, err := os.MkdirTemp("", "tether-greeter-")
	if err != nil {
		return "", nil, fmt.Errorf("creating the helper's X authority directory: %w", err)
	}
	cleanup = func() { os.RemoveAll(parent) }
	defer func() {
		if err != nil {
			cleanup()
		}
	}()
	chown := os.Geteuid() == 0 && uid > 0
	if err = os.Chmod(parent, 0o711); err != nil {
		return "", nil, err
	}
	dir := filepath.Join(parent, "x")
	if err = os.Mkdir(dir, 0o700); err != nil {
		return "", nil, err
	}
	path = filepath.Join(dir, "Xauthority")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", nil, err
	}
	_, err = f.Write(content)
	if err == nil && chown {
		err = f.Chown(uid, max(gid, 0))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && chown {
		err = os.Lchown(dir, uid, max(gid, 0))
	}
	if err != nil {
		return "", nil, fmt.Errorf("writing the helper's X authority file: %w", err)
	}
	return path, cleanup, nil
}
