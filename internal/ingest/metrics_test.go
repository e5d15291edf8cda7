package ingest

import (
	"errors"
	"testing"

	"github.com/engage-oss/engage/internal/event"
	"github.com/engage-oss/engage/internal/jsonscan"
)

// TestReasonOf pins the closed set of rejection reason labels: whatever the error, the label
// is one of a fixed list, so a client cannot grow the metric's cardinality.
func TestReasonOf(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{&event.FieldError{Field: "timestamp", Reason: "x"}, "timestamp"},
		{&event.FieldError{Field: "properties.score", Reason: "x"}, "properties.score"},
		{errAccountNotAllowed, reasonAccountNotAllowed},
		{errNotObject('['), reasonNotObject},
		{&lineError{line: 3, err: jsonscan.ErrAt(1, "x")}, reasonInvalidJSON},
		{fieldError("type", "x"), reasonSegmentType},
		{fieldError("userId", "x"), "user_id"},
		{fieldError("client-chosen-field", "x"), reasonOther},
		{errors.New("anything"), reasonOther},
	}
	for _, tc := range cases {
		t.Run(tc.err.Error(), func(t *testing.T) {
			if got := reasonOf(tc.err); got != tc.want {
				t.Errorf("reasonOf = %q, want %q", got, tc.want)
			}
		})
	}
}
