package event

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

var recv = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func validInput() Input {
	return Input{EventID: "e1", AccountID: "acme", UserID: "u1", Name: "report.exported", Timestamp: "2026-11-23T11:00:00Z"}
}

// TestBuild pins the contract's field rules (§2) as Build applies them.
func TestBuild(t *testing.T) {
	cases := []struct {
		name    string
		edit    func(*Input)
		field   string // "" : valid; else the FieldError.Field
		wantMsg string // substring of the error
	}{
		{"valid", func(*Input) {}, "", ""},
		{"missing event_id", func(in *Input) { in.EventID = "" }, "event_id", "required"},
		{"event_id of 128 runes", func(in *Input) { in.EventID = strings.Repeat("é", 128) }, "", ""},
		{"event_id of 129 runes", func(in *Input) { in.EventID = strings.Repeat("é", 129) }, "event_id", "longer than 128"},
		{"missing account", func(in *Input) { in.AccountID = "" }, "account_id", "required"},
		{"missing user", func(in *Input) { in.UserID = "" }, "user_id", "required"},
		{"$account needs no user", func(in *Input) { in.Name, in.UserID = NameAccount, "" }, "", ""},
		{"missing name", func(in *Input) { in.Name = "" }, "name", "required"},
		{"unknown reserved name", func(in *Input) { in.Name = "$login" }, "name", "not a reserved name"},
		{"invalid UTF-8 name", func(in *Input) { in.Name = "a\xff" }, "name", "UTF-8"},
		{"missing timestamp", func(in *Input) { in.Timestamp = "" }, "timestamp", "required"},
		{"timestamp not RFC 3339", func(in *Input) { in.Timestamp = "2026-11-23 11:00" }, "timestamp", "RFC 3339"},
		{"timestamp before 2000", func(in *Input) { in.Timestamp = "1970-01-01T00:00:00Z" }, "timestamp", "before 2000"},
		{"bad sent_at", func(in *Input) { in.SentAt = "now" }, "sent_at", "RFC 3339"},
		{"sent_at far ahead pushes the timestamp before 2000", func(in *Input) { in.SentAt = "2090-01-01T00:00:00Z" }, "sent_at", "before 2000-01-01"},
		{"sent_at a year ahead is a correctable skew", func(in *Input) { in.SentAt = "2027-11-23T12:00:00Z" }, "", ""},
		{"properties null", func(in *Input) { in.Properties = json.RawMessage("null") }, "", ""},
		{"properties array", func(in *Input) { in.Properties = json.RawMessage("[1]") }, "properties", "JSON object"},
		{"properties too large", func(in *Input) {
			in.Properties = json.RawMessage(`{"a":"` + strings.Repeat("x", MaxPropertiesBytes) + `"}`)
		}, "properties", "over the limit"},
		{"properties with invalid UTF-8", func(in *Input) { in.Properties = json.RawMessage("{\"a\":\"\xff\"}") }, "properties", "UTF-8"},
		{"nps in range", func(in *Input) { in.Name, in.Properties = NameNPS, json.RawMessage(`{"score":10}`) }, "", ""},
		{"nps out of range", func(in *Input) { in.Name, in.Properties = NameNPS, json.RawMessage(`{"score":11}`) }, "properties.score", "0 to 10"},
		{"account status", func(in *Input) { in.Name, in.Properties = NameAccount, json.RawMessage(`{"status":"paying"}`) }, "properties.status", "one of"},
		{"ticket severity type", func(in *Input) { in.Name, in.Properties = NameTicket, json.RawMessage(`{"severity":3}`) }, "properties.severity", "string"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := validInput()
			tc.edit(&in)
			ev, err := in.Build(recv)
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				if err := ev.Validate(); err != nil {
					t.Errorf("Build accepted what Validate refuses: %v", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("err %v is not a FieldError wrapping ErrInvalid", err)
			}
			if fe.Field != tc.field || !strings.Contains(fe.Reason, tc.wantMsg) {
				t.Errorf("err %v, want field %s mentioning %q", err, tc.field, tc.wantMsg)
			}
		})
	}
}

