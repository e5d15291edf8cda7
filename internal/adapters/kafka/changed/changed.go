// Package changed is engagement.accounts.changed, the internal topic that tells scorers
// which accounts to rescore: workers publish, after each stored batch, the accounts whose
// inputs it changed (Notifier), and the scorers' consumer group shares its partitions
// (Group), which is how several scorer instances share the accounts.
//
// The topic is partitioned like engagement.health.changes (topics.AccountPartition, the
// same partition count), so partition p of this topic and partition p of the health-change
// topic hold the same accounts, and the group's assignment of this topic is the scorers'
// ownership of the health-change topic's partitions.
//
// Invariants:
//   - A worker notifies after the batch's rows are stored and before it commits the batch's
//     offsets, so every stored change is notified at least once (a crash in between replays
//     the batch, stores it again idempotently and notifies again).
//   - A scorer commits a partition's notification offset only after the accounts notified
//     below it were rescored (scorer.Group.Commit). A partition that changes hands is read
//     by its new owner from the last committed offset, and the new owner rescores the whole
//     partition first anyway, so no notification falls between two owners.
package changed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/engage-oss/engage/internal/adapters/kafka"
	"github.com/engage-oss/engage/internal/topics"
)

// Encode is the value of a notification record: a JSON array of account ids.
func Encode(accounts []string) ([]byte, error) { return json.Marshal(accounts) }

// Decode reads a notification record's value.
func Decode(value []byte) ([]string, error) {
	var ids []string
	if err := json.Unmarshal(value, &ids); err != nil {
		return nil, fmt.Errorf("decoding an account notification: %w", err)
	}
	return ids, nil
}

// Notifier publishes account notifications: one record per partition per call.
type Notifier struct {
	cl    *kgo.Client
	topic string
	parts int32
}

// NewNotifier connects a producer of its own (opts: kafka.ClientOpts) and reads the topic's
// partition count.
func NewNotifier(ctx context.Context, opts []kgo.Opt, topic string) (*Notifier, error) {
	parts, err := kafka.Partitions(ctx, opts, topic)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append(append(slices.Clone(opts), kafka.ProducerOpts()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		return nil, fmt.Errorf("creating the producer of %s: %w", topic, err)
	}
	return &Notifier{cl: cl, topic: topic, parts: parts}, nil
}

// Close closes the producer.
func (n *Notifier) Close() { n.cl.Close() }

// AccountsChanged publishes the distinct accounts of ids and waits for the broker.
func (n *Notifier) AccountsChanged(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	byPart := map[int32][]string{}
	seen := make(map[string]struct{}, len(ids))
	for _, id := range ids {
		if _, ok := seen[id]; ok {
			continue
		}
		seen[id] = struct{}{}
		p := topics.AccountPartition(id, n.parts)
		byPart[p] = append(byPart[p], id)
	}
	recs := make([]*kgo.Record, 0, len(byPart))
	for p, ids := range byPart {
		v, err := Encode(ids)
		if err != nil {
			return err
		}
		recs = append(recs, &kgo.Record{Topic: n.topic, Partition: p, Value: v})
	}
	if err := n.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("notifying %d changed accounts on %s: %w", len(seen), n.topic, err)
	}
	return nil
}

// Assignee is given and relieved of partitions (scorer.Scorer).
type Assignee interface {
	Assign(parts []int32)
	Revoke(parts []int32)
}

// Config configures a Group.
type Config struct {
	Brokers []string
	// Group is the consumer group of the scorers; instances with the same group share the
	// accounts.
	Group string
	// SessionTimeout is how long an instance may be silent before the group gives its
	// partitions to the others; HeartbeatInterval how often it says it is alive.
	SessionTimeout, HeartbeatInterval time.Duration
}

// Group implements scorer.Group with a franz-go consumer group on engagement.accounts.changed.
type Group struct {
	cfg   Config
	topic string
	log   *zap.Logger

	mu      sync.Mutex
	cl      *kgo.Client // set by Run
	notices map[int32]map[string]struct{}
	next    map[int32]int64

	notified *prometheus.CounterVec
	lag      *prometheus.GaugeVec
}

// NewGroup builds a group member; Run joins.
func NewGroup(cfg Config, topic string, log *zap.Logger, reg prometheus.Registerer) *Group {
	if log == nil {
		log = zap.NewNop()
	}
	g := &Group{cfg: cfg, topic: topic, log: log, notices: map[int32]map[string]struct{}{}, next: map[int32]int64{},
		notified: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "engage_scorer_notifications_total",
			Help: "Account notifications read from engagement.accounts.changed, by outcome (ok, undecodable)."}, []string{"outcome"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "engage_scorer_notification_lag",
			Help: "Notifications not yet read, per owned partition of engagement.accounts.changed (high watermark minus the next offset)."}, []string{"partition"}),
	}
	g.notified.WithLabelValues("ok")
	g.notified.WithLabelValues("undecodable")
	if reg != nil {
		reg.MustRegister(g.notified, g.lag)
	}
	return g
}

