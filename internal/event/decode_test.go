package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/engage-oss/engage/internal/jsonscan"
)

// checkDecode decodes b with Decode and with the encoding/json decoder it replaced
// (decodeStdlib, oracle_test.go) and fails unless both refuse b or both return the same
// event. A refusal must be a *WireError that says what failed and where.
func checkDecode(t *testing.T, b []byte) (Event, error) {
	t.Helper()
	want, werr := decodeStdlib(b)
	got, err := Decode(b)
	if (err == nil) != (werr == nil) {
		t.Fatalf("Decode: %v\nencoding/json: %v\nrecord %q", err, werr, b)
	}
	if err != nil {
		var we *WireError
		if !errors.As(err, &we) || we.Err == nil || we.Offset < 0 || we.Offset > len(b) {
			t.Fatalf("error %#v is not a *WireError with a cause and an offset within the record (%d bytes)\nrecord %q", err, len(b), b)
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "decoding event record") || !strings.Contains(msg, "byte offset ") || len(msg) > 400 {
			t.Fatalf("error message %q does not say what failed where, or is too long\nrecord %q", msg, b)
		}
		return got, err
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("events differ\nDecode        %#v\nencoding/json %#v\nrecord %q", got, want, b)
	}
	if len(got.Properties) != cap(got.Properties) {
		t.Fatalf("properties have spare capacity: appending to them would write into the record")
	}
	return got, nil
}

// minimal is the smallest record both decoders accept; with(extra) adds members to it.
const minimal = `{"v":1,"event_id":"e","account_id":"a","name":"n","timestamp":"2026-01-01T00:00:00Z"}`

func with(extra string) string { return minimal[:len(minimal)-1] + extra + "}" }

func deep(open, close string, n int) string {
	return strings.Repeat(open, n) + strings.Repeat(close, n)
}

