package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/engage-oss/engage/internal/event"
)

// Tests of newText's invariant: the strings taken from a body are views of its bytes, so
// nothing may write to the body after newText, nor reuse its buffer.

// textBodies are bodies of every shape the decoders take: the golden files, escapes (which
// decode to new strings), keys matched case-insensitively, reserved events whose properties
// are rewritten, Segment calls of every type, and broken documents.
func textBodies(t *testing.T) [][]byte {
	t.Helper()
	var bodies [][]byte
	for _, f := range []string{"testdata/events/mixed_batch.json", "testdata/segment/analytics_js_batch.json"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, b)
	}
	for _, s := range []string{
		"[" + ev("e1") + "," + ev("e\\\"2\\u00e9", "name", `"$account"`, "properties", `{"seats":5, "plan" : "pro"}`) + "]",
		ev("e3", "EVENT_ID", `"x"`, "Account_ID", `"acme"`, "properties", `{"a":[1,2,{"b":"\ud83d\ude00"}]}`),
		ev("n1") + "\n\n" + ev("n2") + "\n" + `{"broken` + "\n" + ev("n3"),
		`[1,"x",{"event_id":7},` + ev("e4", "timestamp", `"2026-13-01T00:00:00Z"`) + "]",
		`{"batch":[{"type":"track","event":"Signed In","userId":"u","messageId":"m1","context":{"groupId":"g"},"timestamp":"2026-11-23T11:00:00Z","properties":{"plan":"pro"}},` +
			`{"type":"group","groupId":"g","messageId":"m2","traits":{"licenses":5}},{"type":"identify","userId":"u"},{"type":"alias","previousId":"a","userId":"u"},` +
			`{"type":"page","name":"Home","userId":"u","messageId":"m3","properties":{"account_id":"g2"}}],"sentAt":"2026-11-23T11:00:01Z","writeKey":"` + testKey + `"}`,
		`{"type":"track","event":"x\u0000y","userId":"u","messageId":"m4","context":{"groupId":"g"},"timestamp":"2026-11-23T11:00:00Z","writeKey":"k"}`,
		`{"batch":[{"type":"screen","name":"S","anonymousId":"an","context":{"groupId":"g"}}]`,
	} {
		bodies = append(bodies, []byte(s))
	}
	return bodies
}

// decodeAll runs everything the handler does with a body's text: every decoder, Build,
// the wire encoding and the error messages. It returns what came out, as strings.
func decodeAll(body []byte, copied bool) []string {
	t := newText(body)
	if copied {
		t = &text{b: body, s: string(body)} // how the handler made its text before newText
	}
	var out []string
	collect := func(items []item, err error) {
		out = append(out, fmt.Sprint(err))
		for i := range items {
			it := &items[i]
			out = append(out, fmt.Sprintf("%d %q %v", it.index, it.in, it.err))
			if it.err != nil {
				continue
			}
			e, err := it.in.Build(testNow)
			out = append(out, fmt.Sprint(err), string(e.AppendJSON(nil)))
		}
	}
	for _, ndjson := range []bool{false, true} {
		collect(decodeEvents(t, ndjson, nil))
	}
	for call := segBatch; call <= segAlias; call++ {
		res, err := decodeSegment(t, call, testNow, nil)
		out = append(out, fmt.Sprintf("%q %d %d", res.writeKey, res.identify, res.alias))
		collect(res.items, err)
	}
	return out
}

// TestBodyNeverWritten: decoding a body, building its events and encoding them leave the
// body's bytes as they were, and give exactly what a copy of the body as the string gave.
func TestBodyNeverWritten(t *testing.T) {
	for i, body := range textBodies(t) {
		orig := bytes.Clone(body)
		got := decodeAll(body, false)
		if !bytes.Equal(body, orig) {
			t.Fatalf("body %d written to:\nwas %q\nnow %q", i, orig, body)
		}
		if want := decodeAll(bytes.Clone(orig), true); !reflect.DeepEqual(got, want) {
			t.Errorf("body %d decodes differently over a view than over a copy:\n%q\n%q", i, got, want)
		}
	}
}

// keepingPublisher keeps every event it is given, as the Publisher contract allows, with a
// deep copy made when it was given.
type keepingPublisher struct {
	mu           sync.Mutex
	kept, copies []event.Event
}

func (p *keepingPublisher) Publish(_ context.Context, evs []event.Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range evs {
		c := e
		c.EventID, c.AccountID, c.UserID, c.Name = strings.Clone(e.EventID), strings.Clone(e.AccountID), strings.Clone(e.UserID), strings.Clone(e.Name)
		c.Properties = bytes.Clone(e.Properties)
		p.kept, p.copies = append(p.kept, e), append(p.copies, c)
	}
	return nil
}

// TestPublishedEventsOutliveRequest: events the Publisher keeps still hold what they held
// when they were published after their requests are answered and many more have been
// served (and the heap collected), plain and gzipped, on every endpoint.
func TestPublishedEventsOutliveRequest(t *testing.T) {
	pub := &keepingPublisher{}
	h, _ := newTestHandler(t, Config{}, pub)
	bodies := textBodies(t)
	paths := []string{"/v1/events", "/v1/batch", "/v1/track", "/v1/page", "/v1/group"}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range 200 {
				body := bodies[(w+r)%len(bodies)]
				hdr := map[string]string{"Authorization": "Bearer " + testKey}
				if r%3 == 0 {
					body = gzipBytes(t, body)
					hdr["Content-Encoding"] = "gzip"
				}
				post(h, paths[r%len(paths)], body, hdr)
				if r%50 == 0 {
					runtime.GC()
				}
			}
		}()
	}
	wg.Wait()
	runtime.GC()
	pub.mu.Lock()
	defer pub.mu.Unlock()
	if len(pub.kept) < 100 {
		t.Fatalf("only %d events published", len(pub.kept))
	}
	for i := range pub.kept {
		if !reflect.DeepEqual(pub.kept[i], pub.copies[i]) {
			got, _ := json.Marshal(pub.kept[i])
			want, _ := json.Marshal(pub.copies[i])
			t.Fatalf("event %d changed after its request:\nnow %s\nwas %s", i, got, want)
		}
	}
}
