package park

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetherdesk/tether/internal/testenv"
	"github.com/tetherdesk/tether/server/tlsutil"
)

const deadline = 10 * time.Second

// countingListener counts the connections accepted from the network.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// rig is a server whose handler parks every request on /park and hands
// the test its answer and hang-up.
type rig struct {
	lot     *Lot
	srv     *httptest.Server
	raw     *countingListener
	parked  chan Answer
	hungUp  chan struct{}
	notPark chan error
	client  *http.Client
}

func newRig(t *testing.T, useTLS bool) *rig { return newRigIdle(t, useTLS, 0) }

func newRigIdle(t *testing.T, useTLS bool, idle time.Duration) *rig {
	t.Helper()
	lot, err := New(nil, idle)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{lot: lot, parked: make(chan Answer, 4), hungUp: make(chan struct{}, 4), notPark: make(chan error, 4)}
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("X-Set-Before", "kept")
		err := lot.Park(w, req, func(answer Answer) func() bool {
			r.parked <- answer
			return func() bool { r.hungUp <- struct{}{}; return true }
		})
		if err != nil {
			r.notPark <- err
			io.WriteString(w, "not parked")
		}
	}))
	r.raw = &countingListener{Listener: r.srv.Listener}
	var inner net.Listener = r.raw
	if useTLS {
		// TLS below the lot, as the port multiplexer does it: a handed
		// back connection is already a TLS one.
		cert, err := tlsutil.LoadOrCreate(t.TempDir(), []string{"127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		inner = tls.NewListener(r.raw, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}})
	}
	r.srv.Listener = lot.Listener(inner)
	r.srv.Start()
	if useTLS {
		r.srv.URL = "https://" + r.srv.Listener.Addr().String()
		r.client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // a test's own certificate
	} else {
		r.client = r.srv.Client()
	}
	t.Cleanup(func() {
		r.srv.Close()
		lot.Close()
	})
	return r
}

func (r *rig) waitParked(t *testing.T) Answer {
	t.Helper()
	select {
	case a := <-r.parked:
		return a
	case err := <-r.notPark:
		t.Fatalf("the request was not parked: %v", err)
	case <-time.After(deadline):
		t.Fatal("no request parked")
	}
	return nil
}

// get sends one request and reports its body and whether it went over a
// reused connection.
func get(ctx context.Context, c *http.Client, url string) (string, *http.Response, bool, error) {
	var reused atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused.Store(i.Reused) }})
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := c.Do(req)
	if err != nil {
		return "", nil, false, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), resp, reused.Load(), err
}

func TestParkAnswersAndReusesTheConnection(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "tls"}[useTLS], func(t *testing.T) {
			r := newRig(t, useTLS)
			c := r.client
			for i := range 3 {
				type got struct {
					body   string
					resp   *http.Response
					reused bool
					err    error
				}
				ch := make(chan got, 1)
				go func() {
					b, resp, reused, err := get(context.Background(), c, r.srv.URL+"/park")
					ch <- got{b, resp, reused, err}
				}()
				answer := r.waitParked(t)
				answer(func(w http.ResponseWriter) {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusAccepted)
					io.WriteString(w, `{"n":1}`)
				})
				var g got
				select {
				case g = <-ch:
				case <-time.After(deadline):
					t.Fatal("no answer reached the client")
				}
				if g.err != nil {
					t.Fatal(g.err)
				}
				if g.body != `{"n":1}` || g.resp.StatusCode != http.StatusAccepted || g.resp.Header.Get("X-Set-Before") != "kept" || g.resp.Header.Get("Content-Type") != "application/json" {
					t.Errorf("answer %d: %d %q %v", i, g.resp.StatusCode, g.body, g.resp.Header)
				}
				if i > 0 && !g.reused {
					t.Errorf("request %d went over a new connection", i)
				}
			}
			if n := r.raw.n.Load(); n != 1 {
				t.Errorf("%d connections accepted for 3 requests; want the first handed back and reused", n)
			}
		})
	}
}