var decodeCases = []struct {
	name string
	rec  string
	// For an accepted record: what to check beyond agreement with encoding/json.
	check func(t *testing.T, e Event)
	// For a refused record: the field and the error's message; at is a substring whose last
	// occurrence in rec is where the error points ("" when not checked).
	refused bool
	field   string
	at      string
	msg     string
}{
	// Structure.
	{name: "minimal", rec: minimal},
	{name: "whitespace everywhere", rec: " \n\t{ \"v\" : 1 ,\r\n\"event_id\" :\"e\", \"account_id\":\"a\" , \"name\":\"n\",\"timestamp\"\t:\t\"2026-01-01T00:00:00Z\" }\n "},
	{name: "empty", rec: "", refused: true, msg: "unexpected end of JSON input"},
	{name: "whitespace only", rec: " \n", refused: true, msg: "unexpected end of JSON input"},
	{name: "array", rec: `[` + minimal + `]`, refused: true, msg: "record must be a JSON object, got array"},
	{name: "null", rec: `null`, refused: true, msg: "got null"},
	{name: "string", rec: `"{}"`, refused: true, msg: "got string"},
	{name: "bad literal", rec: `nux`, refused: true, msg: "in literal null"},
	{name: "empty object", rec: `{}`, refused: true, field: "v", msg: "is missing"},
	{name: "trailing value", rec: minimal + ` {}`, refused: true, at: `{}`, msg: "after top-level value"},
	{name: "trailing whitespace", rec: minimal + " \r\n\t"},
	{name: "trailing comma", rec: with(`,`), refused: true, msg: "looking for beginning of object key string"},
	{name: "missing colon", rec: `{"v" 1}`, refused: true, msg: "after object key"},
	{name: "missing comma", rec: `{"v":1 "event_id":"e"}`, refused: true, msg: "after object key:value pair"},
	{name: "truncated", rec: minimal[:len(minimal)-1], refused: true, msg: "unexpected end of JSON input"},
	{name: "truncated in a string", rec: minimal[:20], refused: true, field: "event_id", msg: "unexpected end of JSON input"},
	{name: "unquoted key", rec: `{v:1}`, refused: true, msg: "looking for beginning of object key string"},

	// Member names.
	{name: "unknown members skipped", rec: with(`,"x":{"event_id":"no","v":2},"y":[1,{"z":null}],"Ev":"n"`)},
	{name: "syntax error in an unknown member", rec: with(`,"x":[1,]`), refused: true, msg: "looking for beginning of value"},
	{name: "case-insensitive names", rec: `{"V":1,"EVENT_ID":"e","Account_Id":"a","NAME":"n","TimeStamp":"2026-01-01T00:00:00Z","SENT_AT":"2026-01-01T00:00:01Z"}`,
		check: func(t *testing.T, e Event) {
			if e.SentAt.IsZero() {
				t.Error("SENT_AT not read")
			}
		}},
	{name: "escaped names", rec: `{"\u0076":1,"event\u005fid":"e","account_id":"a","n\u0061me":"n","timestamp":"2026-01-01T00:00:00Z"}`},
	{name: "long s folds to s", rec: with(",\"\u017fent_at\":\"2026-01-01T00:00:01Z\""),
		check: func(t *testing.T, e Event) {
			if e.SentAt.IsZero() {
				t.Error("ſent_at not read as sent_at")
			}
		}},
	{name: "escaped long s folds to s", rec: with(`,"\u017fent_at":"2026-01-01T00:00:01Z"`)},
	{name: "kelvin sign is not a field", rec: with(",\"\u212a\":1")},
	{name: "invalid UTF-8 in a name: unknown", rec: with(",\"name\xff\":7")},
	{name: "name with a NUL: unknown", rec: with(`,"name\u0000":7`)},
	{name: "empty name: unknown", rec: with(`,"":7`)},

	// Duplicates and nulls.
	{name: "duplicate: last wins", rec: with(`,"event_id":"second","account_id":"b"`),
		check: func(t *testing.T, e Event) {
			if e.EventID != "second" || e.AccountID != "b" {
				t.Errorf("got %q %q", e.EventID, e.AccountID)
			}
		}},
	{name: "duplicate through folding", rec: with(`,"EVENT_ID":"second"`)},
	{name: "null keeps the earlier value", rec: with(`,"event_id":null,"name":null,"timestamp":null,"v":null,"user_id":null`)},
	{name: "null sent_at unsets it", rec: with(`,"sent_at":"2026-01-01T00:00:01Z","sent_at":null`),
		check: func(t *testing.T, e Event) {
			if !e.SentAt.IsZero() {
				t.Error("sent_at still set")
			}
		}},
	{name: "null required fields", rec: `{"v":1,"event_id":null,"account_id":"a","name":"n","timestamp":"2026-01-01T00:00:00Z"}`, refused: true, field: "event_id", msg: "is required"},
	{name: "only a null timestamp", rec: `{"v":1,"event_id":"e","account_id":"a","name":"n","timestamp":null}`, refused: true, field: "timestamp", msg: "is required"},

	// The version.
	{name: "no v", rec: `{"event_id":"e","account_id":"a","name":"n","timestamp":"2026-01-01T00:00:00Z"}`, refused: true, field: "v", at: `{`, msg: "is missing (wire version 1 expected)"},
	{name: "v 2", rec: `{"v":2,"event_id":"e","account_id":"a","name":"n","timestamp":"2026-01-01T00:00:00Z"}`, refused: true, field: "v", at: `2,`, msg: "unknown wire version 2 (this reader knows 1)"},
	{name: "v 0", rec: with(`,"v":0`), refused: true, field: "v", at: `0`, msg: "unknown wire version 0"},
	{name: "v -0 then 1", rec: `{"v":-0,` + minimal[1:]},
	{name: "v 1 then -1", rec: with(`,"v":-1`), refused: true, field: "v", msg: "unknown wire version -1"},
	{name: "v 1.0", rec: `{"v":1.0,"event_id":"e","account_id":"a","name":"n","timestamp":"2026-01-01T00:00:00Z"}`, refused: true, field: "v", at: `1.0`, msg: "must be an integer, got 1.0: invalid syntax"},
	{name: "v 1e0", rec: with(`,"v":1e0`), refused: true, field: "v", msg: "must be an integer"},
	{name: "v 1.5 overwritten by 1", rec: `{"v":1.5,` + minimal[1:], refused: true, field: "v", msg: "must be an integer"},
	{name: "v too large", rec: with(`,"v":123456789012345678901234567890`), refused: true, field: "v", msg: "got 123456789012345678901234567890: value out of range"},
	{name: "v very long", rec: with(`,"v":1` + strings.Repeat("0", 5000)), refused: true, field: "v", msg: "…: value out of range"},
	{name: "v string", rec: with(`,"v":"1"`), refused: true, field: "v", at: `"1"`, msg: "must be an integer, got string"},
	{name: "v bool", rec: with(`,"v":true`), refused: true, field: "v", msg: "got bool"},
	{name: "v object", rec: with(`,"v":{"v":1}`), refused: true, field: "v", msg: "got object"},
	{name: "v bad number", rec: `{"v":-,"event_id":"e"}`, refused: true, field: "v", msg: "in numeric literal"},

	// Strings.
	{name: "event_id a number", rec: with(`,"event_id":7`), refused: true, field: "event_id", at: `7`, msg: "must be a string, got number"},
	{name: "name an array", rec: with(`,"name":["n"]`), refused: true, field: "name", msg: "got array"},
	{name: "user_id an object", rec: with(`,"user_id":{}`), refused: true, field: "user_id", msg: "got object"},
	{name: "account_id false", rec: with(`,"account_id":false`), refused: true, field: "account_id", msg: "got bool"},
	{name: "empty event_id", rec: with(`,"event_id":""`), refused: true, field: "event_id", at: `""`, msg: "is required: missing or empty"},
	{name: "no account_id", rec: `{"v":1,"event_id":"e","name":"n","timestamp":"2026-01-01T00:00:00Z"}`, refused: true, field: "account_id", at: `}`, msg: "is required"},
	{name: "no name", rec: `{"v":1,"event_id":"e","account_id":"a","timestamp":"2026-01-01T00:00:00Z"}`, refused: true, field: "name"},
	{name: "no user_id, empty user_id", rec: with(`,"user_id":""`)},
	{name: "escapes", rec: with(`,"event_id":"a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00\u2028"`),
		check: func(t *testing.T, e Event) {
			if e.EventID != "a\"\\/\b\f\n\r\té😀\u2028" {
				t.Errorf("event_id %q", e.EventID)
			}
		}},
	{name: "lone surrogates", rec: with(`,"user_id":"\ud800x\udc00\ud800\u0041\udbff"`),
		check: func(t *testing.T, e Event) {
			if e.UserID != "\ufffdx\ufffd\ufffdA\ufffd" {
				t.Errorf("user_id %q", e.UserID)
			}
		}},
	{name: "surrogates in the wrong order", rec: with(`,"user_id":"\udc00\ud800"`)},
	{name: "high surrogate then a high surrogate pair", rec: with(`,"user_id":"\ud800\ud83d\ude00"`)},
	{name: "surrogate escape at the end", rec: with(`,"user_id":"\ud83d"`)},
	{name: "invalid UTF-8", rec: with(",\"name\":\"a\xffb\xc3\",\"user_id\":\"\xed\xa0\x80\xf4\x90\x80\x80\""),
		check: func(t *testing.T, e Event) {
			if e.Name != "a\ufffdb\ufffd" || !utf8.ValidString(e.UserID) {
				t.Errorf("name %q, user_id %q", e.Name, e.UserID)
			}
		}},
	{name: "valid multi-byte UTF-8 and U+FFFD", rec: with(",\"name\":\"ä€😀\ufffd\"")},
	{name: "escaped NUL", rec: with(`,"user_id":"\u0000"`)},
	{name: "raw control character", rec: with(",\"user_id\":\"a\x01\""), refused: true, field: "user_id", msg: "in string literal"},
	{name: "raw DEL is fine", rec: with(",\"user_id\":\"a\x7f\"")},
	{name: "bad escape", rec: with(`,"user_id":"\x"`), refused: true, field: "user_id", msg: "in string escape code"},
	{name: "short \\u escape", rec: with(`,"user_id":"\u12"`), refused: true, field: "user_id", msg: "in \\u hexadecimal character escape"},
	{name: "uppercase hex escape", rec: with(`,"user_id":"\u00C9\u00e9"`)},

	// Times.
	{name: "every time", rec: with(`,"original_timestamp":"2025-12-31T23:59:59.999999999Z","sent_at":"2026-01-01T00:00:01Z","received_at":"2026-01-01T00:00:02.5Z"`)},
	{name: "offsets become UTC", rec: with(`,"timestamp":"2026-01-01T01:00:00+01:00","received_at":"2025-12-31T20:00:00-05:30"`),
		check: func(t *testing.T, e Event) {
			if e.Timestamp != time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) {
				t.Errorf("timestamp %v", e.Timestamp)
			}
		}},
	{name: "zero timestamp", rec: with(`,"timestamp":"0001-01-01T00:00:00Z"`), refused: true, field: "timestamp", msg: "the zero time"},
	{name: "zero instant with an offset", rec: with(`,"timestamp":"0001-01-01T01:00:00+01:00"`), refused: true, field: "timestamp"},
	{name: "year 0", rec: with(`,"timestamp":"0000-06-01T00:00:00Z"`)},
	{name: "year 9999", rec: with(`,"timestamp":"9999-12-31T23:59:59.999999999Z"`)},
	{name: "year 10000", rec: with(`,"timestamp":"10000-01-01T00:00:00Z"`), refused: true, field: "timestamp", msg: `"10000-01-01T00:00:00Z" is not an RFC 3339 time`},
	{name: "sent_at zero is no sent_at", rec: with(`,"sent_at":"0001-01-01T00:00:00Z"`)},
	{name: "one-digit hour (time.Parse takes it)", rec: with(`,"received_at":"2026-01-01T1:00:00Z"`)},
	{name: "comma before the fraction", rec: with(`,"received_at":"2026-01-01T00:00:00,5Z"`)},
	{name: "lower-case t and z", rec: with(`,"received_at":"2026-01-01t00:00:00z"`), refused: true, field: "received_at"},
	{name: "long fraction", rec: with(`,"received_at":"2026-01-01T00:00:00.` + strings.Repeat("1", 100) + `Z"`)},
	{name: "zone +24:00", rec: with(`,"received_at":"2026-01-01T00:00:00+24:00"`)},
	{name: "bad month", rec: with(`,"sent_at":"2026-13-01T00:00:00Z"`), refused: true, field: "sent_at", at: `"2026-13`, msg: "month out of range"},
	{name: "escaped time", rec: with(`,"timestamp":"2026-01-01T00:00:00\u005a"`), refused: true, field: "timestamp", msg: `"2026-01-01T00:00:00\\u005a" is not an RFC 3339 time`},
	{name: "date only", rec: with(`,"original_timestamp":"2026-01-01"`), refused: true, field: "original_timestamp"},
	{name: "time a number", rec: with(`,"timestamp":1767225600`), refused: true, field: "timestamp", msg: "must be an RFC 3339 time string, got number"},
	{name: "time an object", rec: with(`,"received_at":{}`), refused: true, field: "received_at", msg: "got object"},
	{name: "long bad time is cut in the message", rec: with(`,"timestamp":"` + strings.Repeat("9", 5000) + `"`), refused: true, field: "timestamp", msg: "… is not an RFC 3339 time"},

	// Properties.
	{name: "properties kept as sent, not compacted", rec: with(`,"properties": { "a" : [1, 2] , "b":"x y" } `),
		check: func(t *testing.T, e Event) {
			if string(e.Properties) != `{ "a" : [1, 2] , "b":"x y" }` {
				t.Errorf("properties %q", e.Properties)
			}
		}},
	{name: "null properties", rec: with(`,"properties":null`),
		check: func(t *testing.T, e Event) {
			if string(e.Properties) != "null" {
				t.Errorf("properties %q", e.Properties)
			}
		}},
	{name: "no properties", rec: minimal,
		check: func(t *testing.T, e Event) {
			if e.Properties != nil {
				t.Errorf("properties %q", e.Properties)
			}
		}},
	{name: "properties of other types", rec: with(`,"properties":[1,"a"],"Properties":"s","PROPERTIES":-1.5e3,"properties":true`)},
	{name: "empty properties object", rec: with(`,"properties":{}`)},
	{name: "properties escapes and invalid UTF-8 kept raw", rec: with(",\"properties\":{\"k\\u00e9\":\"\\ud800\xff\"}"),
		check: func(t *testing.T, e Event) {
			if string(e.Properties) != "{\"k\\u00e9\":\"\\ud800\xff\"}" {
				t.Errorf("properties %q", e.Properties)
			}
		}},
	{name: "properties syntax error", rec: with(`,"properties":{"a":}`), refused: true, field: "properties", msg: "looking for beginning of value"},
	{name: "properties unterminated", rec: minimal[:len(minimal)-1] + `,"properties":{"a":1`, refused: true, field: "properties", msg: "unexpected end of JSON input"},
	{name: "nesting at the limit", rec: with(`,"properties":` + deep("[", "]", jsonscan.MaxDepth-1))},
	{name: "nesting over the limit", rec: with(`,"properties":` + deep("[", "]", jsonscan.MaxDepth)), refused: true, field: "properties", msg: "exceeded max depth"},
	{name: "unknown member nested over the limit", rec: with(`,"x":` + deep(`{"a":`, "}", jsonscan.MaxDepth)), refused: true, msg: "exceeded max depth"},

	// Numbers, in unknown members.
	{name: "number forms", rec: with(`,"x":[-0,0,0.5,-1.25e+10,1E-2,1e5,123456789012345678901234567890]`)},
	{name: "leading zero", rec: with(`,"x":01`), refused: true},
	{name: "bare decimal point", rec: with(`,"x":1.`), refused: true, msg: "after decimal point in numeric literal"},
	{name: "bare minus", rec: with(`,"x":-`), refused: true, msg: "in numeric literal"},
	{name: "bare exponent", rec: with(`,"x":1e`), refused: true, msg: "in exponent of numeric literal"},
	{name: "plus sign", rec: with(`,"x":+1`), refused: true, msg: "looking for beginning of value"},
	{name: "NaN", rec: with(`,"x":NaN`), refused: true},
}

