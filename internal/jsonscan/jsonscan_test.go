package jsonscan

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestScanMatchesEncodingJSON spot-checks SkipValue and AppendUnquoted against encoding/json;
// FuzzScan explores the rest.
func TestScanMatchesEncodingJSON(t *testing.T) {
	for _, doc := range []string{
		`"plain ascii, longer than eight bytes"`, `""`, `"a\"\\\/\b\f\n\r\t"`, `"\u00e9\ud83d\ude00"`,
		`"\ud800x\udc00\ud800\u0041\udbff"`, "\"a\xffb\xc3\"", "\"\xed\xa0\x80\"", "\"ä€😀\"", `"\u0000"`,
		"\"a\x01\"", `"\x"`, `"\u12"`, `"unterminated`, `"abcdefg\"`,
		`{}`, `[]`, `{"a":[1,-0,0.5e+10,1E-2,true,false,null,{"b":"c"}]}`, `{"a" : 1 , "b" : [ ] }`,
		`01`, `1.`, `-`, `1e`, `+1`, `[1,]`, `{"a":1,}`, `{"a"}`, `nul`, `tru`, `[`,
		strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth),
		strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1),
	} {
		checkScan(t, []byte(doc))
	}
}

// checkScan: SkipValue accepts doc (one value, maybe surrounded by whitespace) exactly when
// encoding/json does, and a string literal decodes to what encoding/json decodes it to.
func checkScan(t *testing.T, doc []byte) {
	t.Helper()
	valid := json.Valid(doc)
	i := SkipSpace(doc, 0)
	end, err := SkipValue(doc, i, 0)
	if err == nil {
		end = SkipSpace(doc, end)
	}
	if got := err == nil && end == len(doc); got != valid {
		t.Fatalf("SkipValue accepts %v (%v), encoding/json %v\ndoc %q", got, err, valid, doc)
	}
	if err != nil {
		if _, ok := err.(*SyntaxError); !ok {
			t.Fatalf("error %T is not a *SyntaxError", err)
		}
		return
	}
	if !valid || doc[i] != '"' {
		return
	}
	var want string
	if err := json.Unmarshal(doc, &want); err != nil {
		t.Fatal(err)
	}
	strEnd, info, _ := ScanString(doc, i)
	raw := doc[i+1 : strEnd-1]
	got := string(AppendUnquoted([]byte("prefix"), raw))
	if got != "prefix"+want {
		t.Fatalf("decoded %q, encoding/json %q", got[len("prefix"):], want)
	}
	if Verbatim(raw, info) && string(raw) != want {
		t.Fatalf("Verbatim, but %q decodes to %q", raw, want)
	}
}

// FuzzScan pins SkipValue and AppendUnquoted to encoding/json for any document.
func FuzzScan(f *testing.F) {
	f.Add([]byte(`{"a":[1,"b\u00e9\ud800",null]}`))
	f.Add([]byte("\"abc\xffdef\\n\\u00\""))
	f.Fuzz(func(t *testing.T, doc []byte) {
		checkScan(t, doc)
	})
}
