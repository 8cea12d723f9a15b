package client_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tetherdesk/tether/agent/agenttest"
	"github.com/tetherdesk/tether/agent/client"
	"github.com/tetherdesk/tether/shared/protocol"
)

func TestParseFingerprint(t *testing.T) {
	hexFP := strings.Repeat("ab", 32)
	colons := strings.TrimSuffix(strings.Repeat("AB:", 32), ":")
	tests := []struct {
		in      string
		wantErr bool
	}{
		{hexFP, false},
		{strings.ToUpper(hexFP), false},
		{colons, false},
		{" " + hexFP + " ", false},
		{hexFP[:62], true},
		{hexFP + "ab", true},
		{strings.Repeat("zz", 32), true},
		{"", true},
	}
	for _, tt := range tests {
		b, err := client.ParseFingerprint(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseFingerprint(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
		}
		if err == nil && hex.EncodeToString(b) != hexFP {
			t.Errorf("ParseFingerprint(%q) = %x", tt.in, b)
		}
	}
}

func TestParseServerURL(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{"https://tether.example", "https://tether.example", false},
		{"https://tether.example:8443/", "https://tether.example:8443", false},
		{"http://127.0.0.1:8080/base/", "http://127.0.0.1:8080/base", false},
		{"tether.example", "", true},
		{"ftp://tether.example", "", true},
		{"https://user:pw@tether.example", "", true},
		{"https://tether.example/?x=1", "", true},
		{"", "", true},
	}
	for _, tt := range tests {
		u, err := client.ParseServerURL(tt.in)
		if (err != nil) != tt.wantErr || (err == nil && u.String() != tt.want) {
			t.Errorf("ParseServerURL(%q) = %v, %v; want %q, wantErr %v", tt.in, u, err, tt.want, tt.wantErr)
		}
	}
}

// TestPlainHTTPOnlyToLoopback: an http:// server URL is an error unless
// its host is this machine (the agent's secret would travel in clear);
// the error says what to do.
func TestPlainHTTPOnlyToLoopback(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"http://127.0.0.1:8080", true},
		{"http://127.0.0.2", true},
		{"http://[::1]:8080/", true},
		{"http://[::ffff:127.0.0.1]:8080", true},
		{"http://localhost:8080", true},
		{"http://LocalHost.:8080", true},
		{"https://tether.example", true},
		{"https://10.0.0.5:8443", true},
		{"http://tether.example", false},
		{"http://tether.example:8080/base", false},
		{"http://10.0.0.5:8080", false},
		{"http://192.168.1.1", false},
		{"http://[fe80::1%25eth0]:8080", false},
		{"http://[2001:db8::1]", false},
		{"http://0.0.0.0:8080", false},
		{"http://localhost.tether.example", false},
		{"http://127.0.0.1.nip.io", false},
		{"HTTP://tether.example", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := client.ParseServerURL(tt.in)
			if tt.ok {
				if err != nil {
					t.Fatalf("ParseServerURL(%q) = %v, want no error", tt.in, err)
				}
			} else {
				if !errors.Is(err, client.ErrPlainHTTP) {
					t.Fatalf("ParseServerURL(%q) = %v, want ErrPlainHTTP", tt.in, err)
				}
				for _, want := range []string{"use https://", "127.0.0.1, ::1 or localhost"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not say %q", err, want)
					}
				}
			}
			// The client refuses the same URLs (no warning-and-go-on).
			_, err = client.New(client.Config{Server: tt.in})
			if (err == nil) != tt.ok {
				t.Errorf("client.New(%q) = %v, want ok %v", tt.in, err, tt.ok)
			}
		})
	}
}

func TestTLSPinning(t *testing.T) {
	srv := agenttest.New(t, agenttest.Options{TLS: true})
	sum := sha256.Sum256(srv.HTTPServer().Certificate().Raw)
	good := hex.EncodeToString(sum[:])
	var colonUpper []string
	for i := 0; i < len(good); i += 2 {
		colonUpper = append(colonUpper, strings.ToUpper(good[i:i+2]))
	}
	tests := []struct {
		name        string
		fingerprint string
		wantErr     error // nil: success
		wantAnyErr  bool
	}{
		{name: "right fingerprint", fingerprint: good},
		{name: "right fingerprint, colons and upper case", fingerprint: strings.Join(colonUpper, ":")},
		{name: "wrong fingerprint", fingerprint: strings.Repeat("00", 32), wantErr: client.ErrFingerprintMismatch},
		{name: "no fingerprint: system roots do not know the test CA", wantAnyErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := client.New(client.Config{Server: srv.URL, Fingerprint: tt.fingerprint, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Enroll(context.Background(), protocol.EnrollRequest{Token: "good-token", Protocol: protocol.Version})
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("Enroll = %v, want %v", err, tt.wantErr)
				}
			case tt.wantAnyErr:
				if err == nil {
					t.Error("Enroll succeeded against an untrusted certificate")
				}
			case err != nil:
				t.Errorf("Enroll = %v", err)
			}
		})
	}
}

func TestAPIErrors(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    client.APIError
	}{
		{
			name: "protocol error body",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusUnauthorized)
				w.Write([]byte(`{"error":"token expired","code":"bad_token"}`))
			},
			want: client.APIError{Status: 401, Code: "bad_token", Message: "token expired"},
		},
		{
			name: "proxy page with Retry-After",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "7")
				w.WriteHeader(http.StatusServiceUnavailable)
				w.Write([]byte("<html>maintenance</html>"))
			},
			want: client.APIError{Status: 503, Message: "<html>maintenance</html>", RetryAfter: 7 * time.Second},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			c, err := client.New(client.Config{Server: srv.URL})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Poll(context.Background(), "secret", protocol.PollRequest{})
			var ae *client.APIError
			if !errors.As(err, &ae) || *ae != tt.want {
				t.Errorf("Poll error = %#v, want %#v", err, tt.want)
			}
		})
	}
}

func TestPollSendsBearerAndDecodes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/prefix"+protocol.PathPoll || r.Header.Get("Authorization") != "Bearer s3" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.Write([]byte(`{"actions":[{"id":"a1","type":"echo"}],"next_poll_ms":5}`))
	}))
	defer srv.Close()
	c, err := client.New(client.Config{Server: srv.URL + "/prefix/"})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Poll(context.Background(), "s3", protocol.PollRequest{Wait: true})
	if err != nil || len(resp.Actions) != 1 || resp.Actions[0].ID != "a1" || resp.NextPollMS != 5 {
		t.Errorf("Poll = %+v, %v", resp, err)
	}
}