// TestDecodeCases: each record is decoded the same by Decode and by encoding/json, and the
// refusals point at the right field and offset.
func TestDecodeCases(t *testing.T) {
	for _, tc := range decodeCases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := checkDecode(t, []byte(tc.rec))
			if !tc.refused {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if tc.check != nil {
					tc.check(t, e)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted: %+v", e)
			}
			var we *WireError
			errors.As(err, &we)
			if we.Field != tc.field {
				t.Errorf("field %q, want %q (%v)", we.Field, tc.field, err)
			}
			if tc.at != "" {
				if want := strings.LastIndex(tc.rec, tc.at); we.Offset != want {
					t.Errorf("offset %d, want %d (%v)", we.Offset, want, err)
				}
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q, want it to contain %q", err, tc.msg)
			}
		})
	}
}

// TestDecodeErrorsWrap: the cause of a refusal is reachable with errors.As.
func TestDecodeErrorsWrap(t *testing.T) {
	_, err := Decode([]byte(`{"v":1,"x":tru}`))
	var syn *jsonscan.SyntaxError
	if !errors.As(err, &syn) || syn.Offset != 14 {
		t.Errorf("%v: want a *jsonscan.SyntaxError at offset 14", err)
	}
	_, err = Decode([]byte(with(`,"v":99999999999999999999`)))
	if !errors.Is(err, strconv.ErrRange) {
		t.Errorf("%v: want strconv.ErrRange", err)
	}
	_, err = Decode([]byte(with(`,"timestamp":"2026-02-30T00:00:00Z"`)))
	var pe *time.ParseError
	if !errors.As(err, &pe) {
		t.Errorf("%v: want a *time.ParseError", err)
	}
	if got := err.Error(); !strings.HasPrefix(got, `decoding event record: field timestamp at byte offset 97: "2026-02-30T00:00:00Z" is not an RFC 3339 time: day out of range`) {
		t.Errorf("message %q", got)
	}
}

