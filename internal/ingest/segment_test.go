package ingest

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/engage-oss/engage/internal/event"
)

// want is the part of a published event a Segment mapping test checks.
type want struct {
	id, account, user, name string
	ts                      time.Time
	props                   string // "" : no properties; compared as JSON
}

// TestSegmentMapping pins the Segment → engage mapping table (segment.go).
func TestSegmentMapping(t *testing.T) {
	ts := "2026-11-23T11:00:00Z"
	t0 := time.Date(2026, 11, 23, 11, 0, 0, 0, time.UTC)
	cases := []struct {
		name     string
		path     string
		body     string
		want     []want
		errs     []string // substrings of per-event errors, in order
		ignored  int
		wantCode int // 0: 200
	}{
		{
			name: "track with context.groupId",
			path: "/v1/track",
			body: `{"messageId":"m1","userId":"u1","event":"Report Exported","context":{"groupId":"acme"},"properties":{"format":"pdf"},"timestamp":"` + ts + `"}`,
			want: []want{{"m1", "acme", "u1", "Report Exported", t0, `{"format":"pdf"}`}},
		},
		{
			name: "track with properties.account_id and anonymousId",
			path: "/v1/track",
			body: `{"messageId":"m1","anonymousId":"anon-7","event":"x","properties":{"account_id":"acme"},"timestamp":"` + ts + `"}`,
			want: []want{{"m1", "acme", "anon-7", "x", t0, `{"account_id":"acme"}`}},
		},
		{
			name: "userId wins over anonymousId; numeric ids",
			path: "/v1/track",
			body: `{"messageId":17,"userId":42,"anonymousId":"a","event":"x","properties":{"account_id":1001},"timestamp":"` + ts + `"}`,
			want: []want{{"17", "1001", "42", "x", t0, `{"account_id":1001}`}},
		},
		{
			name: "track of a reserved name is that signal",
			path: "/v1/track",
			body: `{"messageId":"m1","userId":"u1","event":"$nps","context":{"groupId":"acme"},"properties":{"score":9},"timestamp":"` + ts + `"}`,
			want: []want{{"m1", "acme", "u1", event.NameNPS, t0, `{"score":9}`}},
		},
		{
			name: "page with and without name",
			path: "/v1/batch",
			body: `{"batch":[{"type":"page","messageId":"p1","userId":"u1","name":"Pricing","properties":{"path":"/pricing"},"context":{"groupId":"acme"},"timestamp":"` + ts + `"},{"type":"page","messageId":"p2","userId":"u1","context":{"groupId":"acme"},"timestamp":"` + ts + `"}]}`,
			want: []want{{"p1", "acme", "u1", "page:Pricing", t0, `{"path":"/pricing"}`}, {"p2", "acme", "u1", "page", t0, ""}},
		},
		{
			name: "screen",
			path: "/v1/screen",
			body: `{"messageId":"s1","userId":"u1","name":"Settings","context":{"groupId":"acme"},"timestamp":"` + ts + `"}`,
			want: []want{{"s1", "acme", "u1", "screen:Settings", t0, ""}},
		},
		{
			name: "group sets account traits; licenses stand for seats",
			path: "/v1/group",
			body: `{"messageId":"g1","userId":"u1","groupId":"acme","traits":{"name":"Acme","plan":"pro","licenses":25,"mrr":990},"timestamp":"` + ts + `"}`,
			want: []want{{"g1", "acme", "u1", event.NameAccount, t0, `{"seats":25,"name":"Acme","plan":"pro","licenses":25,"mrr":990}`}},
		},
		{
			name: "group: seats present, licenses left alone; groupId beats context.groupId",
			path: "/v1/group",
			body: `{"messageId":"g1","anonymousId":"a","groupId":"acme","context":{"groupId":"other"},"traits":{"seats":10,"licenses":25},"timestamp":"` + ts + `"}`,
			want: []want{{"g1", "acme", "a", event.NameAccount, t0, `{"seats":10,"licenses":25}`}},
		},
		{
			name:    "group with an invalid trait is a per-event error",
			path:    "/v1/group",
			body:    `{"messageId":"g1","userId":"u1","groupId":"acme","traits":{"status":"paying"},"timestamp":"` + ts + `"}`,
			errs:    []string{"properties.status"},
			ignored: 0,
		},
		{
			name:    "identify and alias are ignored",
			path:    "/v1/batch",
			body:    `{"batch":[{"type":"identify","userId":"u1","traits":{"email":"a@b.c"}},{"type":"alias","previousId":"a","userId":"u1"}]}`,
			ignored: 2,
		},
		{
			name:    "identify endpoint",
			path:    "/v1/identify",
			body:    `{"userId":"u1","traits":{"email":"a@b.c"}}`,
			ignored: 1,
		},
		{
			name: "batch defaults: context.groupId and sentAt correct the clock",
			path: "/v1/batch",
			// The client clock is 1 h behind: sentAt 11:00 when the gateway reads 12:00.
			body: `{"sentAt":"2026-11-23T11:00:00Z","context":{"groupId":"acme"},"batch":[{"type":"track","messageId":"m1","userId":"u1","event":"x","timestamp":"2026-11-23T10:30:00Z"},{"type":"track","messageId":"m2","userId":"u1","event":"y","context":{"groupId":"globex"},"timestamp":"2026-11-23T10:30:00Z","sentAt":"2026-11-23T12:00:00Z"}]}`,
			want: []want{{"m1", "acme", "u1", "x", time.Date(2026, 11, 23, 11, 30, 0, 0, time.UTC), ""}, {"m2", "globex", "u1", "y", time.Date(2026, 11, 23, 10, 30, 0, 0, time.UTC), ""}},
		},
		{
			name: "originalTimestamp; no zone is UTC; no timestamp is receive time",
			path: "/v1/batch",
			body: `{"batch":[{"type":"track","messageId":"m1","userId":"u","event":"x","context":{"groupId":"acme"},"originalTimestamp":"2026-11-23T11:00:00.5"},{"type":"track","messageId":"m2","userId":"u","event":"x","context":{"groupId":"acme"},"sentAt":"2020-01-01T00:00:00Z"}]}`,
			want: []want{{"m1", "acme", "u", "x", t0.Add(500 * time.Millisecond), ""}, {"m2", "acme", "u", "x", testNow, ""}},
		},
		{
			name: "missing messageId gets a stable hash id",
			path: "/v1/track",
			body: `{"userId":"u1","event":"x","context":{"groupId":"acme"},"timestamp":"` + ts + `"}`,
			want: []want{{"seg-", "acme", "u1", "x", t0, ""}},
		},
		{
			name:    "per-event errors keep batch indexes",
			path:    "/v1/batch",
			body:    `{"batch":[{"type":"identify","userId":"u"},{"type":"track","messageId":"m1","userId":"u","event":"x","timestamp":"` + ts + `"},{"type":"jump","messageId":"m2"},"str",{"type":"track","messageId":"m3","userId":{},"event":"x"},{"type":"track","messageId":"m4","userId":"u","event":"x","context":{"groupId":"acme"},"timestamp":"` + ts + `"}]}`,
			want:    []want{{"m4", "acme", "u", "x", t0, ""}},
			errs:    []string{"1:account_id: no account", "2:type: must be one of", "3:must be a JSON object", "4:userId: must be a string or a number"},
			ignored: 1,
		},
		{
			name: "empty batch is fine",
			path: "/v1/batch",
			body: `{"batch":[]}`,
		},
		{name: "batch without batch array", path: "/v1/batch", body: `{"sentAt":"x"}`, wantCode: 400},
		{name: "array body", path: "/v1/track", body: `[{}]`, wantCode: 400},
		{name: "syntax error", path: "/v1/batch", body: `{"batch":[{]}`, wantCode: 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pub := &fakePublisher{}
			h, _ := newTestHandler(t, Config{}, pub)
			w := post(h, tc.path, []byte(tc.body), map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(testKey+":"))})
			code := tc.wantCode
			if code == 0 {
				code = 200
			}
			if w.Code != code {
				t.Fatalf("status %d, want %d: %s", w.Code, code, w.Body)
			}
			if code != 200 {
				return
			}
			resp := decodeResponse(t, w)
			if resp.Success == nil || !*resp.Success || resp.Ignored == nil || *resp.Ignored != tc.ignored {
				t.Errorf("success/ignored: %s", w.Body)
			}
			if len(resp.Errors) != len(tc.errs) {
				t.Fatalf("errors %s, want %q", w.Body, tc.errs)
			}
			for i, e := range resp.Errors {
				// "N:msg" also checks the index.
				wantMsg := tc.errs[i]
				if len(wantMsg) > 1 && wantMsg[1] == ':' && '0' <= wantMsg[0] && wantMsg[0] <= '9' {
					if e.Index != int(wantMsg[0]-'0') {
						t.Errorf("error %d has index %d, want %c", i, e.Index, wantMsg[0])
					}
					wantMsg = wantMsg[2:]
				}
				if !strings.Contains(e.Error, wantMsg) {
					t.Errorf("error %d = %q, want %q", i, e.Error, tc.errs[i])
				}
			}
			evs := pub.published()
			if len(evs) != len(tc.want) {
				t.Fatalf("%d events published, want %d: %s", len(evs), len(tc.want), w.Body)
			}
			for i, e := range evs {
				wt := tc.want[i]
				if !strings.HasPrefix(e.EventID, wt.id) || e.AccountID != wt.account || e.UserID != wt.user || e.Name != wt.name || !e.Timestamp.Equal(wt.ts) {
					t.Errorf("event %d = %s/%s/%s/%s at %v, want %+v", i, e.EventID, e.AccountID, e.UserID, e.Name, e.Timestamp, wt)
				}
				if !jsonEqual(string(e.Properties), wt.props) {
					t.Errorf("event %d properties %s, want %s", i, e.Properties, wt.props)
				}
			}
		})
	}
}

