package ingest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadKeyFile loads the example key file and checks each key's allow-list, written with
// '|' between accounts as in WRITE_KEYS.
func TestLoadKeyFile(t *testing.T) {
	k, err := LoadKeyFile(filepath.Join("testdata", "keys", "valid.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if k.Len() != 4 {
		t.Fatalf("%d keys, want 4", k.Len())
	}
	cases := []struct {
		key     string
		account string
		known   bool
		allowed bool
	}{
		{"wk_live_7f3a9c2e51", "anyone", true, true},
		{"wk_acme_only_88d1", "acme", true, true},
		{"wk_acme_only_88d1", "globex", true, false},
		{"wk_partner_40b2", "initech", true, true},
		{"wk_partner_40b2", " acme ", true, false},
		{"wk_dev-0001", "x", true, true},
		{"wk_live_7f3a9c2e5", "x", false, false}, // a prefix of a key
		{"wk_live_7f3a9c2e511", "x", false, false},
		{"", "x", false, false},
	}
	for _, tc := range cases {
		t.Run(tc.key+"/"+tc.account, func(t *testing.T) {
			wk, ok := k.Authenticate(tc.key)
			if ok != tc.known {
				t.Fatalf("known = %v", ok)
			}
			if ok && wk.AllowsAccount(tc.account) != tc.allowed {
				t.Errorf("allowed = %v", !tc.allowed)
			}
		})
	}
}

// TestBadKeyFiles: each invalid file is refused with an error that names the line and never
// contains the key itself.
func TestBadKeyFiles(t *testing.T) {
	cases := []struct {
		file    string
		wantErr string
		secret  string // must not appear in the error
	}{
		{"space.bad.txt", "line 2", "bad key with spaces"},
		{"empty_accounts.bad.txt", "line 2 (fingerprint " + Fingerprint("k2") + "): empty account list", ""},
		{"duplicate.bad.txt", "line 3 (fingerprint " + Fingerprint("k1") + "): duplicate key", ""},
		// One allow-list syntax for WRITE_KEYS and files: ',' is refused, not read as part of
		// an account name.
		{"comma_accounts.bad.txt", "line 2 (fingerprint " + Fingerprint("k2") + "): ',' in the account list: separate accounts with '|'", ""},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			_, err := LoadKeyFile(filepath.Join("testdata", "keys", tc.file))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err %v, want %q", err, tc.wantErr)
			}
			if tc.secret != "" && strings.Contains(err.Error(), tc.secret) {
				t.Errorf("error reveals the key: %v", err)
			}
		})
	}
	// A file of comments only parses to no keys; Config.Validate is what refuses to run so.
	if k, err := LoadKeyFile(filepath.Join("testdata", "keys", "empty.txt")); err != nil || k.Len() != 0 {
		t.Errorf("comments-only file: %d keys, %v", k.Len(), err)
	}
	if _, err := LoadKeyFile(filepath.Join("testdata", "keys", "missing.txt")); !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("missing file: %v", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil {
			return err
		}
		err = u.Unwrap()
	}
}

func TestParseKeyList(t *testing.T) {
	cases := []struct {
		list    string
		n       int
		wantErr string
	}{
		{"k1", 1, ""},
		{" k1 , k2,,", 2, ""},
		{"k1:acme|globex,k2-0123456789abcdef", 2, ""},
		{"k1:acme|globex,k2", 0, "separate accounts with '|'"},
		{"k1:acme,globex", 0, "separate accounts with '|'"},
		{"", 0, ""},
		{"k1,k1", 0, "duplicate key"},
		{"k1:", 0, "empty account list"},
		{"k1:acme,k 2", 0, "spaces"},
		{"k1,k2", 2, ""},
	}
	for _, tc := range cases {
		t.Run(tc.list, func(t *testing.T) {
			k, err := ParseKeyList(tc.list)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if k.Len() != tc.n {
				t.Errorf("%d keys, want %d", k.Len(), tc.n)
			}
		})
	}
	k, _ := ParseKeyList("k1:acme|globex")
	wk, _ := k.Authenticate("k1")
	if !wk.AllowsAccount("globex") || wk.AllowsAccount("initech") {
		t.Error("allow-list from the list form")
	}
}

func TestFingerprint(t *testing.T) {
	fp := Fingerprint(DevWriteKey)
	if len(fp) != 12 || strings.Contains(DevWriteKey, fp) || fp != Fingerprint(DevWriteKey) || fp == Fingerprint("other") {
		t.Errorf("fingerprint %q", fp)
	}
}

func BenchmarkAuthenticate(b *testing.B) {
	specs := make([]KeySpec, 100)
	for i := range specs {
		specs[i].Key = "wk_" + strings.Repeat("x", 20) + string(rune('A'+i%26)) + string(rune('a'+i/26))
	}
	k, err := NewKeys(specs...)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := k.Authenticate(specs[57].Key); !ok {
			b.Fatal("not found")
		}
	}
}
