package policyset

import (
	"encoding/json"
	"testing"

	"github.com/tetherdesk/tether/shared/policy"
	"github.com/tetherdesk/tether/shared/protocol"
)

// TestMergePolicy: a later document replaces whole top-level keys.
func TestMergePolicy(t *testing.T) {
	doc := map[string]json.RawMessage{}
	for _, d := range []string{
		`{"screenshare":{"acceptance_required":true,"modes":["active"]},"other":1}`,
		`{"screenshare":{"acceptance_required":false}}`,
	} {
		if err := MergeDoc(doc, json.RawMessage(d)); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := json.Marshal(doc)
	p, err := policy.FromDoc(b)
	if err != nil {
		t.Fatal(err)
	}
	if p.AcceptanceRequired || len(p.Modes) != len(protocol.Modes) || string(doc["other"]) != "1" {
		t.Errorf("merged %s: %+v", b, p)
	}
	if err := MergeDoc(doc, json.RawMessage(`[1]`)); err == nil {
		t.Error("a non-object document merged without error")
	}
}
