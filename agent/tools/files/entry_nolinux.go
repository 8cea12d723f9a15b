//go:build !linux

package files

import (
	"io/fs"
	"os"
	"path/filepath"

	"github.com/tetherdesk/tether/shared/protocol"
)

// entryAt describes name in dir by its path (Lstat, Readlink): the
// folders on the way were checked for links.
func entryAt(_ *os.File, dir, name string) (protocol.FileEntry, error) {
	fi, err := os.Lstat(filepath.Join(dir, name))
	if err != nil {
		return protocol.FileEntry{}, err
	}
	e := protocol.FileEntry{Name: name, Dir: fi.IsDir(), Size: fi.Size(), Mode: fi.Mode().String(), Modified: fi.ModTime().UnixMilli()}
	if fi.Mode()&fs.ModeSymlink != 0 {
		e.Link, _ = os.Readlink(filepath.Join(dir, name))
		e.Size = 0
	}
	return e, nil
}
