package ingest

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	keys, _ := ParseKeyList("k1")
	cases := []struct {
		name    string
		cfg     Config
		wantErr string // "" valid; else a substring naming the field
	}{
		{"defaults with keys", Config{Keys: keys}, ""},
		{"keys required", Config{}, "Keys"},
		{"empty key set", Config{Keys: &Keys{}}, "Keys"},
		{"negative body limit", Config{Keys: keys, MaxBodyBytes: -1}, "MaxBodyBytes"},
		{"in-flight below two bodies", Config{Keys: keys, MaxBodyBytes: 10 << 20, MaxInflightBytes: 15 << 20}, "MaxInflightBytes"},
		{"negative rate", Config{Keys: keys, RateLimit: -1}, "RateLimit"},
		{"NaN rate", Config{Keys: keys, RateLimit: math.NaN()}, "RateLimit"},
		{"negative burst", Config{Keys: keys, RateLimit: 1, RateBurst: -5}, "RateBurst"},
		{"negative retry-after", Config{Keys: keys, RetryAfter: -time.Second}, "RetryAfter"},
		{"negative publish timeout", Config{Keys: keys, PublishTimeout: -time.Second}, "PublishTimeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// TestConfigValidateNamesEveryField: Validate reports all bad fields, not the first, so that
// the gateway's -validate lists them together.
func TestConfigValidateNamesEveryField(t *testing.T) {
	err := Config{MaxBodyBytes: -1, RateLimit: -1, PublishTimeout: -time.Second}.Validate()
	for _, field := range []string{"MaxBodyBytes", "RateLimit", "Keys", "PublishTimeout"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("err %v does not name %s", err, field)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{}.withDefaults()
	if c.MaxBodyBytes != 5<<20 || c.MaxInflightBytes != 64<<20 || c.RetryAfter != 2*time.Second || c.PublishTimeout != 10*time.Second || c.RateLimit != 0 || c.RateBurst != 0 {
		t.Errorf("defaults %+v", c)
	}
	if c := (Config{RateLimit: 500}).withDefaults(); c.RateBurst != 5000 {
		t.Errorf("burst %d, want 10 s of traffic", c.RateBurst)
	}
	if c := (Config{RateLimit: 5}).withDefaults(); c.RateBurst != 1000 {
		t.Errorf("burst %d, want the 1000 floor", c.RateBurst)
	}
}
