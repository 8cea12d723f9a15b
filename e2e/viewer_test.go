//go:build linux

package e2e

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/tetherdesk/tether/internal/testenv"
	"github.com/tetherdesk/tether/shared/screen"
)

// agree reports each case whose result in the browser's script differs
// from Go's, and logs how many cases were valid.
func agree[R comparable](t *testing.T, what, script string, cases [][]byte, got, want []R, valid func(R) bool) {
	t.Helper()
	if len(got) != len(cases) {
		t.Fatalf("%s decoded %d of %d %ss", script, len(got), len(cases), what)
	}
	accepted := 0
	for i := range cases {
		if valid(want[i]) {
			accepted++
		}
		if got[i] != want[i] {
			t.Errorf("%s %d (% x): %s %+v, Go %+v", what, i, head(cases[i]), script, got[i], want[i])
		}
	}
	t.Logf("%d %ss, %d valid", len(cases), what, accepted)
}

// mutate returns a copy of b changed one to three times: a byte
// overwritten (among the first span bytes; 0 means anywhere), the tail cut,
// or a byte appended.
func mutate(rng *rand.Rand, b []byte, span int) []byte {
	b = append([]byte(nil), b...)
	for range 1 + rng.IntN(3) {
		switch op := rng.IntN(3); {
		case op == 0 && len(b) > 0:
			n := len(b)
			if span > 0 {
				n = min(n, span)
			}
			b[rng.IntN(n)] = byte(rng.IntN(256))
		case op == 1 && len(b) > 0:
			b = b[:rng.IntN(len(b))]
		default:
			b = append(b, byte(rng.IntN(256)))
		}
	}
	return b
}

