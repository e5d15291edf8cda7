package ingest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/engage-oss/engage/internal/event"
)

// Seed corpora live in testdata/fuzz/<FuzzName>/; the f.Add seeds below are the minimum
// every run starts from.

// FuzzDecodeEquivalence pins the fast decoder to encoding/json: for any document they agree
// on syntax validity, on type errors, and on every decoded field of event.Input.
func FuzzDecodeEquivalence(f *testing.F) {
	f.Add([]byte(`{"event_id":"a","account_id":"b","user_id":"c","name":"d","timestamp":"2026-01-01T00:00:00Z","sent_at":"x","properties":{"k":[1,2.5e3,"\u00e9"]}}`))
	f.Add([]byte(`{"EVENT_ID":"a\ud800","event_id":null,"properties":null}`))
	f.Add([]byte("{\"\u212aey\":\"\xff\"}"))
	f.Fuzz(func(t *testing.T, body []byte) {
		checkEquivalent(t, body)
	})
}

// FuzzDecodeEvents drives POST /v1/events with any body as JSON or NDJSON, plain or gzipped:
// the handler never panics, answers only the statuses the contract lists, always with JSON,
// and every event it publishes passes event.Validate.
func FuzzDecodeEvents(f *testing.F) {
	f.Add([]byte("["+ev("e1")+","+ev("e2", "name", `"$nps"`, "properties", `{"score":3}`)+"]"), false, false)
	f.Add([]byte(ev("e1")+"\n"+ev("e2")+"\n"), true, false)
	f.Add([]byte(`[1,{"event_id":2}]`), false, true)
	pub := &fakePublisher{}
	h, _ := newTestHandler(f, Config{MaxBodyBytes: 1 << 20}, pub)
	f.Fuzz(func(t *testing.T, body []byte, ndjson, gz bool) {
		hdr := map[string]string{"Authorization": "Bearer " + testKey, "Content-Type": "application/json"}
		if ndjson {
			hdr["Content-Type"] = "application/x-ndjson"
		}
		payload := body
		if gz {
			payload = gzipBytes(t, body)
			hdr["Content-Encoding"] = "gzip"
		}
		pub.mu.Lock()
		pub.events = pub.events[:0]
		pub.mu.Unlock()
		w := post(h, "/v1/events", payload, hdr)
		checkResponse(t, w, pub, body)
	})
}

// FuzzSegmentBatch drives the Segment endpoints with any body: no panic, only contract
// statuses, and every published event passes event.Validate.
func FuzzSegmentBatch(f *testing.F) {
	f.Add([]byte(`{"batch":[{"type":"track","event":"x","userId":"u","context":{"groupId":"g"},"timestamp":"2026-11-23T11:00:00Z"},{"type":"group","groupId":"g","traits":{"licenses":5}}],"sentAt":"2026-11-23T11:00:01Z"}`), uint8(0))
	f.Add([]byte(`{"writeKey":"`+testKey+`","userId":"u","name":"Home","properties":{"account_id":7}}`), uint8(2))
	f.Add([]byte(`{"type":"identify","userId":"u","traits":{"email":"a@b"}}`), uint8(5))
	paths := []string{"/v1/batch", "/v1/track", "/v1/page", "/v1/screen", "/v1/group", "/v1/identify", "/v1/alias"}
	pub := &fakePublisher{}
	h, _ := newTestHandler(f, Config{MaxBodyBytes: 1 << 20}, pub)
	f.Fuzz(func(t *testing.T, body []byte, path uint8) {
		pub.mu.Lock()
		pub.events = pub.events[:0]
		pub.mu.Unlock()
		w := post(h, paths[int(path)%len(paths)], body, map[string]string{"Authorization": "Bearer " + testKey})
		checkResponse(t, w, pub, body)
	})
}

// checkResponse checks the invariants of any answer to a POST.
func checkResponse(t *testing.T, w *httptest.ResponseRecorder, pub *fakePublisher, body []byte) {
	t.Helper()
	switch w.Code {
	case http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge:
	default:
		t.Fatalf("status %d for body %q: %s", w.Code, body, w.Body)
	}
	if !json.Valid(w.Body.Bytes()) {
		t.Fatalf("response is not JSON: %q", w.Body)
	}
	evs := pub.published()
	if w.Code != http.StatusOK {
		if len(evs) != 0 {
			t.Fatalf("%d events published with status %d", len(evs), w.Code)
		}
		return
	}
	resp := decodeResponse(t, w)
	if resp.Accepted != len(evs) || resp.Rejected != len(resp.Errors) {
		t.Fatalf("accepted %d (published %d), rejected %d with %d errors", resp.Accepted, len(evs), resp.Rejected, len(resp.Errors))
	}
	for _, e := range evs {
		if err := e.Validate(); err != nil {
			t.Fatalf("published event fails Validate: %v\n%+v\nbody %q", err, e, body)
		}
		if len(e.Properties) > 0 && !json.Valid(e.Properties) {
			t.Fatalf("published properties are not JSON: %q", e.Properties)
		}
		if e.Timestamp.IsZero() || e.Timestamp.After(e.ReceivedAt) {
			t.Fatalf("timestamp %v, received %v", e.Timestamp, e.ReceivedAt)
		}
		if _, err := event.Decode(e.AppendJSON(nil)); err != nil {
			t.Fatalf("wire round trip: %v", err)
		}
	}
}
