package changetopic_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/engage-oss/engage/internal/adapters/kafka"
	"github.com/engage-oss/engage/internal/adapters/kafka/changetopic"
	"github.com/engage-oss/engage/internal/dev/testenv"
	"github.com/engage-oss/engage/internal/health"
	"github.com/engage-oss/engage/internal/scorer"
	"github.com/engage-oss/engage/internal/topics"
)

func change(account string, seq uint64, band health.Band) scorer.Change {
	m := health.DefaultModel()
	in := health.Inputs{MAU: int(seq), Plan: "pro"}
	r := health.Score(m, in)
	c := scorer.Change{AccountID: account, Seq: seq, Band: band, Score: r.Score, Components: r.Components,
		ScoredAt: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC), ModelVersion: r.ModelVersion, Coverage: r.Coverage, Inputs: in}
	if seq > 1 {
		c.PreviousBand, c.PreviousScore = health.BandRed, ptr(10.0)
	}
	return c
}

func ptr[T any](v T) *T { return &v }

func producer(t *testing.T, brokers []string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append(kafka.ClientOpts(brokers, "test-scorer", nil), kafka.ProducerOpts()...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// TestEmitReplay: what Emit produces, Replay returns, with key, headers and per-account order.
func TestEmitReplay(t *testing.T) {
	_, brokers := testenv.Kafka(t)
	ctx := context.Background()
	em := changetopic.NewEmitter(producer(t, brokers), topics.HealthChanges)
	rp := changetopic.NewReplayer(kafka.ClientOpts(brokers, "test-replay", nil), topics.HealthChanges)

	var n int
	if err := rp.Replay(ctx, func(scorer.Record) error { n++; return nil }); err != nil || n != 0 {
		t.Fatalf("Replay of an empty topic: %d records, %v", n, err)
	}
	sent := []scorer.Change{change("acme", 1, health.BandRed), change("beta", 1, health.BandGreen), change("acme", 2, health.BandYellow)}
	if err := em.Emit(ctx, sent[:2]); err != nil {
		t.Fatal(err)
	}
	if err := em.Emit(ctx, sent[2:]); err != nil {
		t.Fatal(err)
	}
	if err := em.Check(ctx); err != nil {
		t.Fatal(err)
	}

	var got []scorer.Change
	partitions := map[string]int32{}
	err := rp.Replay(ctx, func(r scorer.Record) error {
		c, err := scorer.ParseRecord(r)
		if err != nil {
			return err
		}
		if string(r.Key) != c.AccountID || string(r.Header(scorer.HeaderContentType)) != scorer.ContentType {
			t.Errorf("record key %q content-type %q", r.Key, r.Header(scorer.HeaderContentType))
		}
		if p, ok := partitions[c.AccountID]; ok && p != r.Partition {
			t.Errorf("account %s on partitions %d and %d", c.AccountID, p, r.Partition)
		}
		partitions[c.AccountID] = r.Partition
		got = append(got, c)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("replayed %d changes, want 3", len(got))
	}
	var acme []uint64
	for _, c := range got {
		if c.AccountID == "acme" {
			acme = append(acme, c.Seq)
			if c.Inputs.MAU != int(c.Seq) {
				t.Errorf("inputs header lost: %+v", c.Inputs)
			}
		}
	}
	if len(acme) != 2 || acme[0] != 1 || acme[1] != 2 {
		t.Errorf("acme's changes replayed as %v, want [1 2] in order", acme)
	}

	stop := errors.New("stop")
	if err := rp.Replay(ctx, func(scorer.Record) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("Replay returned %v, want the callback's error", err)
	}
}

func TestReplayMissingTopic(t *testing.T) {
	_, brokers := testenv.Kafka(t)
	rp := changetopic.NewReplayer(kafka.ClientOpts(brokers, "test-replay", nil), "no.such.topic")
	err := rp.Replay(context.Background(), func(scorer.Record) error { return nil })
	if !errors.Is(err, changetopic.ErrTopicMissing) {
		t.Fatalf("Replay of a missing topic = %v, want ErrTopicMissing", err)
	}
}