// TestScreenwireMatchesGo feeds the browser's screenwire.js and Go's
// screen.Decode the same bytes: valid messages, every malformed shape and
// seeded random mutations. Both must accept and reject alike and agree on
// every field.
func TestScreenwireMatchesGo(t *testing.T) {
	tb := consoleScripts(t)

	big := make([]byte, screen.MaxMessage)
	cases := [][]byte{
		screen.AppendTile(nil, screen.Tile{Seq: 7, X: 64, Y: 128, W: 64, H: 64, Enc: screen.EncJPEG, Payload: []byte{0xff, 0xd8, 1, 2}}),
		screen.AppendTile(nil, screen.Tile{Seq: 1 << 31, X: 65535 - 64, Y: 0, W: 64, H: 1, Enc: screen.EncPNG, Payload: []byte{0x89, 'P'}}),
		screen.AppendTile(nil, screen.Tile{Seq: 0, X: 1, Y: 2, W: 3, H: 4, Enc: screen.EncSolid, Payload: []byte{1, 2, 3}}),
		screen.AppendTile(nil, screen.Tile{Seq: 0, X: 65535, Y: 0, W: 1, H: 1, Enc: screen.EncSolid, Payload: []byte{1, 2, 3}}), // beyond
		screen.AppendTile(nil, screen.Tile{Seq: 0, X: 0, Y: 0, W: 0, H: 1, Enc: screen.EncSolid, Payload: []byte{1, 2, 3}}),     // empty
		screen.AppendTile(nil, screen.Tile{Seq: 0, W: 1, H: 1, Enc: screen.EncSolid, Payload: []byte{1, 2}}),                    // short solid
		screen.AppendTile(nil, screen.Tile{Seq: 0, W: 1, H: 1, Enc: screen.EncJPEG}),                                            // empty image
		screen.AppendTile(nil, screen.Tile{Seq: 0, W: 1, H: 1, Enc: 9, Payload: []byte{1}}),                                     // unknown encoding
		screen.AppendTile(nil, screen.Tile{Seq: 3, X: 8, Y: 9, W: 33, H: 17, Enc: screen.EncJPEGHalf, Payload: []byte{0xff, 0xd8}}),
		screen.AppendTile(nil, screen.Tile{Seq: 3, W: 2, H: 2, Enc: screen.EncJPEGHalf}), // empty half image
		screen.AppendFrameEnd(nil, 42),
		append(screen.AppendFrameEnd(nil, 42), 0),
		screen.AppendSize(nil, 3, 1920, 1080),
		screen.AppendSize(nil, 3, 0, 1080),
		screen.AppendSize(nil, 3, 1920, 1080)[:8],
		{}, {1}, {1, 0, 0, 0}, {1, 0, 0, 0, 0}, {4, 0, 0, 0, 0}, {0, 0, 0, 0, 0},
		screen.AppendTile(nil, screen.Tile{Seq: 8, X: 5, Y: 6, W: 8, H: 2, Enc: screen.EncIndexed, Payload: []byte{1, 0, 0, 0, 9, 9, 9, 0xfb}}),
		screen.AppendTile(nil, screen.Tile{Seq: 8, W: 8, H: 2, Enc: screen.EncIndexed, Payload: []byte{1, 0, 0, 0, 9, 9, 9}}), // no pixels
		screen.AppendTile(nil, screen.Tile{Seq: 8, W: 8, H: 2, Enc: screen.EncIndexed, Payload: []byte{3, 0, 0, 0}}),          // short palette
		append([]byte{screen.KindTile, 0, 0, 0, 0}, big[:screen.MaxMessage-4]...),                                             // one byte too long
	}
	copies := [][]byte{
		screen.AppendCopy(nil, screen.Copy{Seq: 5, SX: 0, SY: 64, W: 1920, H: 1016, DX: 0, DY: 0}),
		screen.AppendCopy(nil, screen.Copy{Seq: 6, SX: 65534, SY: 1, W: 1, H: 2, DX: 3, DY: 65533}),
		screen.AppendCopy(nil, screen.Copy{Seq: 6, SX: 65535, SY: 1, W: 1, H: 2, DX: 3, DY: 4}), // beyond
		screen.AppendCopy(nil, screen.Copy{Seq: 6, W: 0, H: 2}),                                 // empty
	}
	cases = append(cases, copies...)
	videos := [][]byte{
		screen.AppendVideo(nil, 9, 64, 128, 640, 360),
		screen.AppendVideo(nil, 9, 0, 0, 0, 0),            // no video any more
		screen.AppendVideo(nil, 9, 65535, 0, 1, 1),        // beyond
		screen.AppendVideo(nil, 9, 0, 0, 0, 5),            // half empty
		screen.AppendVideo(nil, 9, 0, 0, 1, 1)[:12],       // short
		append(screen.AppendVideo(nil, 9, 0, 0, 1, 1), 0), // long
	}
	cases = append(cases, videos...)
	cases = append(cases,
		screen.AppendBundle(nil, 7, [][]byte{cases[0], screen.AppendFrameEnd(nil, 7)}),
		screen.AppendBundle(nil, 7, nil),                                                                            // empty
		screen.AppendBundle(nil, 7, [][]byte{screen.AppendBundle(nil, 7, [][]byte{screen.AppendFrameEnd(nil, 7)})}), // nested
	)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 400 {
		src := cases[rng.IntN(3)+rng.IntN(2)*8]
		switch rng.IntN(6) {
		case 0:
			src = copies[rng.IntN(2)]
		case 1:
			src = videos[rng.IntN(2)]
		}
		cases = append(cases, mutate(rng, src, 0))
	}

	type result struct {
		OK                   bool
		Kind                 int
		Seq                  uint32
		X, Y, TW, TH, Enc, W int
		H                    int
		Payload              string
		Copy                 string // sx,sy,w,h,dx,dy
		Parts                int    // of a bundle
	}
	want := make([]result, len(cases))
	in := make([]string, len(cases))
	for i, b := range cases {
		in[i] = base64.StdEncoding.EncodeToString(b)
		m, err := screen.Decode(b)
		if err != nil {
			continue
		}
		want[i] = result{OK: true, Kind: int(m.Kind), Seq: m.Seq, W: int(m.W), H: int(m.H)}
		if m.Kind == screen.KindVideo {
			want[i].X, want[i].Y = int(m.X), int(m.Y)
		}
		if m.Kind == screen.KindTile {
			want[i].X, want[i].Y, want[i].TW, want[i].TH, want[i].Enc = int(m.Tile.X), int(m.Tile.Y), int(m.Tile.W), int(m.Tile.H), int(m.Tile.Enc)
			want[i].Payload = base64.StdEncoding.EncodeToString(m.Tile.Payload)
		}
		want[i].Parts = len(m.Parts)
		if c := m.Copy; m.Kind == screen.KindCopy {
			want[i].Copy = fmt.Sprintf("%d,%d,%d,%d,%d,%d", c.SX, c.SY, c.W, c.H, c.DX, c.DY)
		}
	}
	inJSON, _ := json.Marshal(in)
	got, err := evalJS[[]result](tb, `import("/static/screenwire.js").then((w) => `+string(inJSON)+`.map((s) => {
		const b = Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
		try {
			const m = w.decode(b);
			const r = {OK: true, Kind: m.kind, Seq: m.seq, X: 0, Y: 0, TW: 0, TH: 0, Enc: 0, W: m.w || 0, H: m.h || 0, Payload: "", Copy: ""};
			if (m.kind === w.KIND_VIDEO) Object.assign(r, {X: m.x, Y: m.y});
			if (m.copy) r.Copy = [m.copy.sx, m.copy.sy, m.copy.w, m.copy.h, m.copy.dx, m.copy.dy].join(",");
			r.Parts = m.parts ? m.parts.length : 0;
			if (m.tile) {
				Object.assign(r, {X: m.tile.x, Y: m.tile.y, TW: m.tile.w, TH: m.tile.h, Enc: m.tile.enc,
					Payload: btoa(String.fromCharCode(...m.tile.payload))});
			}
			return r;
		} catch (e) {
			if (!(e instanceof w.MalformedError)) return {OK: true, Kind: -1, Payload: String(e)};
			return {OK: false};
		}
	}))`)
	if err != nil {
		t.Fatalf("decoding in the browser: %v", err)
	}
	agree(t, "message", "screenwire.js", cases, got, want, func(r result) bool { return r.OK })

	t.Run("Indexed", func(t *testing.T) { indexedMatchesGo(t, tb) })
}

