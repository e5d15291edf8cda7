package notify

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Record is a record of engagement.health.changes, independent of the client library.
type Record struct {
	Key       []byte
	Value     []byte
	Headers   map[string][]byte
	Partition int32
	Offset    int64
	// Time is when the record was published: a change is retried until Time + MaxAge.
	Time time.Time
}

// Change is what the notifier reads of a health-change event: enough to filter, to sign
// and to write a Slack message. The body it delivers in the cloudevents format is the
// record's value, byte for byte.
type Change struct {
	ID            string
	AccountID     string
	Band          string
	PreviousBand  string // "" for an account's first band
	Score         float64
	PreviousScore *float64
	Reasons       []string
	ModelVersion  string
	ScoredAt      string
	// Plan is the account's plan from the engage-inputs header; "" when unknown.
	Plan string
	Body []byte
}

// HeaderInputs is the record header with the inputs of the score (see docs/HEALTH.md).
const HeaderInputs = "engage-inputs"

// ParseRecord reads a health-change record.
func ParseRecord(r Record) (Change, error) {
	var ev struct {
		ID   string `json:"id"`
		Type string `json:"type"`
		Data struct {
			AccountID     string   `json:"account_id"`
			Band          string   `json:"band"`
			PreviousBand  *string  `json:"previous_band"`
			Score         float64  `json:"score"`
			PreviousScore *float64 `json:"previous_score"`
			Reasons       []string `json:"reasons"`
			ModelVersion  string   `json:"model_version"`
			ScoredAt      string   `json:"scored_at"`
		} `json:"data"`
	}
	if err := json.Unmarshal(r.Value, &ev); err != nil {
		return Change{}, fmt.Errorf("record %d@%d: decoding the health change: %w", r.Partition, r.Offset, err)
	}
	if ev.ID == "" || ev.Data.AccountID == "" || ev.Data.Band == "" {
		return Change{}, fmt.Errorf("record %d@%d: not a health change: id, data.account_id and data.band are required", r.Partition, r.Offset)
	}
	c := Change{ID: ev.ID, AccountID: ev.Data.AccountID, Band: ev.Data.Band, Score: ev.Data.Score,
		PreviousScore: ev.Data.PreviousScore, Reasons: ev.Data.Reasons, ModelVersion: ev.Data.ModelVersion,
		ScoredAt: ev.Data.ScoredAt, Body: r.Value}
	if ev.Data.PreviousBand != nil {
		c.PreviousBand = *ev.Data.PreviousBand
	}
	if in := r.Headers[HeaderInputs]; len(in) > 0 {
		var inputs struct {
			Plan string `json:"plan"`
		}
		if json.Unmarshal(in, &inputs) == nil {
			c.Plan = inputs.Plan
		}
	}
	return c, nil
}

// reasonWords says each reason code of docs/HEALTH.md in words, for people.
var reasonWords = map[string]string{
	"usage_dropped":     "product usage dropped",
	"usage_rose":        "product usage rose",
	"license_overuse":   "more active users than seats",
	"nps_detractor":     "NPS answers are mostly detractors",
	"nps_dropped":       "NPS dropped",
	"nps_promoter":      "NPS answers are mostly promoters",
	"nps_rose":          "NPS rose",
	"tickets_increased": "more support tickets",
	"tickets_decreased": "fewer support tickets",
	"billing_past_due":  "billing is past due",
	"billing_canceled":  "the subscription was canceled",
	"billing_recovered": "billing recovered",
	"trial_converted":   "the trial converted",
	"billing_worsened":  "billing status worsened",
	"billing_improved":  "billing status improved",
	"contraction":       "seats, plan or MRR went down",
	"model_changed":     "the health model changed",
}

// ReasonInWords returns a reason code in words (the code with spaces for one not known).
func ReasonInWords(code string) string {
	if w, ok := reasonWords[code]; ok {
		return w
	}
	return strings.ReplaceAll(code, "_", " ")
}

// bandEmoji marks a band in chat, so that a red account stands out in a channel.
var bandEmoji = map[string]string{"red": ":red_circle:", "yellow": ":large_yellow_circle:", "green": ":large_green_circle:", "power": ":star:"}

// SlackMessage is the body of a Slack incoming webhook for a change: a text (the
// notification's and the fallback's) and Block Kit blocks; the account links to the console.
func SlackMessage(c Change, consoleURL string) ([]byte, error) {
	from := c.PreviousBand
	if from == "" {
		from = "no band"
	}
	score := strconv.FormatFloat(c.Score, 'f', 1, 64)
	if c.PreviousScore != nil {
		score = strconv.FormatFloat(*c.PreviousScore, 'f', 1, 64) + " → " + score
	}
	var reasons []string
	for _, r := range c.Reasons {
		reasons = append(reasons, ReasonInWords(r))
	}
	link := strings.TrimRight(consoleURL, "/") + "/accounts/" + url.PathEscape(c.AccountID)
	text := fmt.Sprintf("%s moved from %s to %s (score %s)", c.AccountID, from, c.Band, score)
	if len(reasons) > 0 {
		text += ": " + strings.Join(reasons, ", ")
	}
	type textObj struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	type block struct {
		Type     string    `json:"type"`
		Text     *textObj  `json:"text,omitempty"`
		Elements []textObj `json:"elements,omitempty"`
	}
	blocks := []block{{Type: "section", Text: &textObj{Type: "mrkdwn", Text: fmt.Sprintf("%s *<%s|%s>* moved from *%s* to *%s* (score %s)",
		bandEmoji[c.Band], link, slackEscape(c.AccountID), from, c.Band, score)}}}
	if len(reasons) > 0 {
		blocks = append(blocks, block{Type: "section", Text: &textObj{Type: "mrkdwn", Text: "• " + slackEscape(strings.Join(reasons, "\n• "))}})
	}
	blocks = append(blocks, block{Type: "context", Elements: []textObj{{Type: "mrkdwn",
		Text: fmt.Sprintf("model %s · scored %s · <%s|open in the console>", slackEscape(c.ModelVersion), c.ScoredAt, link)}}})
	b, err := json.Marshal(struct {
		Text   string  `json:"text"`
		Blocks []block `json:"blocks"`
	}{text, blocks})
	if err != nil {
		return nil, fmt.Errorf("encoding the Slack message of %s: %w", c.ID, err)
	}
	return b, nil
}

// slackEscape escapes the three characters Slack's mrkdwn reserves.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