// TestBuildErrorsStaySmall: a client's value is echoed in errors cut to 64 bytes, because
// errors are returned to the client and logged (a 5 MiB "timestamp" used to be echoed whole).
func TestBuildErrorsStaySmall(t *testing.T) {
	in := validInput()
	in.Timestamp = strings.Repeat("9", 1<<20)
	_, err := in.Build(recv)
	if err == nil || len(err.Error()) > 200 {
		t.Fatalf("error of %d bytes", len(err.Error()))
	}
}

func TestBuildCorrectsSkew(t *testing.T) {
	cases := []struct {
		name     string
		ts, sent string
		want     time.Time
	}{
		{"no sent_at", "2026-11-23T11:00:00Z", "", time.Date(2026, 11, 23, 11, 0, 0, 0, time.UTC)},
		{"client 1 h behind", "2026-11-23T10:00:00Z", "2026-11-23T11:00:00Z", time.Date(2026, 11, 23, 11, 0, 0, 0, time.UTC)},
		{"client 1 h ahead", "2026-11-23T12:30:00Z", "2026-11-23T13:00:00Z", time.Date(2026, 11, 23, 11, 30, 0, 0, time.UTC)},
		{"future is clamped to received_at", "2027-01-01T00:00:00Z", "", recv},
		{"zone converted to UTC", "2026-11-23T13:00:00+02:00", "", time.Date(2026, 11, 23, 11, 0, 0, 0, time.UTC)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := validInput()
			in.Timestamp, in.SentAt = tc.ts, tc.sent
			ev, err := in.Build(recv)
			if err != nil {
				t.Fatal(err)
			}
			if !ev.Timestamp.Equal(tc.want) || ev.Timestamp.Location() != time.UTC {
				t.Errorf("timestamp %v, want %v", ev.Timestamp, tc.want)
			}
		})
	}
}

// FuzzBuild: whatever the input, Build does not panic, and an event it accepts passes
// Validate, lies between 2000-01-01 and received_at, and survives the wire round trip.
func FuzzBuild(f *testing.F) {
	f.Add("e1", "acme", "u1", "x", "2026-11-23T11:00:00Z", "", []byte(`{"a":1}`))
	f.Add("e1", "acme", "", "$account", "2026-11-23T11:00:00.5+05:30", "2026-11-23T11:00:00Z", []byte(`{"seats":3,"status":"active"}`))
	f.Add("e1", "acme", "u", "$nps", "2001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", []byte(`{"score":10}`))
	f.Fuzz(func(t *testing.T, id, account, user, name, ts, sent string, props []byte) {
		if len(props) > 0 && !json.Valid(props) {
			return // Build's input comes from a JSON decoder: properties are valid JSON
		}
		in := Input{EventID: id, AccountID: account, UserID: user, Name: name, Timestamp: ts, SentAt: sent, Properties: props}
		ev, err := in.Build(recv)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if err := ev.Validate(); err != nil {
			t.Fatalf("Build accepted, Validate refuses: %v", err)
		}
		if ev.Timestamp.Before(minTime) || ev.Timestamp.After(recv) {
			t.Fatalf("timestamp %v outside [2000, received_at]", ev.Timestamp)
		}
		b := ev.AppendJSON(nil)
		if !json.Valid(b) {
			t.Fatalf("wire encoding is not JSON: %s", b)
		}
		back, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if back.EventID != ev.EventID || back.AccountID != ev.AccountID || back.UserID != ev.UserID || back.Name != ev.Name || !back.Timestamp.Equal(ev.Timestamp) {
			t.Fatalf("round trip changed the event:\n%+v\n%+v", ev, back)
		}
	})
}

// BenchmarkBuild is the validation share of the gateway's per-event budget.
func BenchmarkBuild(b *testing.B) {
	in := validInput()
	in.SentAt = "2026-11-23T11:00:01.250Z"
	in.Properties = json.RawMessage(`{"format":"pdf","pages":12}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := in.Build(recv); err != nil {
			b.Fatal(err)
		}
	}
}
