package console

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// TestRoutes serves the console and viewer pages and every static file
// they reference, with the security headers.
func TestRoutes(t *testing.T) {
	mux := http.NewServeMux()
	Register(mux)
	get := func(path string) (*http.Response, string) {
		t.Helper()
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		res := rec.Result()
		body, _ := io.ReadAll(res.Body)
		return res, string(body)
	}
	tests := []struct {
		path, want string
	}{
		{"/", `<form id="signin-form"`},
		{"/view/0123456789abcdef", `<canvas id="screen"`},
		{"/view/some%20id", `<script type="module" src="/static/view.js">`},
		{"/play/0123456789abcdef", `<video id="recording"`},
		{"/play/0123456789abcdef", `<ol id="timeline">`},
	}
	ref := regexp.MustCompile(`(?:src|href)="(/static/[^"]+)"`)
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			res, body := get(tc.path)
			if res.StatusCode != http.StatusOK || !strings.Contains(body, tc.want) {
				t.Fatalf("GET %s: %s, body lacks %q", tc.path, res.Status, tc.want)
			}
			if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
				t.Errorf("GET %s: CSP %q", tc.path, csp)
			}
			for _, m := range ref.FindAllStringSubmatch(body, -1) {
				if r, _ := get(m[1]); r.StatusCode != http.StatusOK {
					t.Errorf("%s references %s: %s", tc.path, m[1], r.Status)
				}
			}
		})
	}
	// Modules imported by other modules exist too.
	imp := regexp.MustCompile(`from "\./([^"]+)"`)
	for _, f := range []string{"view.js", "viewvideo.js", "console.js", "api.js", "ui.js", "endpoints.js", "sharedialog.js", "sessions.js", "audit.js", "settings.js", "notifications.js", "play.js"} {
		_, body := get("/static/" + f)
		for _, m := range imp.FindAllStringSubmatch(body, -1) {
			if r, _ := get("/static/" + m[1]); r.StatusCode != http.StatusOK {
				t.Errorf("%s imports %s: %s", f, m[1], r.Status)
			}
		}
	}
	for _, p := range []string{"/view/", "/play/"} {
		if res, _ := get(p); res.StatusCode == http.StatusOK {
			t.Errorf("GET %s without an id: %s, want not found", p, res.Status)
		}
	}
}