func jsonEqual(a, b string) bool {
	if a == "" || b == "" {
		return a == b
	}
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// TestSegmentStableID: a retried message without messageId gets the same derived id, so
// the retry collapses downstream; a different message gets another.
func TestSegmentStableID(t *testing.T) {
	pub := &fakePublisher{}
	h, _ := newTestHandler(t, Config{}, pub)
	msg := `{"userId":"u1","event":"x","context":{"groupId":"acme"},"timestamp":"2026-11-23T11:00:00Z"}`
	other := `{"userId":"u1","event":"x","context":{"groupId":"acme"},"timestamp":"2026-11-23T11:00:01Z"}`
	for _, body := range []string{msg, msg, other} {
		if w := post(h, "/v1/track", []byte(body), map[string]string{"Authorization": "Bearer " + testKey}); w.Code != 200 {
			t.Fatalf("status %d", w.Code)
		}
	}
	evs := pub.published()
	if evs[0].EventID != evs[1].EventID || evs[0].EventID == evs[2].EventID {
		t.Errorf("ids %s %s %s", evs[0].EventID, evs[1].EventID, evs[2].EventID)
	}
}

// TestSegmentAuth covers the ways a Segment client presents its write key.
func TestSegmentAuth(t *testing.T) {
	track := func(extra string) string {
		return `{` + extra + `"userId":"u","event":"x","context":{"groupId":"acme"}}`
	}
	cases := []struct {
		name string
		path string
		hdr  map[string]string
		body string
		want int
	}{
		{"basic user name", "/v1/track", map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(testKey+":"))}, track(""), 200},
		{"writeKey in a single call (analytics.js)", "/v1/t", map[string]string{"Content-Type": "text/plain"}, track(`"writeKey":"` + testKey + `",`), 200},
		{"writeKey in a batch", "/v1/batch", nil, `{"writeKey":"` + testKey + `","batch":[` + track("") + `]}`, 200},
		{"header wins over body", "/v1/track", map[string]string{"Authorization": "Bearer nope"}, track(`"writeKey":"` + testKey + `",`), 401},
		{"unknown body key", "/v1/track", nil, track(`"writeKey":"nope",`), 401},
		{"no key at all", "/v1/track", nil, track(""), 401},
		{"key for another account", "/v1/track", map[string]string{"Authorization": "Bearer restricted-key"}, `{"userId":"u","event":"x","context":{"groupId":"globex"}}`, 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pub := &fakePublisher{}
			h, _ := newTestHandler(t, Config{}, pub)
			hdr := tc.hdr
			if hdr == nil {
				hdr = map[string]string{}
			}
			w := post(h, tc.path, []byte(tc.body), hdr)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.want, w.Body)
			}
		})
	}
}

