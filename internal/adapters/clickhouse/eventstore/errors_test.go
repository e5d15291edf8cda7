package eventstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"

	"github.com/engage-oss/engage/internal/dev/testenv"
	"github.com/engage-oss/engage/internal/worker"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestClassify pins which ClickHouse failures send events to the dead-letter topic (the rows
// themselves are bad) and which are waited out (everything else: losing an event to a
// misread outage is worse than waiting).
func TestClassify(t *testing.T) {
	ex := func(code int32) error {
		return &proto.Exception{Code: code, Name: "DB::Exception", Message: fmt.Sprintf("code %d", code)}
	}
	for _, tc := range []struct {
		name      string
		err       error
		permanent bool
	}{
		{"nil", nil, false},
		{"cannot parse text", ex(6), true},
		{"parse assertion", ex(27), true},
		{"type mismatch", ex(53), true},
		{"cannot convert type", ex(70), true},
		{"incorrect data", ex(117), true},
		{"string too large", ex(131), true},
		{"value out of range", ex(321), true},
		{"wrapped data error", fmt.Errorf("inserting into events_raw: %w", ex(53)), true},
		{"too many parts", ex(252), false},
		{"unknown table while migrations run", ex(60), false},
		{"memory limit", ex(241), false},
		{"timeout", ex(159), false},
		{"readonly replica", ex(242), false},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, false},
		{"connection reset", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), false},
		{"deadline", context.DeadlineExceeded, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := classify(tc.err)
			if tc.err == nil {
				if got != nil {
					t.Fatalf("classify(nil) = %v", got)
				}
				return
			}
			if p := worker.IsPermanent(got); p != tc.permanent {
				t.Fatalf("IsPermanent(classify(%v)) = %v, want %v", tc.err, p, tc.permanent)
			}
			if !errors.Is(got, tc.err) {
				t.Fatalf("classify(%v) = %v, which no longer wraps the cause", tc.err, got)
			}
		})
	}
}

// TestClassifyServerErrors checks the classification on exceptions a real server sends, so
// that the driver's wrapping of them cannot hide the code.
func TestClassifyServerErrors(t *testing.T) {
	conn, _ := testenv.ClickHouse(t).NewDatabase(t)
	ctx := context.Background()
	for _, tc := range []struct {
		query     string
		permanent bool
	}{
		{"SELECT toUInt8('not a number')", true},
		{"SELECT count() FROM no_such_table", false},
	} {
		err := conn.Exec(ctx, tc.query)
		if err == nil {
			t.Fatalf("%s succeeded", tc.query)
		}
		if p := worker.IsPermanent(classify(err)); p != tc.permanent {
			t.Errorf("%s: %v classified permanent=%v, want %v", tc.query, err, p, tc.permanent)
		}
	}
}
