package filexfer

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strings"
)

// downloadsDir finds the end user's Downloads folder: XDG_DOWNLOAD_DIR from
// the environment or from the user's user-dirs.dirs (Linux desktops), else
// Downloads in the home folder. It is created when missing.
func downloadsDir() (string, error) {
	home, _ := os.UserHomeDir()
	dir := os.Getenv("XDG_DOWNLOAD_DIR")
	if dir == "" && home != "" {
		cfg := os.Getenv("XDG_CONFIG_HOME")
		if cfg == "" {
			cfg = filepath.Join(home, ".config")
		}
		dir = xdgUserDir(filepath.Join(cfg, "user-dirs.dirs"), "XDG_DOWNLOAD_DIR", home)
	}
	if dir == "" {
		if home == "" {
			return "", errors.New("no home folder to find Downloads in")
		}
		dir = filepath.Join(home, "Downloads")
	}
	if !filepath.IsAbs(dir) {
		return "", errors.New("the Downloads folder setting is not an absolute path")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return dir, nil
}

// xdgUserDir reads key from a user-dirs.dirs file: lines like
// XDG_DOWNLOAD_DIR="$HOME/Downloads" (only $HOME is expanded, as the
// format says).
func xdgUserDir(path, key, home string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		v, ok := strings.CutPrefix(line, key+"=")
		if !ok {
			continue
		}
		v = strings.Trim(v, `"`)
		if rest, ok := strings.CutPrefix(v, "$HOME"); ok {
			v = home + rest
		}
		if v == home || v == home+"/" {
			return "" // "no Downloads folder": use the default
		}
		return v
	}
	return ""
}
