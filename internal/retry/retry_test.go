package retry

import (
	"context"
	"errors"
	"testing"
	"time"
)

var fast = Policy{Initial: time.Millisecond, Max: 2 * time.Millisecond}

func TestDo(t *testing.T) {
	errOutage := errors.New("outage")
	errRefused := errors.New("refused")
	tests := []struct {
		name      string
		failures  int   // attempts that fail with errOutage before the outcome
		outcome   error // returned after the failures (nil: success)
		cancel    bool  // cancel the context after the first failure
		wantCalls int
		wantErrs  []error // errors.Is targets of the result; none: nil result
	}{
		{name: "succeeds at once", wantCalls: 1},
		{name: "outage waited out", failures: 3, wantCalls: 4},
		{name: "permanent stops at once", outcome: Permanent(errRefused), wantCalls: 1, wantErrs: []error{errRefused}},
		{name: "permanent after an outage", failures: 2, outcome: Permanent(errRefused), wantCalls: 3, wantErrs: []error{errRefused}},
		{name: "cancelled keeps the cause", failures: 1000, cancel: true, wantCalls: 1, wantErrs: []error{context.Canceled, errOutage}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			calls := 0
			err := fast.Do(ctx, nil, "test", func() error {
				calls++
				if calls <= tt.failures {
					if tt.cancel {
						cancel()
					}
					return errOutage
				}
				return tt.outcome
			})
			if calls != tt.wantCalls {
				t.Errorf("calls = %d, want %d", calls, tt.wantCalls)
			}
			if len(tt.wantErrs) == 0 && err != nil {
				t.Fatalf("err = %v, want nil", err)
			}
			for _, want := range tt.wantErrs {
				if !errors.Is(err, want) {
					t.Errorf("err = %v, want it to wrap %v", err, want)
				}
			}
		})
	}
}
