package ingest

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/engage-oss/engage/internal/adapters/kafka"
	"github.com/engage-oss/engage/internal/dev/testenv"
	"github.com/engage-oss/engage/internal/event"
	"github.com/engage-oss/engage/internal/topics"
	"github.com/engage-oss/engage/schemas/schematest"
)

// TestSegmentClientToKafka drives the official Segment Go client (analytics-go v3) against the
// real handler wired to a real kafka.Publisher on an in-process cluster, then reads
// engagement.events back: the whole way of a Segment call until it is durable, with the record
// format of schemas/event.schema.json and the keys every Kafka client agrees on.
func TestSegmentClientToKafka(t *testing.T) {
	_, brokers := testenv.Kafka(t)
	prod, err := kgo.NewClient(append(kafka.ClientOpts(brokers, "ingest-test", nil), kafka.ProducerOpts()...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	h, _ := newTestHandler(t, Config{now: time.Now}, kafka.NewPublisher(prod, topics.Events))
	srv := httptest.NewServer(h)
	defer srv.Close()

	cb := &callbacks{}
	client := newSegmentClient(t, srv.URL, testKey, cb)
	before := time.Now()
	for _, m := range segmentMessages() {
		if err := client.Enqueue(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := client.Close(); err != nil { // flushes; every request has had its answer
		t.Fatal(err)
	}
	if cb.ok != 7 || cb.fail != 0 {
		t.Fatalf("client callbacks: %d ok, %d failed (%v)", cb.ok, cb.fail, cb.lastErr)
	}

	recs := consumeAll(t, brokers, 6)
	schemas, err := schematest.Load()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]event.Event{}
	partitionOf := map[string]int32{}
	for _, r := range recs {
		if err := schemas.Validate(schematest.RecordRef, r.Value); err != nil {
			t.Errorf("record %s does not match the wire schema: %v", r.Value, err)
		}
		e, err := event.Decode(r.Value)
		if err != nil {
			t.Fatalf("decoding %s: %v", r.Value, err)
		}
		if _, dup := got[e.EventID]; dup {
			t.Errorf("event %s is on the topic twice", e.EventID)
		}
		got[e.EventID] = e
		if string(r.Key) != e.AccountID {
			t.Errorf("record of %s has key %q, want the account", e.EventID, r.Key)
		}
		// The partition the Java client's default partitioner would choose, so consumers in
		// any language agree on where an account's events are.
		if want := int32(kafkaPartition(r.Key, kafka.DefaultPartitions)); r.Partition != want {
			t.Errorf("record of account %s on partition %d, want %d (murmur2)", r.Key, r.Partition, want)
		}
		if p, ok := partitionOf[e.AccountID]; ok && p != r.Partition {
			t.Errorf("account %s is on partitions %d and %d", e.AccountID, p, r.Partition)
		}
		partitionOf[e.AccountID] = r.Partition
	}

	cases := []struct {
		id, account, user, name, props string
	}{
		{"t1", "acme", "u1", "Report Exported", `{"format":"pdf"}`}, // account from the batch's context.groupId
		{"t2", "globex", "anon-9", "Signed In", ""},                 // the message's own context.groupId wins
		{"p1", "acme", "u1", "page:Pricing", `{"path":"/pricing"}`}, // page → page:<name>
		{"s1", "acme", "u1", "screen:Settings", ""},                 // screen → screen:<name>
		{"g1", "acme", "u1", event.NameAccount, `{"seats":25,"plan":"pro","licenses":25,"mrr":990,"status":"active","name":"Acme"}`},
		{"n1", "acme", "u1", event.NameNPS, `{"score":9}`}, // a track of a reserved name is that signal
	}
	if _, ok := got["i1"]; ok {
		t.Error("identify i1 was published; it must only be acknowledged")
	}
	for _, c := range cases {
		t.Run(c.id, func(t *testing.T) {
			e, ok := got[c.id]
			if !ok {
				t.Fatalf("messageId %s is not an event_id on the topic (have %v)", c.id, keys(got))
			}
			if e.AccountID != c.account || e.UserID != c.user || e.Name != c.name || !jsonEqual(string(e.Properties), c.props) {
				t.Errorf("got %s/%s/%s %s, want %+v", e.AccountID, e.UserID, e.Name, e.Properties, c)
			}
			if e.SentAt.IsZero() || e.ReceivedAt.Before(before) || e.Timestamp.After(e.ReceivedAt) || e.Timestamp.Before(before.Add(-time.Second)) {
				t.Errorf("times: ts %v sent %v received %v (test started %v)", e.Timestamp, e.SentAt, e.ReceivedAt, before)
			}
			if err := e.Validate(); err != nil {
				t.Error(err)
			}
		})
	}
	tr, err := event.ParseAccountTraits(got["g1"].Properties)
	if err != nil || tr.Seats == nil || *tr.Seats != 25 || tr.Plan == nil || *tr.Plan != "pro" || tr.Status == nil || *tr.Status != event.StatusActive {
		t.Errorf("group traits as $account: %+v, %v", tr, err)
	}
}

// consumeAll reads engagement.events from the start and fails t unless it holds exactly want
// records. Every record was acknowledged before the Segment client's Close returned, so the
// topic's end offsets are final and bound the read: a record too many is seen without
// waiting for it.
func consumeAll(t *testing.T, brokers []string, want int) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topics.Events),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topics.Events)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatalf("listing the end offsets of %s: %v", topics.Events, err)
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	var recs []*kgo.Record
	for int64(len(recs)) < total {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of the %d records on %s: %v", len(recs), total, topics.Events, ctx.Err())
		}
		for _, e := range fs.Errors() {
			t.Fatalf("consuming %s/%d: %v", e.Topic, e.Partition, e.Err)
		}
		recs = append(recs, fs.Records()...)
	}
	if len(recs) != want {
		var vals []string
		for _, r := range recs {
			vals = append(vals, string(r.Value))
		}
		t.Fatalf("read %d records from %s, want %d: %q", len(recs), topics.Events, want, vals)
	}
	return recs
}

// kafkaPartition is the Java client's default partition for a key: murmur2, sign bit
// cleared, modulo the partition count (Utils.murmur2 and BuiltInPartitioner in Kafka).
func kafkaPartition(key []byte, partitions int) int {
	return int(murmur2(key)&0x7fffffff) % partitions
}

func murmur2(data []byte) uint32 {
	const m, r = 0x5bd1e995, 24
	h := uint32(0x9747b28c) ^ uint32(len(data))
	n := len(data) / 4 * 4
	for i := 0; i < n; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	switch len(data) % 4 {
	case 3:
		h ^= uint32(data[n+2]) << 16
		fallthrough
	case 2:
		h ^= uint32(data[n+1]) << 8
		fallthrough
	case 1:
		h ^= uint32(data[n])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}

// TestMurmur2 checks the test's murmur2 against Kafka's own test vectors (UtilsTest).
func TestMurmur2(t *testing.T) {
	cases := []struct {
		key  string
		want int32
	}{
		{"21", -973932308},
		{"foobar", -790332482},
		{"a-little-bit-long-string", -985981536},
		{"a-little-bit-longer-string", -1486304829},
		{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
		{"abc", 479470107},
	}
	for _, c := range cases {
		if got := int32(murmur2([]byte(c.key))); got != c.want {
			t.Errorf("murmur2(%q) = %d, want %d", c.key, got, c.want)
		}
	}
}
