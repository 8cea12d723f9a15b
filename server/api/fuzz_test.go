package api_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/tetherdesk/tether/server/api"
	"github.com/tetherdesk/tether/server/app"
	"github.com/tetherdesk/tether/server/auth"
	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/server/store/sqlstore"
	"github.com/tetherdesk/tether/shared/protocol"
)

// FuzzRequestBodies sends arbitrary bytes to every route that decodes a
// body from outside: no input may crash the server or make it fail with 500.
func FuzzRequestBodies(f *testing.F) {
	for _, s := range []string{
		`{"name":"admin","password":"x"}`, `{"token":"tet_x","inventory":{"hostname":"h","ips":["1.2.3.4"]}}`,
		`{"wait":false,"acks":["a"],"results":[{"id":"a","ok":true,"output":{"x":1}}]}`,
		`{"inventory":{"hostname":"` + string(bytes.Repeat([]byte("h"), 300)) + `"}}`,
		`{"results":[{"id":"a","output":"not json"}]}`, `{"type":"echo","payload":[1,2]}`, `null`, `[]`, `{`, "\x00\xff",
	} {
		for route := range 4 {
			f.Add(uint8(route), []byte(s))
		}
	}
	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(f.TempDir(), "fuzz.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	svc, err := app.New(app.Config{Store: st, PollHold: time.Millisecond})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(svc.Close)
	h, err := api.Handler(api.Config{Service: svc})
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	tok, err := svc.IssueEnrollmentToken(ctx, protocol.CreateTokenRequest{}, "fuzz", false)
	if err != nil {
		f.Fatal(err)
	}
	enrolled, err := svc.Enroll(app.WithPrincipal(ctx, nil), protocol.EnrollRequest{Token: tok.Token, Inventory: protocol.Inventory{Hostname: "fuzz"}}, "127.0.0.1")
	if err != nil {
		f.Fatal(err)
	}
	u, err := svc.AddUser(ctx, protocol.CreateUserRequest{Name: "fuzzer", Password: "fuzzer password", Roles: []string{"Administrator"}})
	if err != nil {
		f.Fatal(err)
	}
	const apiToken = "tapi_fuzz"
	if _, err := st.CreateAPIToken(ctx, store.APIToken{UserID: u.ID, Name: "fuzz", Hash: auth.HashToken(apiToken), Created: time.Now()}); err != nil {
		f.Fatal(err)
	}
	routes := []struct{ path, bearer string }{
		{"/api/v1/login", ""},
		{protocol.PathEnroll, ""},
		{protocol.PathPoll, enrolled.Secret},
		{"/api/v1/endpoints/" + enrolled.AgentID + "/actions", apiToken},
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		r := routes[int(route)%len(routes)]
		req := httptest.NewRequest(http.MethodPost, r.path, bytes.NewReader(body))
		req.RemoteAddr = "192.0.2.1:1234"
		req.Header.Set("Content-Type", "application/json")
		if r.bearer != "" {
			req.Header.Set("Authorization", "Bearer "+r.bearer)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s with %q: status %d %s", r.path, body, rec.Code, rec.Body)
		}
	})
}
