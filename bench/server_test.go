//go:build unix

package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetherdesk/tether/internal/testenv"
	"github.com/tetherdesk/tether/shared/protocol"
)

// userHZ is the unit of utime/stime in /proc/PID/stat. Linux exports it as
// USER_HZ, fixed at 100 on every architecture Go supports.
const userHZ = 100

// buildServer compiles ./server/cmd/tether-server into dir and returns the
// binary's path.
func buildServer(ctx context.Context, dir string) (string, error) {
	if err := testenv.BuildBinaries(ctx, dir, "./server/cmd/tether-server"); err != nil {
		return "", err
	}
	return filepath.Join(dir, "tether-server"), nil
}

// serverProc is a tether-server process under test.
type serverProc struct {
	*testenv.Server
	logPath string
	logFile *os.File
	client  *http.Client // console/admin traffic, separate from the agents' pool
	token   string       // API bearer token
	started time.Time    // just before the process was started
}

// startServer runs `tether-server serve` on a free loopback port with its
// log appended to logPath, and waits until it is ready. extra are further
// serve flags (e.g. --turn-listen 127.0.0.1:0).
func startServer(ctx context.Context, bin, data, logPath string, pollHold time.Duration, extra ...string) (*serverProc, error) {
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	s := &serverProc{logPath: logPath, logFile: logFile, started: time.Now()}
	s.Server, err = testenv.StartServer(ctx, testenv.ServerConfig{
		Bin: bin, Data: data,
		// The fleet enrolls from one address, as behind one NAT.
		Args: append([]string{"--poll-hold", pollHold.String(), "--log-level", "info", "--enroll-rate", "100000"}, extra...),
		Prepare: func(c *exec.Cmd) {
			// gctrace adds one stderr line per GC cycle, with the live heap
			// it marked: the clean per-agent heap figure. Its cost is
			// negligible.
			godebug := "gctrace=1"
			if v := os.Getenv("GODEBUG"); v != "" {
				godebug = v + "," + godebug
			}
			c.Env = append(os.Environ(), "GODEBUG="+godebug)
			c.Stderr = logFile
		},
	})
	if err != nil {
		logFile.Close()
		return nil, fmt.Errorf("%w; log:\n%s", err, tailFile(logPath, 4096))
	}
	s.client = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	return s, nil
}

// kill ends the process at once (error paths only) and waits for it.
func (s *serverProc) kill() {
	s.Kill()
	s.logFile.Close()
}

// stop sends SIGTERM and waits up to timeout for a clean exit.
func (s *serverProc) stop(timeout time.Duration) (time.Duration, error) {
	defer s.logFile.Close()
	start := time.Now()
	if !s.Stop(timeout) {
		return timeout, fmt.Errorf("server did not exit within %s of SIGTERM; killed", timeout)
	}
	took := time.Since(start)
	if code := s.State().ExitCode(); code != 0 {
		return took, fmt.Errorf("server exited with status %d after SIGTERM", code)
	}
	return took, nil
}

// doJSON sends a JSON request and decodes a JSON answer; a status other
// than want is an error carrying the server's message.
func doJSON(ctx context.Context, c *http.Client, method, url string, hdr http.Header, in, out any, want int) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return resp, fmt.Errorf("%s %s: read answer: %w", method, url, err)
	}
	if resp.StatusCode != want {
		var pe protocol.Error
		if json.Unmarshal(b, &pe) == nil && pe.Error != "" {
			return resp, fmt.Errorf("%s %s: %s: %s (%s)", method, url, resp.Status, pe.Error, pe.Code)
		}
		return resp, fmt.Errorf("%s %s: %s: %.200s", method, url, resp.Status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp, fmt.Errorf("%s %s: decode answer: %w", method, url, err)
		}
	}
	return resp, nil
}

// signIn logs in as the first administrator (password from the data
// directory) and creates an API token used for every later console call.
func (s *serverProc) signIn(ctx context.Context) error {
	pw, err := s.AdminPassword()
	if err != nil {
		return err
	}
	s.token, err = s.tokenFor(ctx, "admin", pw)
	return err
}