// indexedMatchesGo decodes the same indexed payloads with the viewer's
// decodeIndexed and Go's screen.DecodeIndexed: encoder output at every
// bit depth, odd widths, and seeded random mutations of them. Both must
// accept and reject alike and agree on every pixel.
func indexedMatchesGo(t *testing.T, tb *tab) {
	type sample struct {
		Payload string
		W, H    int
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var enc screen.IndexedEncoder
	var samples []sample
	add := func(p []byte, w, h int) {
		samples = append(samples, sample{base64.StdEncoding.EncodeToString(p), w, h})
	}
	for _, c := range []struct{ n, w, h int }{{1, 3, 3}, {2, 9, 2}, {3, 5, 4}, {4, 7, 3}, {16, 33, 5}, {17, 6, 6}, {256, 40, 20}, {2, 1920, 16}} {
		pal := make([]uint32, c.n)
		for i := range pal {
			pal[i] = rng.Uint32() & 0xffffff
		}
		idx := make([]uint8, c.w*c.h)
		for i := range idx {
			idx[i] = uint8(rng.IntN(c.n))
		}
		p, err := enc.Append(nil, pal, idx, c.w, c.h)
		if err != nil {
			t.Fatal(err)
		}
		add(p, c.w, c.h)
		for range 12 {
			b := append([]byte(nil), p...)
			switch rng.IntN(4) {
			case 0:
				b[rng.IntN(len(b))] ^= byte(1 + rng.IntN(255))
			case 1:
				b = b[:1+rng.IntN(len(b)-1)]
			case 2:
				b = append(b, byte(rng.IntN(256)))
			default:
				b[0] = byte(rng.IntN(256)) // another palette size
			}
			add(b, c.w, c.h)
		}
		add(p, c.w+1, c.h) // the wrong rectangle
		if c.h > 1 {
			add(p, c.w, c.h-1) // more bytes than the rectangle holds
		}
	}
	add([]byte{1, 0, 0, 0, 9, 9, 9, 3, 0}, 65535, 65535) // beyond the bound on pixels
	type result struct {
		OK  bool
		Sum string // SHA-256 of the RGBA pixels
		Err string `json:",omitempty"`
	}
	want := make([]result, len(samples))
	for i, s := range samples {
		p, _ := base64.StdEncoding.DecodeString(s.Payload)
		if len(p) < 1 || len(p) < 1+3*(int(p[0])+1)+1 {
			continue // screen.Decode rejects the tile before decoding
		}
		img, err := screen.DecodeIndexed(p, s.W, s.H)
		if err == nil {
			sum := sha256.Sum256(img.Pix)
			want[i] = result{OK: true, Sum: hex.EncodeToString(sum[:])}
		}
	}
	inJSON, _ := json.Marshal(samples)
	got, err := evalJS[[]result](tb, `import("/static/screenwire.js").then((w) => Promise.all(`+string(inJSON)+`.map(async (s) => {
		const p = Uint8Array.from(atob(s.Payload), (c) => c.charCodeAt(0));
		if (p.length < 1 || p.length < 1 + 3 * (p[0] + 1) + 1) return {OK: false, Sum: ""};
		try {
			const img = await w.decodeIndexed(p, s.W, s.H);
			const sum = new Uint8Array(await crypto.subtle.digest("SHA-256", img.data));
			return {OK: true, Sum: Array.from(sum, (b) => b.toString(16).padStart(2, "0")).join("")};
		} catch (e) {
			if (!(e instanceof w.MalformedError)) return {OK: true, Sum: "", Err: String(e)};
			return {OK: false, Sum: ""};
		}
	})))`)
	if err != nil {
		t.Fatalf("decoding in the browser: %v", err)
	}
	if len(got) != len(samples) {
		t.Fatalf("browser decoded %d payloads, want %d", len(got), len(samples))
	}
	accepted := 0
	for i := range samples {
		if want[i].OK {
			accepted++
		}
		if got[i] != want[i] {
			t.Errorf("payload %d (%dx%d): decodeIndexed %+v, Go %+v", i, samples[i].W, samples[i].H, got[i], want[i])
		}
	}
	if accepted < 9 || accepted == len(samples) {
		t.Errorf("%d of %d payloads decode: the samples do not test both ways", accepted, len(samples))
	}
	t.Logf("%d payloads, %d valid", len(samples), accepted)
}

func head(b []byte) []byte {
	if len(b) > 24 {
		return b[:24]
	}
	return b
}

// TestViewerPageWithoutSession loads the viewer page signed out and for a
// session that does not exist: the modules load and say what is wrong.
func TestViewerPageWithoutSession(t *testing.T) {
	s := startServer(t)
	br := startBrowser(t)
	tb := br.firstTab()

	tb.openViewer(s.url, "no-such-session")
	st := tb.waitStats(startTimeout, "the viewer to ask for a sign-in", func(v viewerStats) bool { return v.State == "signin" })
	if st.Messages != 0 {
		t.Errorf("signed-out viewer stats %+v", st)
	}
	text := func(id string) string {
		v, err := evalJS[string](tb, `document.getElementById(`+jsonString(id)+`).textContent`)
		if err != nil {
			t.Fatalf("reading #%s: %v", id, err)
		}
		return v
	}
	if e := text("error"); !strings.Contains(e, "Sign in on the console") {
		t.Errorf("signed out: #error %q, want a link to sign in", e)
	}

	pw := adminPassword(t, s)
	tb.signIn(s.url, "admin", pw)
	tb.openViewer(s.url, "no-such-session")
	tb.waitStats(startTimeout, "the viewer to show the session as unknown", func(v viewerStats) bool { return v.State == "ended" })
	testenv.Eventually(t, startTimeout, "the viewer to say the session does not exist", func() (bool, error) {
		e := text("error")
		return strings.Contains(e, "No such session"), fmt.Errorf("#error %q", e)
	})
	if s := text("state"); !strings.HasPrefix(s, "Ended") {
		t.Errorf("unknown session: #state %q", s)
	}
	tb.screenshot("viewer-no-session.png")
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