// TestDecodeAllocs: decoding a typical record allocates once, for the event's strings.
func TestDecodeAllocs(t *testing.T) {
	ev := benchEvent()
	rec := ev.AppendJSON(nil)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := Decode(rec); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 1 {
		t.Errorf("%v allocations per record, want 1", allocs)
	}
}

// FuzzDecode pins Decode to the encoding/json decoder it replaced: for any bytes, both refuse
// them or both return the same event. Seeds: testdata/fuzz/FuzzDecode and the table of
// TestDecodeCases.
func FuzzDecode(f *testing.F) {
	for _, tc := range decodeCases {
		if len(tc.rec) < 1000 {
			f.Add([]byte(tc.rec))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkDecode(t, b)
	})
}

// FuzzDecodeEvent encodes an event made of the fuzzer's values with AppendJSON and decodes
// it with both decoders: they agree, and an event that the gateway could have written (valid
// UTF-8, required fields, times within years 0–9999, properties a JSON object) comes back as
// it was, with its properties compacted. Seeds: testdata/fuzz/FuzzDecodeEvent.
func FuzzDecodeEvent(f *testing.F) {
	ts := time.Date(2026, 11, 23, 10, 0, 0, 123456789, time.UTC)
	f.Add("0190c3a8-7d1e-7a4b-9c7e-3f1d2b4a5c6d", "acct-00042", "user-1234", "report.exported",
		fuzzNanos(ts), fuzzNanos(ts.Add(-time.Hour)), fuzzNanos(ts), fuzzNanos(ts.Add(time.Second)), []byte(`{"format":"pdf","pages":12}`))
	f.Add("e\"2\\\n\u2028", "ä\x01", "", NameAccount, fuzzNanos(ts), int64(0), int64(0), int64(-1), []byte("{ \"seats\" : 5,\n\"a\":[\"b c\"] }"))
	f.Fuzz(func(t *testing.T, id, account, user, name string, ts, ots, sent, recv int64, props []byte) {
		ev := Event{EventID: id, AccountID: account, UserID: user, Name: name,
			Timestamp: fuzzTime(ts), OriginalTimestamp: fuzzTime(ots), SentAt: fuzzTime(sent), ReceivedAt: fuzzTime(recv),
			Properties: props}
		rec := ev.AppendJSON(nil)
		got, err := checkDecode(t, rec)
		if !writable(&ev) {
			return
		}
		if err != nil {
			t.Fatalf("AppendJSON output refused: %v\nrecord %q", err, rec)
		}
		want := ev
		want.Timestamp, want.OriginalTimestamp, want.ReceivedAt = ev.Timestamp.UTC(), ev.OriginalTimestamp.UTC(), ev.ReceivedAt.UTC()
		if !ev.SentAt.IsZero() {
			want.SentAt = ev.SentAt.UTC()
		}
		want.Properties = nil
		if len(props) > 0 {
			var c bytes.Buffer
			if err := json.Compact(&c, props); err != nil {
				t.Fatal(err)
			}
			want.Properties = c.Bytes()
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("round trip changed the event\ngot  %#v\nwant %#v\nrecord %q", got, want, rec)
		}
	})
}

