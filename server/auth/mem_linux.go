package auth

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// memoryAvailable reads MemAvailable from /proc/meminfo, bounded by the
// cgroup v2 memory limit when there is one; 0 when unknown.
func memoryAvailable() uint64 {
	var avail uint64
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "MemAvailable:"); ok {
				kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				if err == nil {
					avail = kb * 1024
				}
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if lim, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && (avail == 0 || lim < avail) {
			avail = lim
		}
	}
	return avail
}
