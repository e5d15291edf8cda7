package scorer

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/engage-oss/engage/internal/health"
)

// The CloudEvents attributes of a health-change event (contract §3).
const (
	SpecVersion     = "1.0"
	EventSource     = "engage/scorer"
	EventType       = "engage.account.health.changed"
	DataContentType = "application/json"
	// ContentType is the value of the record's content-type header: CloudEvents structured
	// mode, the whole event in the record value.
	ContentType = "application/cloudevents+json"
)

// Record headers of a health-change record.
const (
	HeaderContentType = "content-type"
	// HeaderInputs carries the JSON of the health.Inputs the new score was computed from.
	// It is not part of the event: a restarted scorer reads it back so that the reasons of
	// the account's next change compare with the inputs of this one (health.Reasons wants
	// the inputs from when the account entered its band). Consumers may ignore it.
	HeaderInputs = "engage-inputs"
)

// seqDigits pads the sequence attribute: the CloudEvents sequence extension compares
// sequences as strings, so they must all have the same width.
const seqDigits = 10

// Change is one health-change event: an account entered a band. An account's first band is
// announced too, with PreviousBand health.BandNone (null in JSON).
type Change struct {
	AccountID string
	// Seq numbers the account's changes 1, 2, 3, … . It is the CloudEvent's sequence
	// attribute, and with AccountID it determines the event id.
	Seq uint64
	// PreviousBand is the band announced by the account's previous change; BandNone for the
	// first one.
	PreviousBand health.Band
	// PreviousScore is the score announced with PreviousBand, nil for the first change.
	PreviousScore *float64
	// Band is the band after hysteresis (health.Transition); Score the score behind it.
	Band  health.Band
	Score float64
	// ScoredAt is when the score was computed, in UTC, whole seconds (like account_health).
	ScoredAt     time.Time
	Components   health.Components
	Reasons      []string
	ModelVersion string
	Coverage     float64
	// Inputs travel in the HeaderInputs record header, not in the event.
	Inputs health.Inputs
}