// tokenFor signs in as name and makes an API token for that user.
func (s *serverProc) tokenFor(ctx context.Context, name, pw string) (string, error) {
	var me protocol.Me
	resp, err := doJSON(ctx, s.client, http.MethodPost, s.URL+"/api/v1/login", nil,
		protocol.LoginRequest{Name: name, Password: pw}, &me, http.StatusOK)
	if err != nil {
		return "", err
	}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == protocol.SessionCookie {
			cookie = c
		}
	}
	if cookie == nil {
		return "", errors.New("login answer set no session cookie")
	}
	hdr := http.Header{}
	hdr.Set("Cookie", cookie.Name+"="+cookie.Value)
	hdr.Set(protocol.HeaderCSRF, me.CSRFToken)
	var tok protocol.APIToken
	if _, err := doJSON(ctx, s.client, http.MethodPost, s.URL+"/api/v1/api-tokens", hdr,
		protocol.CreateAPITokenRequest{Name: "bench"}, &tok, http.StatusCreated); err != nil {
		return "", err
	}
	if tok.Token == "" {
		return "", errors.New("api-tokens answer carried no token")
	}
	return tok.Token, nil
}

// api calls the console API with the bench's bearer token.
func (s *serverProc) api(ctx context.Context, method, path string, in, out any, want int) error {
	hdr := http.Header{}
	hdr.Set("Authorization", "Bearer "+s.token)
	_, err := doJSON(ctx, s.client, method, s.URL+path, hdr, in, out, want)
	return err
}

// metrics scrapes /metrics into series -> value, keyed by the series as
// written ("name" or "name{labels}").
func (s *serverProc) metrics(ctx context.Context) (metricSet, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/metrics", nil)
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/metrics: %s", resp.Status)
	}
	m := metricSet{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i <= 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	return m, sc.Err()
}

type metricSet map[string]float64

// sum adds every series of one metric whose labels contain all of want
// (each like `ok="true"`).
func (m metricSet) sum(name string, want ...string) float64 {
	var t float64
	for k, v := range m {
		rest, ok := strings.CutPrefix(k, name)
		if !ok || (rest != "" && rest[0] != '{') {
			continue
		}
		match := true
		for _, w := range want {
			if !strings.Contains(rest, w) {
				match = false
			}
		}
		if match {
			t += v
		}
	}
	return t
}

// forceGC makes the server run `cycles` garbage collections now: it scrapes
// /metrics (each scrape allocates ~100 KB in the server) from a few workers
// until the server's GC count has grown by cycles, then returns the first
// of those cycles' gctrace record.
func (s *serverProc) forceGC(ctx context.Context, cycles int, timeout time.Duration) (gcRecord, int, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	m, err := s.metrics(ctx)
	if err != nil {
		return gcRecord{}, 0, err
	}
	start := int64(m.sum("go_gc_duration_seconds_count"))
	var (
		scrapes atomic.Int64
		reached atomic.Int64 // highest GC count seen
		wg      sync.WaitGroup
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && reached.Load() < start+int64(cycles) {
				m, err := s.metrics(ctx)
				scrapes.Add(1)
				if err != nil {
					continue
				}
				n := int64(m.sum("go_gc_duration_seconds_count"))
				for cur := reached.Load(); n > cur && !reached.CompareAndSwap(cur, n); cur = reached.Load() {
				}
			}
		}()
	}
	wg.Wait()
	if reached.Load() < start+int64(cycles) {
		return gcRecord{}, int(scrapes.Load()), fmt.Errorf("%d of %d GC cycles in the server after %d /metrics scrapes in %s",
			max(0, reached.Load()-start), cycles, scrapes.Load(), timeout)
	}
	n := start + 1
	// The runtime prints the trace line as it counts the cycle; give the
	// write a moment to land in the log.
	var rec gcRecord
	err = testenv.Poll(ctx, 5*time.Second, testenv.Until(func() bool {
		rec, err = gcByNum(s.logPath, n)
		return err == nil
	}))
	if err != nil {
		return rec, int(scrapes.Load()), fmt.Errorf("gctrace line for GC %d not found in %s (last: %+v)", n, s.logPath, rec)
	}
	return rec, int(scrapes.Load()), nil
}

