//go:build linux

package e2e

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/tetherdesk/tether/shared/protocol"
)

// TestFileWireMatchesGo feeds the viewer's file-chunk decoder (viewfile.js)
// and Go's protocol.DecodeFileChunk the same bytes, valid and mutated: both
// accept and reject alike and agree on every field; and the viewer's
// streaming SHA-256 (sha256.js) agrees with Go's on lengths around every
// block boundary, fed in uneven pieces.
func TestFileWireMatchesGo(t *testing.T) {
	tb := consoleScripts(t)

	rng := rand.New(rand.NewPCG(3, 4))
	data := make([]byte, protocol.MaxFileChunk+1)
	for i := range data {
		data[i] = byte(rng.IntN(256))
	}
	cases := [][]byte{
		protocol.AppendFileChunk(nil, protocol.FileChunk{ID: 1, Offset: 0, Data: data[:1]}),
		protocol.AppendFileChunk(nil, protocol.FileChunk{ID: 1 << 31, Offset: 50 << 20, Data: data[:protocol.MaxFileChunk]}),
		protocol.AppendFileChunk(nil, protocol.FileChunk{ID: 7, Offset: 5<<32 + 3, Data: data[:100]}),
		protocol.AppendFileChunk(nil, protocol.FileChunk{ID: 7, Offset: protocol.MaxFileSize, Data: data[:1]}),
		protocol.AppendFileChunk(nil, protocol.FileChunk{ID: 7, Offset: protocol.MaxFileSize + 1, Data: data[:1]}), // beyond
		protocol.AppendFileChunk(nil, protocol.FileChunk{ID: 1, Data: data}),                                       // too long
		protocol.AppendFileChunk(nil, protocol.FileChunk{ID: 0, Data: data[:3]}),                                   // no id
		protocol.AppendFileChunk(nil, protocol.FileChunk{ID: 1}),                                                   // empty
		{}, {1}, {2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 9},
	}
	for range 300 {
		cases = append(cases, mutate(rng, cases[rng.IntN(3)], 16))
	}
	type result struct {
		OK     bool
		ID     uint32
		Offset int64
		Data   string // SHA-256 of the data
	}
	want := make([]result, len(cases))
	in := make([]string, len(cases))
	for i, b := range cases {
		in[i] = base64.StdEncoding.EncodeToString(b)
		if c, err := protocol.DecodeFileChunk(b); err == nil {
			sum := sha256.Sum256(c.Data)
			want[i] = result{OK: true, ID: c.ID, Offset: c.Offset, Data: hex.EncodeToString(sum[:])}
		}
	}
	inJSON, _ := json.Marshal(in)
	got, err := evalJS[[]result](tb, `Promise.all([import("/static/viewfile.js"), import("/static/sha256.js")]).then(([f, h]) => `+string(inJSON)+`.map((s) => {
		const b = Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
		try {
			const c = f.decodeChunk(b.buffer);
			return {OK: true, ID: c.id, Offset: c.offset, Data: new h.Sha256().update(c.data).hex()};
		} catch (e) {
			return {OK: false, ID: 0, Offset: 0, Data: ""};
		}
	}))`)
	if err != nil {
		t.Fatalf("decoding in the browser: %v", err)
	}
	agree(t, "chunk", "viewfile.js", cases, got, want, func(r result) bool { return r.OK })

	// SHA-256 at the block boundaries, fed in pieces of 1, 7, 63, 64 and
	// 65 bytes.
	lengths := []int{0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 1000, 65537}
	blob := make([]byte, 65537)
	for i := range blob {
		blob[i] = byte(rng.IntN(256))
	}
	wantSums := make([]string, len(lengths))
	for i, n := range lengths {
		sum := sha256.Sum256(blob[:n])
		wantSums[i] = hex.EncodeToString(sum[:])
	}
	lenJSON, _ := json.Marshal(lengths)
	gotSums, err := evalJS[[]string](tb, `import("/static/sha256.js").then((h) => {
		const blob = Uint8Array.from(atob(`+jsonString(base64.StdEncoding.EncodeToString(blob))+`), (c) => c.charCodeAt(0));
		const pieces = [1, 7, 63, 64, 65];
		return `+string(lenJSON)+`.map((n, i) => {
			const s = new h.Sha256();
			for (let off = 0, k = 0; off < n; k++) {
				const step = Math.min(pieces[(i + k) % pieces.length], n - off);
				s.update(blob.subarray(off, off + step));
				off += step;
			}
			return s.hex();
		});
	})`)
	if err != nil {
		t.Fatalf("hashing in the browser: %v", err)
	}
	for i, n := range lengths {
		if i >= len(gotSums) || gotSums[i] != wantSums[i] {
			t.Errorf("SHA-256 of %d bytes: sha256.js %q, Go %s", n, gotSums, wantSums[i])
		}
	}
}