// EventID is the CloudEvent id of an account's change number seq: the first 16 bytes of
// SHA-256 over both, in hex. The same change always gets the same id, so a consumer that
// sees an id twice (a scorer that produced, crashed and was then unsure) can drop the copy.
func EventID(accountID string, seq uint64) string {
	h := sha256.New()
	h.Write([]byte(accountID))
	h.Write([]byte{0})
	h.Write(strconv.AppendUint(nil, seq, 10))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Record is a Kafka record of engagement.health.changes, independent of the client library.
type Record struct {
	Key       []byte
	Value     []byte
	Headers   []RecordHeader
	Partition int32
	Offset    int64
}

// RecordHeader is one Kafka record header.
type RecordHeader struct {
	Key   string
	Value []byte
}

// Header returns the value of the first header named key, or nil.
func (r Record) Header(key string) []byte {
	for _, h := range r.Headers {
		if h.Key == key {
			return h.Value
		}
	}
	return nil
}

type cloudEvent struct {
	SpecVersion     string     `json:"specversion"`
	ID              string     `json:"id"`
	Source          string     `json:"source"`
	Type            string     `json:"type"`
	Subject         string     `json:"subject"`
	Time            string     `json:"time"`
	DataContentType string     `json:"datacontenttype"`
	Sequence        string     `json:"sequence"`
	Data            changeData `json:"data"`
}

type changeData struct {
	AccountID     string            `json:"account_id"`
	PreviousBand  health.Band       `json:"previous_band"`
	Band          health.Band       `json:"band"`
	PreviousScore *float64          `json:"previous_score"`
	Score         float64           `json:"score"`
	ScoredAt      string            `json:"scored_at"`
	Components    health.Components `json:"components"`
	Reasons       []string          `json:"reasons"`
	ModelVersion  string            `json:"model_version"`
	Coverage      float64           `json:"coverage"`
}

// MarshalCloudEvent encodes c as a CloudEvents 1.0 JSON event (structured mode).
func (c Change) MarshalCloudEvent() ([]byte, error) {
	if c.AccountID == "" || c.Seq == 0 || c.Band == health.BandNone {
		return nil, fmt.Errorf("encoding health change of account %q (seq %d, band %s): account, seq and band are required", c.AccountID, c.Seq, c.Band)
	}
	reasons := c.Reasons
	if reasons == nil {
		reasons = []string{} // [] rather than null: there is just no reason to give
	}
	at := c.ScoredAt.UTC().Format(time.RFC3339)
	ev := cloudEvent{
		SpecVersion:     SpecVersion,
		ID:              EventID(c.AccountID, c.Seq),
		Source:          EventSource,
		Type:            EventType,
		Subject:         c.AccountID,
		Time:            at,
		DataContentType: DataContentType,
		Sequence:        fmt.Sprintf("%0*d", seqDigits, c.Seq),
		Data: changeData{
			AccountID:     c.AccountID,
			PreviousBand:  c.PreviousBand,
			Band:          c.Band,
			PreviousScore: c.PreviousScore,
			Score:         c.Score,
			ScoredAt:      at,
			Components:    c.Components,
			Reasons:       reasons,
			ModelVersion:  c.ModelVersion,
			Coverage:      c.Coverage,
		},
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("encoding health change of account %q: %w", c.AccountID, err)
	}
	return b, nil
}

// ToRecord encodes c as the record the scorer produces: key account_id, the CloudEvent as
// value, and the content-type and inputs headers.
func (c Change) ToRecord() (Record, error) {
	v, err := c.MarshalCloudEvent()
	if err != nil {
		return Record{}, err
	}
	in, err := json.Marshal(c.Inputs)
	if err != nil {
		return Record{}, fmt.Errorf("encoding inputs of account %q: %w", c.AccountID, err)
	}
	return Record{
		Key:   []byte(c.AccountID),
		Value: v,
		Headers: []RecordHeader{
			{Key: HeaderContentType, Value: []byte(ContentType)},
			{Key: HeaderInputs, Value: in},
		},
	}, nil
}

// ErrNotHealthChange is wrapped by ParseChange for a well-formed CloudEvent of another type
// or source: another producer's event on the topic, which the scorer skips.
var ErrNotHealthChange = errors.New("not an engage health-change event")

// ParseChange decodes a health-change event written by MarshalCloudEvent and checks that it
// is one: spec version, type, source, a sequence, an id matching account and sequence, and
// a published band. The inputs header is not read here; see ParseRecord.
func ParseChange(value []byte) (Change, error) {
	var ev cloudEvent
	dec := json.NewDecoder(bytes.NewReader(value))
	if err := dec.Decode(&ev); err != nil {
		return Change{}, fmt.Errorf("decoding health change: %w", err)
	}
	if ev.Type != EventType || ev.Source != EventSource {
		return Change{}, fmt.Errorf("decoding health change: type %q from %q: %w", ev.Type, ev.Source, ErrNotHealthChange)
	}
	if ev.SpecVersion != SpecVersion {
		return Change{}, fmt.Errorf("decoding health change: specversion %q, want %q", ev.SpecVersion, SpecVersion)
	}
	d := ev.Data
	if d.AccountID == "" || d.AccountID != ev.Subject {
		return Change{}, fmt.Errorf("decoding health change: account_id %q does not match subject %q", d.AccountID, ev.Subject)
	}
	seq, err := strconv.ParseUint(ev.Sequence, 10, 64)
	if err != nil || seq == 0 {
		return Change{}, fmt.Errorf("decoding health change of account %q: sequence %q is not a positive integer", d.AccountID, ev.Sequence)
	}
	if want := EventID(d.AccountID, seq); ev.ID != want {
		return Change{}, fmt.Errorf("decoding health change of account %q: id %q, want %q for sequence %d", d.AccountID, ev.ID, want, seq)
	}
	if d.Band == health.BandNone {
		return Change{}, fmt.Errorf("decoding health change of account %q: band is missing", d.AccountID)
	}
	at, err := time.Parse(time.RFC3339, d.ScoredAt)
	if err != nil {
		return Change{}, fmt.Errorf("decoding health change of account %q: scored_at: %w", d.AccountID, err)
	}
	return Change{
		AccountID:     d.AccountID,
		Seq:           seq,
		PreviousBand:  d.PreviousBand,
		PreviousScore: d.PreviousScore,
		Band:          d.Band,
		Score:         d.Score,
		ScoredAt:      at.UTC(),
		Components:    d.Components,
		Reasons:       d.Reasons,
		ModelVersion:  d.ModelVersion,
		Coverage:      d.Coverage,
	}, nil
}

// ParseRecord decodes a record of the topic: the event, and the inputs header when present
// (a record from another producer may lack it; the inputs are then zero, which only makes
// the next change's reasons less specific).
func ParseRecord(r Record) (Change, error) {
	c, err := ParseChange(r.Value)
	if err != nil {
		return Change{}, fmt.Errorf("record %d@%d: %w", r.Partition, r.Offset, err)
	}
	if in := r.Header(HeaderInputs); len(in) > 0 {
		if err := json.Unmarshal(in, &c.Inputs); err != nil {
			return Change{}, fmt.Errorf("record %d@%d: header %s: %w", r.Partition, r.Offset, HeaderInputs, err)
		}
	}
	return c, nil
}

// result rebuilds the health.Result an event announced, for health.Reasons.
func (c Change) result(m *health.Model) health.Result {
	return health.Result{
		Score:        c.Score,
		Band:         m.Bands.Of(c.Score),
		Coverage:     c.Coverage,
		Components:   c.Components,
		ModelVersion: c.ModelVersion,
	}
}