// settleRSS waits until the Go runtime in the server has returned freed
// heap to the OS (the scavenger does so in a burst a few seconds after the
// GC) — less than 8 MiB free but unreleased — and RSS then stays within
// 256 KiB for a second.
func (s *serverProc) settleRSS(ctx context.Context, timeout time.Duration) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var unreleased float64
	err := testenv.Poll(ctx, timeout, testenv.Until(func() bool {
		m, err := s.metrics(ctx)
		if err != nil {
			return false
		}
		unreleased = m.sum("go_memstats_heap_idle_bytes") - m.sum("go_memstats_heap_released_bytes")
		return unreleased < 8<<20
	}))
	if err != nil {
		rss, _, _ := procStatus(s.Pid())
		return rss, fmt.Errorf("%.1f MiB of free heap still not returned to the OS after %s", unreleased/(1<<20), timeout)
	}
	var window []int64
	var last int64
	err = testenv.Poll(ctx, timeout, testenv.Until(func() bool {
		rss, _, err := procStatus(s.Pid())
		if err != nil {
			return false
		}
		last = rss
		window = append(window, rss)
		if len(window) > 11 { // 100 ms apart: one second
			window = window[1:]
		}
		return len(window) == 11 && slices.Max(window)-slices.Min(window) < 256<<10
	}))
	return last, err
}

// gcRecord is one GODEBUG=gctrace=1 line.
type gcRecord struct {
	Num     int64  `json:"num"`
	LiveMiB int64  `json:"live_mib"` // heap marked live by this cycle
	GoalMiB int64  `json:"goal_mib"`
	Line    string `json:"line"`
}

var gcLine = regexp.MustCompile(`^gc (\d+) @.* (\d+)->(\d+)->(\d+) MB, (\d+) MB goal`)

// gcByNum returns the gctrace record of GC cycle num; the log holds the
// setup server's lines first, so the last match wins.
func gcByNum(path string, num int64) (gcRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return gcRecord{}, err
	}
	defer f.Close()
	var rec gcRecord
	found := false
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "gc ") {
			continue
		}
		m := gcLine.FindStringSubmatch(line)
		if m == nil || m[1] != strconv.FormatInt(num, 10) {
			continue
		}
		rec.Num, _ = strconv.ParseInt(m[1], 10, 64)
		rec.LiveMiB, _ = strconv.ParseInt(m[4], 10, 64)
		rec.GoalMiB, _ = strconv.ParseInt(m[5], 10, 64)
		rec.Line = line
		found = true
	}
	if err := sc.Err(); err != nil {
		return rec, err
	}
	if !found {
		return rec, fmt.Errorf("no gctrace line for GC %d in the server log", num)
	}
	return rec, nil
}

// procStatus reads VmRSS and VmHWM (bytes) of pid.
func procStatus(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return 0, 0, fmt.Errorf("/proc/%d/status: odd %s line %q", pid, k, line)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, 0, err
		}
		if k == "VmRSS" {
			rss = n << 10
		} else {
			hwm = n << 10
		}
	}
	if rss == 0 {
		return 0, 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
	}
	return rss, hwm, nil
}

// procStat is one /proc/<pid>[/task/<tid>]/stat file: the command name
// and the fields after it (f[0] is field 3, state; utime and stime are
// f[11] and f[12]).
type procStat struct {
	comm string
	f    []string
}

// readProcStat reads a stat file holding at least n fields after the name.
func readProcStat(path string, n int) (procStat, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return procStat{}, err
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i, j := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if i < 0 || j < i {
		return procStat{}, fmt.Errorf("%s: no command name", path)
	}
	f := strings.Fields(string(b[j+1:]))
	if len(f) < n {
		return procStat{}, fmt.Errorf("%s: %d fields", path, len(f))
	}
	return procStat{comm: string(b[i+1 : j]), f: f}, nil
}

// cpu is utime+stime in clock ticks (1/userHZ s).
func (p procStat) cpu() (int64, error) {
	ut, err1 := strconv.ParseInt(p.f[11], 10, 64)
	st, err2 := strconv.ParseInt(p.f[12], 10, 64)
	return ut + st, errors.Join(err1, err2)
}

