package changetopic_test

import (
	"context"
	"errors"
	"fmt"
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

// accountOn returns the n-th account id (of the form prefix-i) that lives on partition p.
func accountOn(prefix string, p int32, n int) string {
	for i := 0; ; i++ {
		id := fmt.Sprintf("%s-%d", prefix, i)
		if topics.AccountPartition(id, kafka.DefaultPartitions) == p {
			if n == 0 {
				return id
			}
			n--
		}
	}
}

func newTopic(brokers []string) *changetopic.Topic {
	return changetopic.NewTopic(kafka.ClientOpts(brokers, "test-scorer", nil), topics.HealthChanges, "test-scorer", kafka.DefaultPartitions, nil)
}

func replayAll(t *testing.T, brokers []string) []scorer.Change {
	t.Helper()
	var got []scorer.Change
	err := changetopic.Replay(context.Background(), kafka.ClientOpts(brokers, "test-replay", nil), topics.HealthChanges, func(r scorer.Record) error {
		c, err := scorer.ParseRecord(r)
		if err != nil {
			return err
		}
		if string(r.Key) != c.AccountID || string(r.Header(scorer.HeaderContentType)) != scorer.ContentType {
			t.Errorf("record key %q content-type %q", r.Key, r.Header(scorer.HeaderContentType))
		}
		if want := topics.AccountPartition(c.AccountID, kafka.DefaultPartitions); r.Partition != want {
			t.Errorf("account %s on partition %d, want %d", c.AccountID, r.Partition, want)
		}
		got = append(got, c)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestEmitReplay: what Emit publishes, Replay returns, with key, headers, partition and
// per-account order; a change of another partition's account is refused.
func TestEmitReplay(t *testing.T) {
	_, brokers := testenv.Kafka(t)
	ctx := context.Background()
	if n, err := kafka.Partitions(ctx, kafka.ClientOpts(brokers, "test", nil), topics.HealthChanges); err != nil || n != kafka.DefaultPartitions {
		t.Fatalf("Partitions = %d, %v", n, err)
	}
	if got := replayAll(t, brokers); len(got) != 0 {
		t.Fatalf("Replay of an empty topic: %d records", len(got))
	}
	acme, beta := accountOn("acme", 1, 0), accountOn("beta", 1, 1)
	log, err := newTopic(brokers).Open(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	if err := log.Emit(ctx, []scorer.Change{change(acme, 1, health.BandRed), change(beta, 1, health.BandGreen)}); err != nil {
		t.Fatal(err)
	}
	if err := log.Emit(ctx, []scorer.Change{change(acme, 2, health.BandYellow)}); err != nil {
		t.Fatal(err)
	}
	if err := log.Emit(ctx, []scorer.Change{change(accountOn("x", 2, 0), 1, health.BandRed)}); err == nil {
		t.Error("Emit of another partition's account succeeded")
	}
	got := replayAll(t, brokers)
	if len(got) != 3 {
		t.Fatalf("replayed %d changes, want 3", len(got))
	}
	var seqs []uint64
	for _, c := range got {
		if c.AccountID == acme {
			seqs = append(seqs, c.Seq)
			if c.Inputs.MAU != int(c.Seq) {
				t.Errorf("inputs header lost: %+v", c.Inputs)
			}
		}
	}
	if len(seqs) != 2 || seqs[0] != 1 || seqs[1] != 2 {
		t.Errorf("acme's changes replayed as %v, want [1 2] in order", seqs)
	}
	var n int
	if err := log.Replay(ctx, func(scorer.Record) error { n++; return nil }); err != nil || n != 3 {
		t.Errorf("Replay of the partition: %d records, %v", n, err)
	}
	stop := errors.New("stop")
	if err := log.Replay(ctx, func(scorer.Record) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("Replay returned %v, want the callback's error", err)
	}
}

// TestFencing proves on the broker what the scorer relies on when an instance takes a
// partition over from one that was paused (a zombie):
//   - opening the partition aborts the transaction the zombie left open: its records are
//     never visible to read_committed readers, and its commit fails;
//   - the zombie's next Emit fails with scorer.ErrFenced and publishes nothing, and does not
//     disturb the new owner, whose epoch is higher;
//   - Replay stops at the end although the partition ends with transaction markers.
func TestFencing(t *testing.T) {
	_, brokers := testenv.Kafka(t)
	ctx := context.Background()
	tp := newTopic(brokers)
	acme := accountOn("acme", 3, 0)

	zombie, err := tp.Open(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := zombie.Emit(ctx, []scorer.Change{change(acme, 1, health.BandRed)}); err != nil {
		t.Fatal(err)
	}
	// The zombie paused in the middle of a transaction: a raw client with its
	// transactional id and epoch has produced, and not committed.
	mid, err := kgo.NewClient(append(kafka.ClientOpts(brokers, "test-mid", nil), append(kafka.ProducerOpts(),
		kgo.TransactionalID(tp.TransactionalID(3)), kgo.RecordPartitioner(kgo.ManualPartitioner()))...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer mid.Close()
	if err := mid.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	r, _ := change(acme, 2, health.BandYellow).ToRecord()
	if err := mid.ProduceSync(ctx, &kgo.Record{Topic: topics.HealthChanges, Partition: 3, Key: r.Key, Value: r.Value}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	owner, err := tp.Open(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	if owner.Epoch() <= zombie.Epoch() {
		t.Errorf("new owner's epoch %d, zombie's %d: want it higher", owner.Epoch(), zombie.Epoch())
	}
	if err := mid.EndTransaction(ctx, kgo.TryCommit); err == nil {
		t.Error("the zombie's open transaction committed after the takeover")
	}
	if err := zombie.Emit(ctx, []scorer.Change{change(acme, 2, health.BandGreen)}); !errors.Is(err, scorer.ErrFenced) {
		t.Errorf("zombie's Emit = %v, want ErrFenced", err)
	}
	if err := owner.Emit(ctx, []scorer.Change{change(acme, 2, health.BandPower)}); err != nil {
		t.Fatalf("new owner's Emit after the zombie's attempt: %v", err)
	}
	var bands []string
	for _, c := range replayAll(t, brokers) {
		bands = append(bands, fmt.Sprintf("%d:%s", c.Seq, c.Band))
	}
	if fmt.Sprint(bands) != "[1:red 2:power]" {
		t.Errorf("read_committed replay %v, want [1:red 2:power]: the zombie's records must not show", bands)
	}
	// The owner can go on; a zombie that opens again would fence it, which the scorer
	// prevents by asking its group first (scorer.Group.Owns).
	if err := owner.Emit(ctx, []scorer.Change{change(acme, 3, health.BandGreen)}); err != nil {
		t.Fatal(err)
	}
}

func TestReplayMissingTopic(t *testing.T) {
	_, brokers := testenv.Kafka(t)
	err := changetopic.Replay(context.Background(), kafka.ClientOpts(brokers, "test-replay", nil), "no.such.topic", func(scorer.Record) error { return nil })
	if !errors.Is(err, changetopic.ErrTopicMissing) {
		t.Fatalf("Replay of a missing topic = %v, want ErrTopicMissing", err)
	}
}