// fuzzTime turns a fuzzed integer into a time: 0 is the zero time; otherwise the high bits are
// Unix seconds (years far outside 0–9999 included) and the low 20 bits a fraction.
func fuzzTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(n>>20, (n&0xfffff)*953)
}

// fuzzNanos is the integer fuzzTime turns into t, to the precision fuzzTime has.
func fuzzNanos(t time.Time) int64 { return t.Unix()<<20 | int64(t.Nanosecond()/953) }

// writable reports whether AppendJSON writes ev as a record that decodes back to it: what
// the gateway writes after Validate.
func writable(ev *Event) bool {
	if ev.EventID == "" || ev.AccountID == "" || ev.Name == "" || ev.Timestamp.IsZero() {
		return false
	}
	for _, s := range []string{ev.EventID, ev.AccountID, ev.UserID, ev.Name} {
		if !utf8.ValidString(s) {
			return false
		}
	}
	for _, tm := range []time.Time{ev.Timestamp, ev.OriginalTimestamp, ev.SentAt, ev.ReceivedAt} {
		if y := tm.UTC().Year(); y < 0 || y > 9999 {
			return false
		}
	}
	if p := ev.Properties; len(p) > 0 {
		t := bytes.TrimLeft(p, " \t\r\n")
		if !json.Valid(p) || t[0] != '{' {
			return false
		}
	}
	return true
}

