package notifyfeed_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/engage-oss/engage/internal/adapters/kafka"
	"github.com/engage-oss/engage/internal/adapters/kafka/notifyfeed"
	"github.com/engage-oss/engage/internal/dev/testenv"
	"github.com/engage-oss/engage/internal/notify"
	"github.com/engage-oss/engage/internal/topics"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func produce(t *testing.T, brokers []string, values ...string) {
	t.Helper()
	cl, err := kgo.NewClient(append(kafka.ClientOpts(brokers, "test", nil), kafka.ProducerOpts()...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, v := range values {
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: topics.HealthChanges, Key: []byte("acme"), Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

func poll(t *testing.T, f notify.Feed, n int) []notify.Record {
	t.Helper()
	var out []notify.Record
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for len(out) < n {
		recs, err := f.Poll(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("got %d records, want %d", len(out), n)
		}
		out = append(out, recs...)
	}
	return out
}

// TestFeedStartsAtEndAndResumes: a new destination's group starts where the topic ends
// (older changes are not delivered), and a restarted feed resumes at the committed offset.
func TestFeedStartsAtEndAndResumes(t *testing.T) {
	_, brokers := testenv.Kafka(t)
	ctx := context.Background()
	produce(t, brokers, "old-1", "old-2")
	opts := kafka.ClientOpts(brokers, "test-notifier", nil)
	f, err := notifyfeed.NewFeed(ctx, opts, "engage-notifier.cs", topics.HealthChanges, nil)
	if err != nil {
		t.Fatal(err)
	}
	produce(t, brokers, "new-1", "new-2")
	recs := poll(t, f, 2)
	if string(recs[0].Value) != "new-1" || string(recs[1].Value) != "new-2" || string(recs[0].Key) != "acme" || recs[0].Time.IsZero() {
		t.Fatalf("first records %q %q: want the changes published after the destination was added", recs[0].Value, recs[1].Value)
	}
	if err := f.Commit(ctx, map[int32]int64{recs[0].Partition: recs[0].Offset + 1}); err != nil { // new-1 handled, new-2 not
		t.Fatal(err)
	}
	f.Close()
	f, err = notifyfeed.NewFeed(ctx, opts, "engage-notifier.cs", topics.HealthChanges, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if recs := poll(t, f, 1); string(recs[0].Value) != "new-2" {
		t.Fatalf("after a restart: %q, want new-2 (the first not committed)", recs[0].Value)
	}
}

// TestReplayAndDeadLetters: a replay reads what was published since a time and ends; a
// dead letter carries the original record and the destination, reason and source headers.
func TestReplayAndDeadLetters(t *testing.T) {
	_, brokers := testenv.Kafka(t)
	ctx := context.Background()
	produce(t, brokers, "a", "b", "c")
	opts := kafka.ClientOpts(brokers, "test-replay", nil)
	r, err := notifyfeed.NewReplay(ctx, opts, topics.HealthChanges, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	recs := poll(t, r, 10)
	if len(recs) != 3 {
		t.Fatalf("replay read %d records, want 3 and the end", len(recs))
	}
	if _, err := r.Poll(ctx); !errors.Is(err, io.EOF) {
		t.Errorf("Poll after the end = %v, want io.EOF", err)
	}
	empty, err := notifyfeed.NewReplay(ctx, opts, topics.HealthChanges, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer empty.Close()
	if _, err := empty.Poll(ctx); !errors.Is(err, io.EOF) {
		t.Errorf("a replay from the future: %v, want io.EOF at once", err)
	}

	dl, err := notifyfeed.NewDeadLetters(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Close()
	if err := dl.DeadLetter(ctx, "cs-tool", recs[1], "HTTP 410"); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topics.HealthChangesDLQ), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	fs := cl.PollFetches(pctx)
	got := fs.Records()
	if len(got) != 1 || string(got[0].Value) != "b" || string(got[0].Key) != "acme" {
		t.Fatalf("dead letters %v", got)
	}
	h := map[string]string{}
	for _, x := range got[0].Headers {
		h[x.Key] = string(x.Value)
	}
	if h[topics.HeaderDLQDestination] != "cs-tool" || h[topics.HeaderDLQReason] != "HTTP 410" || h[topics.HeaderDLQSource] == "" {
		t.Errorf("headers %v", h)
	}
}