// procCPU reads utime+stime of pid in clock ticks (1/userHZ s).
func procCPU(pid int) (int64, error) {
	st, err := readProcStat(fmt.Sprintf("/proc/%d/stat", pid), 13)
	if err != nil {
		return 0, err
	}
	return st.cpu()
}

// machineCPU reads the busy clock ticks of all CPUs together (everything
// but idle and iowait) from /proc/stat.
func machineCPU() (int64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: odd first line %q", line)
	}
	var busy int64
	for i, v := range f[1:] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %w", err)
		}
		if i == 3 || i == 4 || i >= 8 { // idle, iowait; guest time is already in user
			continue
		}
		busy += n
	}
	return busy, nil
}

// cpuSample is the CPU used so far by the server, this process and the
// whole machine, in clock ticks.
type cpuSample struct {
	at                    time.Time
	server, self, machine int64
}

func sampleCPU(serverPID int) (cpuSample, error) {
	s := cpuSample{at: time.Now()}
	var err1, err2, err3 error
	s.server, err1 = procCPU(serverPID)
	s.self, err2 = procCPU(os.Getpid())
	s.machine, err3 = machineCPU()
	return s, errors.Join(err1, err2, err3)
}

// cpuUse is CPU between two samples as % of one core.
type cpuUse struct {
	Seconds float64 `json:"seconds"`
	Server  float64 `json:"server_pct"`
	Bench   float64 `json:"bench_pct"` // the simulated agents and this harness
	Other   float64 `json:"other_pct"` // everything else on the machine
}

func cpuBetween(a, b cpuSample) cpuUse {
	sec := b.at.Sub(a.at).Seconds()
	pct := func(ticks int64) float64 { return math.Round(float64(ticks)/userHZ/sec*1000) / 10 }
	return cpuUse{
		Seconds: math.Round(sec*10) / 10,
		Server:  pct(b.server - a.server),
		Bench:   pct(b.self - a.self),
		Other:   pct(max(0, (b.machine-a.machine)-(b.server-a.server)-(b.self-a.self))),
	}
}

// tailFile returns up to n trailing bytes of a file, for error messages.
func tailFile(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > n {
		_, _ = f.Seek(fi.Size()-n, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// logFindings counts the server log's records by level and keeps the
// first few warnings and errors, with how often each message recurred.
type logFindings struct {
	Lines    int            `json:"lines"`
	GCLines  int            `json:"gctrace_lines"`
	ByLevel  map[string]int `json:"by_level"`
	Messages map[string]int `json:"warn_error_messages,omitempty"`
	Samples  []string       `json:"samples,omitempty"`
}

func scanLog(path string) (logFindings, error) {
	f, err := os.Open(path)
	if err != nil {
		return logFindings{}, err
	}
	defer f.Close()
	lf := logFindings{ByLevel: map[string]int{}, Messages: map[string]int{}}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "gc ") && gcLine.MatchString(line) {
			lf.GCLines++
			continue
		}
		lf.Lines++
		level := field(line, "level=")
		if level == "" {
			level = "other"
		}
		lf.ByLevel[level]++
		if level == "INFO" || level == "DEBUG" {
			continue
		}
		msg := field(line, "msg=")
		if e := field(line, "err="); e != "" {
			msg += ": " + e
		}
		if msg == "" {
			msg = line
		}
		if len(msg) > 200 {
			msg = msg[:200]
		}
		lf.Messages[msg]++
		if len(lf.Samples) < 5 {
			lf.Samples = append(lf.Samples, line)
		}
	}
	return lf, sc.Err()
}

// field extracts key=value from a slog text line, honouring quotes.
func field(line, key string) string {
	i := strings.Index(line, " "+key)
	if i < 0 {
		if !strings.HasPrefix(line, key) {
			return ""
		}
		i = 0
	} else {
		i++
	}
	v := line[i+len(key):]
	if strings.HasPrefix(v, `"`) {
		if s, err := strconv.QuotedPrefix(v); err == nil {
			u, _ := strconv.Unquote(s)
			return u
		}
	}
	if j := strings.IndexByte(v, ' '); j >= 0 {
		v = v[:j]
	}
	return v
}
