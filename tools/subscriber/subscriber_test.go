package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func readEvent(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFormatLine(t *testing.T) {
	tests := []struct {
		file string
		want string
	}{
		{"change.json", "2026-03-02T14:05:10Z acme-corp yellow → red (63.5 → 26.0) billing_past_due, usage_dropped, tickets_increased, nps_dropped [seq 3, id 99be36a2…]"},
		{"first.json", "2026-03-02T09:00:00Z beta new → green (88.0) [seq 1, id 7105167c…]"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			ev, err := Decode(readEvent(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if got := FormatLine(ev); got != tt.want {
				t.Errorf("FormatLine =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, v := range []string{`{`, `{}`, `{"specversion":"1.0","id":"x","data":{"account_id":"a"}}`, `[]`} {
		if _, err := Decode([]byte(v)); err == nil {
			t.Errorf("Decode(%s) accepted", v)
		}
	}
}

// TestWebhook: the event is posted as it was published, retried on 5xx and 429, and
// skipped on other 4xx.
func TestWebhook(t *testing.T) {
	raw := readEvent(t, "change.json")
	ev, err := Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		statuses  []int // answers in order; the last one repeats
		wantCalls int32
	}{
		{"accepted", []int{204}, 1},
		{"retried after 503 and 429", []int{503, 429, 200}, 3},
		{"refused with 400: skipped", []int{400}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := calls.Add(1)
				body, _ := io.ReadAll(r.Body)
				if string(body) != string(raw) || r.Header.Get("Content-Type") != "application/cloudevents+json" || r.Method != http.MethodPost {
					t.Errorf("request %s %q %q", r.Method, r.Header.Get("Content-Type"), body)
				}
				w.WriteHeader(tt.statuses[min(int(n)-1, len(tt.statuses)-1)])
			}))
			defer srv.Close()
			wh := &Webhook{URL: srv.URL, Client: srv.Client(), MaxBackoff: time.Millisecond, Logf: t.Logf}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := wh.Handle(ctx, ev, raw); err != nil {
				t.Fatal(err)
			}
			if calls.Load() != tt.wantCalls {
				t.Errorf("%d calls, want %d", calls.Load(), tt.wantCalls)
			}
		})
	}
}

// FuzzDecode: Decode never panics, and what it accepts has an id, an account and a band.
func FuzzDecode(f *testing.F) {
	f.Add(readEvent(f, "change.json"))
	f.Add(readEvent(f, "first.json"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := Decode(b)
		if err != nil {
			return
		}
		if ev.ID == "" || ev.Data.AccountID == "" || ev.Data.Band == "" {
			t.Fatalf("accepted an incomplete event: %+v", ev)
		}
		if !strings.Contains(FormatLine(ev), ev.Data.AccountID) {
			t.Fatal("line lacks the account")
		}
	})
}
