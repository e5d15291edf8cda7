package event

import (
	"encoding/json"
	"testing"
)

// TestCanonical pins the bug it fixes: ClickHouse's visitParamExtract* read the first
// `"score":` in the text, nested or not, and cannot see escaped key names.
func TestCanonical(t *testing.T) {
	tests := []struct {
		name  string
		kind  Kind
		props string
		want  string
	}{
		{"nested decoy after the real score", KindNPS, `{"meta":{"score":99},"score":5}`, `{"score":5,"meta":{"score":99}}`},
		{"escaped key name", KindNPS, `{"sc\u006fre":5}`, `{"score":5}`},
		{"account traits first, rest sorted", KindAccount, `{"z":1,"status":"active","a":{"seats":9},"seats":3}`, `{"seats":3,"status":"active","a":{"seats":9},"z":1}`},
		{"whitespace compacted", KindRenewal, `{ "renewed" : true }`, `{"renewed":true}`},
		{"product events untouched", KindProduct, `{"b": 1, "a": 2}`, `{"b": 1, "a": 2}`},
		{"empty", KindNPS, ``, ``},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := string(Canonical(tc.kind, json.RawMessage(tc.props)))
			if got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}
