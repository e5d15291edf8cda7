// Command subscriber is an example consumer of engage's health-change events for
// customer-success tools. It joins a Kafka consumer group on engagement.health.changes
// (with github.com/segmentio/kafka-go, to show that any Kafka client will do) and either
// prints each change as one readable line or forwards it to a webhook as a CloudEvent:
//
//	subscriber                                     # print: 2026-03-02T14:05:10Z acme yellow → red (63.5 → 26.0) billing_past_due [seq 3, id 99be36a2…]
//	subscriber -webhook https://cs.example.com/hooks/engage
//
// Delivery is at least once: an event's offset is committed after it was printed or
// accepted by the webhook (2xx), so after a crash the last events may come again. Each
// change has a stable CloudEvent id, so a receiver de-duplicates by id. A new consumer group
// starts at the beginning of the topic.
package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/engage-oss/engage/internal/service"
)

func main() {
	var (
		cfg     Config
		webhook string
		verbose bool
	)
	f := service.NewFlags("subscriber")
	f.List(&cfg.Brokers, "kafka-brokers", "KAFKA_BROKERS", "127.0.0.1:9092", "Kafka bootstrap brokers")
	f.String(&cfg.Group, "group", "SUBSCRIBER_GROUP", "engage-subscriber", "Kafka consumer group")
	f.String(&cfg.Topic, "topic", "SUBSCRIBER_TOPIC", "engagement.health.changes", "topic of health-change events")
	f.String(&webhook, "webhook", "SUBSCRIBER_WEBHOOK", "", "POST each event to this URL (CloudEvents structured mode) instead of printing it")
	f.Bool(&verbose, "v", "SUBSCRIBER_VERBOSE", false, "print component scores too")
	if err := f.Parse(os.Args[1:]); err != nil {
		service.Fatal("subscriber", err)
	}
	logger := log.New(os.Stderr, "subscriber: ", log.LstdFlags)

	handle := func(_ context.Context, ev Event, _ []byte) error {
		line := FormatLine(ev)
		if verbose {
			line += "  " + componentsLine(ev)
		}
		_, err := fmt.Println(line)
		return err
	}
	if webhook != "" {
		w := &Webhook{URL: webhook, Client: &http.Client{Timeout: 10 * time.Second}, Logf: logger.Printf}
		handle = w.Handle
	}

	ctx, stop := service.SignalContext()
	defer stop()
	logger.Printf("consuming %s as group %s from %v", cfg.Topic, cfg.Group, cfg.Brokers)
	if err := Run(ctx, cfg, handle, logger.Printf); err != nil {
		logger.Fatal(err)
	}
}