func TestParkSeesTheClientHangUp(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "tls"}[useTLS], func(t *testing.T) {
			r := newRig(t, useTLS)
			// A first request answered: its connection waits for the
			// next one in the watcher and is handed back when it comes;
			// the hang-up below is watched on that same socket again.
			first := make(chan error, 1)
			go func() {
				_, _, _, err := get(context.Background(), r.client, r.srv.URL+"/park")
				first <- err
			}()
			r.waitParked(t)(func(w http.ResponseWriter) { io.WriteString(w, "first") })
			if err := <-first; err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			go func() {
				_, _, _, err := get(ctx, r.client, r.srv.URL+"/park")
				errc <- err
			}()
			answer := r.waitParked(t)
			cancel()
			select {
			case <-r.hungUp:
			case <-time.After(deadline):
				t.Fatal("the hang-up was not seen")
			}
			if err := <-errc; !errors.Is(err, context.Canceled) {
				t.Errorf("client: %v", err)
			}
			// An answer after the hang-up writes nothing and does not hang.
			answered := make(chan struct{})
			go func() {
				answer(func(w http.ResponseWriter) { io.WriteString(w, "late") })
				close(answered)
			}()
			select {
			case <-answered:
			case <-time.After(deadline):
				t.Fatal("a late answer hung")
			}
		})
	}
}

// An answered connection waits for its next request in the watcher, and
// is closed when none comes within the idle time.
func TestParkClosesAnIdleConnection(t *testing.T) {
	r := newRigIdle(t, false, 300*time.Millisecond)
	c, err := net.Dial("tcp", r.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /park HTTP/1.1\r\nHost: x\r\n\r\n")
	r.waitParked(t)(func(w http.ResponseWriter) { io.WriteString(w, "answer") })
	c.SetReadDeadline(time.Now().Add(deadline))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("the idle connection was not closed: %v (read %q)", err, b)
	}
	if !strings.HasSuffix(string(b), "\r\n\r\nanswer") {
		t.Errorf("read %q", b)
	}
}

func TestParkLeavesWhatItCannotTake(t *testing.T) {
	r := newRig(t, false)
	// Connection: close asks for one request only; the handler answers it.
	req, _ := http.NewRequest(http.MethodGet, r.srv.URL+"/park", nil)
	req.Close = true
	resp, err := r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "not parked" {
		t.Errorf("body %q", b)
	}
	if err := <-r.notPark; !errors.Is(err, ErrNotParked) {
		t.Errorf("Park: %v", err)
	}
	// A nil Lot parks nothing.
	var nilLot *Lot
	if err := nilLot.Park(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil), nil); !errors.Is(err, ErrNotParked) {
		t.Errorf("nil lot: %v", err)
	}
}

func TestSocketUnwrapsTLS(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, ok := socket(tls.Server(a, &tls.Config{})); ok {
		t.Error("a pipe has no socket, yet one was found")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := socket(tls.Client(c, &tls.Config{})); !ok {
		t.Error("no socket found under a TLS connection")
	}
}

// Close waits for a parked request's answer: at shutdown the holds end
// first, and their answers are written after http.Server has let go.
func TestParkCloseWaitsForAnswers(t *testing.T) {
	r := newRig(t, false)
	got := make(chan string, 1)
	go func() {
		b, _, _, err := get(context.Background(), r.client, r.srv.URL+"/park")
		if err != nil {
			b = err.Error()
		}
		got <- b
	}()
	answer := r.waitParked(t)
	closed := make(chan struct{})
	go func() {
		r.lot.Close()
		close(closed)
	}()
	draining := func() bool {
		r.lot.mu.Lock()
		defer r.lot.mu.Unlock()
		return r.lot.draining
	}
	if err := testenv.Poll(context.Background(), deadline, func() (bool, error) { return draining(), nil }); err != nil {
		t.Fatalf("Close did not start: %v", err)
	}
	select {
	case <-closed:
		t.Fatal("Close returned with a request still parked")
	default:
	}
	answer(func(w http.ResponseWriter) { io.WriteString(w, "bye") })
	select {
	case <-closed:
	case <-time.After(deadline):
		t.Fatal("Close did not return after the answer")
	}
	if b := <-got; b != "bye" {
		t.Errorf("the client got %q", b)
	}
}