// BenchmarkDecode compares Decode with the encoding/json decoder it replaced, on the record of
// BenchmarkAppendJSON (320 bytes, every member set).
func BenchmarkDecode(b *testing.B) {
	ev := benchEvent()
	rec := ev.AppendJSON(nil)
	for _, bc := range []struct {
		name   string
		decode func([]byte) (Event, error)
	}{{"handwritten", Decode}, {"encoding_json", decodeStdlib}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(rec)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.decode(rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestParseWireTime pins the fast path of parseWireTime to time.Time's UnmarshalJSON: every
// day 1–31 of every month of years 0000–9999 (the invalid ones must fall back and fail), and
// times of day, fractions and near misses of the shape.
func TestParseWireTime(t *testing.T) {
	check := func(lit []byte) {
		t.Helper()
		var want time.Time
		werr := want.UnmarshalJSON(lit)
		want = want.UTC()
		got, err := parseWireTime(lit)
		if (err == nil) != (werr == nil) || err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: got %v (%v), UnmarshalJSON %v (%v)", lit, got, err, want, werr)
		}
	}
	two := func(b []byte, v int) []byte { return append(b, byte('0'+v/10), byte('0'+v%10)) }
	lit := make([]byte, 0, 64)
	for year := 0; year <= 9999; year++ {
		for month := 1; month <= 12; month++ {
			for day := 1; day <= 31; day++ {
				lit = append(lit[:0], '"')
				lit = two(two(lit, year/100), year%100)
				lit = two(append(lit, '-'), month)
				lit = two(append(lit, '-'), day)
				lit = append(lit, "T23:59:59.5Z\""...)
				check(lit)
			}
		}
	}
	for _, s := range []string{
		"2026-11-23T10:00:00Z", "2026-11-23T10:00:00.1Z", "2026-11-23T10:00:00.123456789Z",
		"2026-11-23T10:00:00.1234567890Z", "2026-11-23T10:00:00.000000001Z", "2026-11-23T00:00:00.Z",
		"2026-11-23T10:00:00.1aZ", "2026-11-23T10:00:00,5Z", "2026-11-23T24:00:00Z", "2026-11-23T23:60:00Z",
		"2026-11-23T23:59:60Z", "2026-00-23T10:00:00Z", "2026-11-00T10:00:00Z", "2026-11-23T10:00:00z",
		"2026-11-23t10:00:00Z", "2026-11-23T10:00:00+00:00", "2026-11-23T10:00:00-01:30", "2026-11-23T1:00:00Z",
		"2026-11-23T10:00:00", "2026-11-23T10:00:00ZZ", "2026-11-23 10:00:00Z", "+026-11-23T10:00:00Z",
		"-026-11-23T10:00:00Z", "2026-1a-23T10:00:00Z", "0000-01-01T00:00:00Z", "0001-01-01T00:00:00Z",
		"9999-12-31T23:59:59.999999999Z", "1969-12-31T23:59:59.999999999Z", "1970-01-01T00:00:00Z", "",
	} {
		check([]byte(strconv.Quote(s)))
	}
}