// TestSegmentAnalyticsJSFixture replays a batch as analytics.js (2.x) sends it, with the
// fields it adds (context.page, library, integrations, _metadata): everything maps.
func TestSegmentAnalyticsJSFixture(t *testing.T) {
	body, err := os.ReadFile(filepath.Join("testdata", "segment", "analytics_js_batch.json"))
	if err != nil {
		t.Fatal(err)
	}
	pub := &fakePublisher{}
	h, _ := newTestHandler(t, Config{}, pub)
	w := post(h, "/v1/batch", body, map[string]string{"Content-Type": "text/plain"})
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	resp := decodeResponse(t, w)
	if resp.Accepted != 3 || resp.Rejected != 0 || *resp.Ignored != 1 {
		t.Fatalf("%s", w.Body)
	}
	var names []string
	for _, e := range pub.published() {
		names = append(names, e.Name)
		if e.AccountID != "acct_42" || e.UserID != "user_1001" {
			t.Errorf("%s: account %q user %q", e.Name, e.AccountID, e.UserID)
		}
	}
	if want := []string{"page:Dashboard", "Report Exported", event.NameAccount}; !reflect.DeepEqual(names, want) {
		t.Errorf("names %q, want %q", names, want)
	}
}

func TestWithZone(t *testing.T) {
	cases := []struct{ in, want string }{
		{"2026-11-23T11:00:00Z", "2026-11-23T11:00:00Z"},
		{"2026-11-23T11:00:00+02:00", "2026-11-23T11:00:00+02:00"},
		{"2026-11-23T11:00:00.123-05:00", "2026-11-23T11:00:00.123-05:00"},
		{"2026-11-23T11:00:00.123", "2026-11-23T11:00:00.123Z"},
		{"2026-11-23 11:00:00", "2026-11-23T11:00:00Z"},
		{"2026-11-23", "2026-11-23"},
		{"garbage-garbage-garbage", "garbage-garbage-garbage"},
		{"", ""},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			if got := withZone(tc.in); got != tc.want {
				t.Errorf("withZone(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
