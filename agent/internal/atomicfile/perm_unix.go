//go:build !windows

package atomicfile

import (
	"fmt"
	"os"
)

func restrictFile(f *os.File, _ string, perm os.FileMode) error {
	return f.Chmod(perm)
}

func restrictDir(dir string) error {
	return os.Chmod(dir, 0o700)
}

func tightenExistingDir(dir string, fi os.FileInfo) error {
	if fi.Mode().Perm()&0o002 != 0 {
		return fmt.Errorf("%s is writable by other users; choose a private directory", dir)
	}
	if fi.Mode().Perm() == 0o700 {
		return nil
	}
	return os.Chmod(dir, 0o700)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
