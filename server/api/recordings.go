package api

import (
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/tetherdesk/tether/server/app"
	"github.com/tetherdesk/tether/shared/protocol"
)

// uploadRecording takes a session helper's recording (multipart, streamed
// to disk by the service); the bearer is the session's agent token.
func (h *handlers) uploadRecording(w http.ResponseWriter, r *http.Request) {
	tok := bearer(r)
	info, err := h.svc.UploadRecording(r.Context(), app.RecordingUpload{SessionID: r.PathValue("id"), Token: tok,
		ContentType: r.Header.Get("Content-Type"), Length: r.ContentLength, Body: r.Body})
	h.answer(w, r, http.StatusCreated, info, err)
}

// recording serves a session's recording video with Range support, so a
// player can seek; only a read from the first byte is audited.
func (h *handlers) recording(w http.ResponseWriter, r *http.Request) {
	fromStart := r.Method != http.MethodHead && rangeFromStart(r.Header.Get("Range"))
	f, err := h.svc.OpenRecording(r.Context(), r.PathValue("id"), fromStart)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	defer f.File.Close()
	hd := w.Header()
	hd.Set("Content-Type", "video/webm")
	hd.Set("Content-Disposition", mime.FormatMediaType("inline", map[string]string{"filename": f.Name}))
	hd.Set("Cache-Control", "private, no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("ETag", `"`+f.Info.SHA256+`"`)
	http.ServeContent(w, r, f.Name, f.ModTime, f.File)
}

// rangeFromStart reports whether a request with this Range header reads
// the recording from its first byte: no Range (the whole file), or byte
// ranges the first of which starts at 0. A suffix range ("bytes=-500"),
// any other start, and a malformed header (ServeContent answers it 416,
// sending nothing) do not.
func rangeFromStart(rng string) bool {
	if rng == "" {
		return true
	}
	spec, ok := strings.CutPrefix(strings.TrimSpace(rng), "bytes=")
	if !ok {
		return false
	}
	first, _, _ := strings.Cut(spec, ",")
	start, end, ok := strings.Cut(strings.TrimSpace(first), "-")
	if !ok {
		return false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(start), 10, 64)
	if err != nil || n != 0 {
		return false
	}
	if end = strings.TrimSpace(end); end != "" {
		if _, err := strconv.ParseInt(end, 10, 64); err != nil {
			return false
		}
	}
	return true
}

// uploadTranscript takes a terminal session's transcript from the agent.
func (h *handlers) uploadTranscript(w http.ResponseWriter, r *http.Request) {
	info, err := h.svc.UploadTranscript(r.Context(), app.TranscriptUpload{SessionID: r.PathValue("id"), Token: bearer(r),
		Total: r.Header.Get(protocol.TranscriptTotalHeader), Body: r.Body})
	h.answer(w, r, http.StatusCreated, info, err)
}

// transcript serves a terminal session's transcript as it was written,
// escape sequences and all, as a file: never rendered by the browser.
func (h *handlers) transcript(w http.ResponseWriter, r *http.Request) {
	data, err := h.svc.Transcript(r.Context(), r.PathValue("id"))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/octet-stream")
	hd.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": "terminal-" + r.PathValue("id") + ".txt"}))
	hd.Set("Cache-Control", "private, no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	w.Write(data)
}
