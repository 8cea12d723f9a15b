// Package console serves the technician web console: static pages and plain
// ES modules embedded in the binary, talking only to the JSON API.
package console

import (
	"embed"
	"io/fs"
	"net/http"

	"github.com/tetherdesk/tether/server/app"
)

//go:embed static
var static embed.FS

// Register adds the console's routes to mux.
func Register(mux *http.ServeMux) {
	sub, _ := fs.Sub(static, "static")
	files := http.FileServerFS(sub)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		app.Public(r.Context()) // the page itself is public; its data is not
		securityHeaders(w)
		http.ServeFileFS(w, r, sub, "index.html")
	})
	// The screen-share viewer. Like the console page it is public; the
	// session's data and signalling behind it need the sign-in.
	mux.HandleFunc("GET /view/{id}", func(w http.ResponseWriter, r *http.Request) {
		app.Public(r.Context())
		securityHeaders(w)
		http.ServeFileFS(w, r, sub, "view.html")
	})
	// The recording player: public like the viewer; the recording and its
	// facts behind it need the sign-in and audit.read.
	mux.HandleFunc("GET /play/{id}", func(w http.ResponseWriter, r *http.Request) {
		app.Public(r.Context())
		securityHeaders(w)
		http.ServeFileFS(w, r, sub, "play.html")
	})
	mux.HandleFunc("GET /static/", func(w http.ResponseWriter, r *http.Request) {
		app.Public(r.Context())
		securityHeaders(w)
		http.StripPrefix("/static/", files).ServeHTTP(w, r)
	})
}

func securityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}