// Run joins the group and reads notifications until ctx ends; the assignee is given the
// partitions the group assigns. On return the member has left the group.
func (g *Group) Run(ctx context.Context, to Assignee) error {
	forget := func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
		parts := m[g.topic]
		to.Revoke(parts)
		g.mu.Lock()
		for _, p := range parts {
			delete(g.notices, p)
			delete(g.next, p)
			g.lag.DeleteLabelValues(fmt.Sprint(p))
		}
		g.mu.Unlock()
	}
	opts := append(kafka.ClientOpts(g.cfg.Brokers, "engage-scorer", g.log),
		kgo.ConsumerGroup(g.cfg.Group),
		kgo.ConsumeTopics(g.topic),
		kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(g.cfg.SessionTimeout),
		kgo.HeartbeatInterval(g.cfg.HeartbeatInterval),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { to.Assign(m[g.topic]) }),
		kgo.OnPartitionsRevoked(forget),
		kgo.OnPartitionsLost(forget),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("joining scorer group %s: %w", g.cfg.Group, err)
	}
	g.mu.Lock()
	g.cl = cl
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.cl = nil
		g.mu.Unlock()
		cl.Close() // leaves the group: the others take the partitions over at once
	}()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fs.EachError(func(t string, p int32, err error) {
			g.log.Warn("reading account notifications", zap.String("topic", t), zap.Int32("partition", p), zap.Error(err))
		})
		fs.EachPartition(func(fp kgo.FetchTopicPartition) {
			if len(fp.Records) == 0 {
				return
			}
			last := fp.Records[len(fp.Records)-1]
			g.mu.Lock()
			set := g.notices[fp.Partition]
			if set == nil {
				set = map[string]struct{}{}
				g.notices[fp.Partition] = set
			}
			for _, r := range fp.Records {
				ids, err := Decode(r.Value)
				if err != nil {
					// A record that names no account changes nothing; the daily full pass
					// covers whatever it meant.
					g.notified.WithLabelValues("undecodable").Inc()
					g.log.Warn("skipping an undecodable account notification", zap.Int32("partition", r.Partition),
						zap.Int64("offset", r.Offset), zap.Error(err))
					continue
				}
				g.notified.WithLabelValues("ok").Inc()
				for _, id := range ids {
					set[id] = struct{}{}
				}
			}
			g.next[fp.Partition] = last.Offset + 1
			g.lag.WithLabelValues(fmt.Sprint(fp.Partition)).Set(float64(fp.HighWatermark - last.Offset - 1))
			g.mu.Unlock()
		})
	}
}

// Take returns the accounts notified on a partition since the last Take.
func (g *Group) Take(p int32) ([]string, int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	set := g.notices[p]
	if len(set) == 0 {
		return nil, -1
	}
	ids := make([]string, 0, len(set))
	for id := range set {
		ids = append(ids, id)
	}
	delete(g.notices, p)
	return ids, g.next[p]
}

func (g *Group) client() (*kgo.Client, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cl == nil {
		return nil, errors.New("the scorer group is not running")
	}
	return g.cl, nil
}

// Commit commits notification offsets for the group.
func (g *Group) Commit(ctx context.Context, offsets map[int32]int64) error {
	cl, err := g.client()
	if err != nil {
		return err
	}
	if err := kafka.CommitOffsets(ctx, cl, g.topic, offsets); err != nil {
		return fmt.Errorf("committing notification offsets of group %s: %w", g.cfg.Group, err)
	}
	return nil
}

// Owns asks the group coordinator whether the group is stable and this member is assigned
// partition p in it. A member that was paused past its session has been removed, or its
// partitions given to others, so it learns here that it must not open p again.
func (g *Group) Owns(ctx context.Context, p int32) error {
	cl, err := g.client()
	if err != nil {
		return err
	}
	member, _ := cl.GroupMetadata()
	if member == "" {
		return fmt.Errorf("partition %d: not a member of group %s yet", p, g.cfg.Group)
	}
	described, err := kadm.NewClient(cl).DescribeGroups(ctx, g.cfg.Group)
	if err != nil {
		return fmt.Errorf("describing group %s: %w", g.cfg.Group, err)
	}
	d, ok := described[g.cfg.Group]
	if !ok || d.Err != nil {
		return fmt.Errorf("describing group %s: %v", g.cfg.Group, d.Err)
	}
	if d.State != "Stable" {
		return fmt.Errorf("partition %d: group %s is %s", p, g.cfg.Group, d.State)
	}
	for _, m := range d.Members {
		if m.MemberID != member {
			continue
		}
		if c, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range c.Topics {
				if t.Topic == g.topic && slices.Contains(t.Partitions, p) {
					return nil
				}
			}
		}
		return fmt.Errorf("partition %d: assigned to another member of group %s", p, g.cfg.Group)
	}
	return fmt.Errorf("partition %d: member %s is no longer in group %s", p, member, g.cfg.Group)
}
