package ingest

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/engage-oss/engage/internal/event"
)

// maxKeyLen bounds a write key; longer Authorization values are refused before hashing.
const maxKeyLen = 256

// Keys is an immutable set of write keys, each optionally restricted to a list of accounts.
// It keeps only SHA-256 digests of the keys: a heap dump or a log line never shows one.
type Keys struct {
	entries []keyEntry
}

type keyEntry struct {
	digest   [sha256.Size]byte
	fp       string
	accounts map[string]struct{} // nil: every account
}

// KeySpec is one write key and the accounts it may send events for.
type KeySpec struct {
	Key string
	// Accounts is the account allow-list; empty allows every account.
	Accounts []string
}

// Fingerprint identifies a key in logs and errors without revealing it: the first 12 hex
// digits of its SHA-256.
func Fingerprint(key string) string {
	d := sha256.Sum256([]byte(key))
	return hex.EncodeToString(d[:6])
}

// NewKeys builds a key set. Keys must be 1..256 printable characters without spaces, ','
// or ':' (the separators of the list and file formats; HTTP Basic forbids ':' in a user
// name anyway), and unique.
func NewKeys(specs ...KeySpec) (*Keys, error) {
	return newKeys(specs, func(i int) string { return fmt.Sprintf("key %d", i+1) })
}

// newKeys builds a key set; where(i) names spec i in errors (its position or its line).
// Errors show a key's fingerprint, never the key.
func newKeys(specs []KeySpec, where func(int) string) (*Keys, error) {
	k := &Keys{entries: make([]keyEntry, 0, len(specs))}
	seen := make(map[[sha256.Size]byte]bool, len(specs))
	for i, s := range specs {
		e, err := newEntry(s)
		if err != nil {
			return nil, fmt.Errorf("%s (fingerprint %s): %w", where(i), Fingerprint(s.Key), err)
		}
		if seen[e.digest] {
			return nil, fmt.Errorf("%s (fingerprint %s): duplicate key", where(i), e.fp)
		}
		seen[e.digest] = true
		k.entries = append(k.entries, e)
	}
	return k, nil
}

func newEntry(s KeySpec) (keyEntry, error) {
	if err := checkKey(s.Key); err != nil {
		return keyEntry{}, err
	}
	e := keyEntry{digest: sha256.Sum256([]byte(s.Key)), fp: Fingerprint(s.Key)}
	if len(s.Accounts) > 0 {
		e.accounts = make(map[string]struct{}, len(s.Accounts))
		for _, a := range s.Accounts {
			if a == "" || len(a) > event.MaxAccountIDLen*4 || utf8.RuneCountInString(a) > event.MaxAccountIDLen || !utf8.ValidString(a) {
				return keyEntry{}, fmt.Errorf("account %q: must be 1..%d characters of UTF-8", a, event.MaxAccountIDLen)
			}
			e.accounts[a] = struct{}{}
		}
	}
	return e, nil
}

func checkKey(key string) error {
	if key == "" {
		return errors.New("empty key")
	}
	if len(key) > maxKeyLen {
		return fmt.Errorf("longer than %d bytes", maxKeyLen)
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c <= ' ' || c == 0x7f || c == ',' || c == ':' {
			return fmt.Errorf("contains %q at byte %d: spaces, control characters, ',' and ':' are not allowed", c, i)
		}
	}
	if !utf8.ValidString(key) {
		return errors.New("not valid UTF-8")
	}
	return nil
}

// AccountSeparator separates the accounts of a key's allow-list, in WRITE_KEYS and in a key
// file alike: `key:account1|account2`. It is '|' because ',' separates the keys of
// WRITE_KEYS.
const AccountSeparator = "|"

// ParseKeyList parses a comma-separated list of keys (the WRITE_KEY / WRITE_KEYS form): each
// item is `key`, or `key:account1|account2` to restrict the key to those accounts. Spaces
// around items and empty items are ignored.
func ParseKeyList(list string) (*Keys, error) {
	var specs []KeySpec
	for _, item := range strings.Split(list, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		s, err := parseKeySpec(item)
		if err != nil {
			return nil, fmt.Errorf("parsing key list: item %d (fingerprint %s): %w", len(specs)+1, Fingerprint(s.Key), err)
		}
		specs = append(specs, s)
	}
	k, err := NewKeys(specs...)
	if err != nil {
		return nil, fmt.Errorf("parsing key list: %w", err)
	}
	if err := checkMixedList(specs); err != nil {
		return nil, err
	}
	return k, nil
}

// MinMixedKeyLen is the shortest unrestricted key a list with restricted keys may hold.
const MinMixedKeyLen = 16

// checkMixedList refuses "k1:acme,globex": key files once separated accounts with ',', and in
// a list that line makes globex a key for every account. Nothing in the text tells the two
// apart, so a list that restricts some keys may not also hold a short unrestricted one; real
// keys are long random strings, account ids rarely are.
func checkMixedList(specs []KeySpec) error {
	restricted := false
	for _, s := range specs {
		restricted = restricted || len(s.Accounts) > 0
	}
	if !restricted {
		return nil
	}
	for i, s := range specs {
		if len(s.Accounts) == 0 && len(s.Key) < MinMixedKeyLen {
			return fmt.Errorf("parsing key list: item %d (fingerprint %s) is an unrestricted key of %d characters in a list with restricted keys: "+
				"if it is an account, separate accounts with '|' (key:account1|account2); a key must then have at least %d characters",
				i+1, Fingerprint(s.Key), len(s.Key), MinMixedKeyLen)
		}
	}
	return nil
}

// parseKeySpec parses `key` or `key:a|b`.
func parseKeySpec(text string) (KeySpec, error) {
	key, accts, restricted := strings.Cut(text, ":")
	s := KeySpec{Key: strings.TrimSpace(key)}
	if !restricted {
		return s, nil
	}
	if strings.Contains(accts, ",") {
		// Key files used to separate accounts with ','; reading "a,b" as the one account
		// "a,b" would silently refuse both.
		return s, errors.New("',' in the account list: separate accounts with '|' (key:account1|account2), as in WRITE_KEYS")
	}
	for _, a := range strings.Split(accts, AccountSeparator) {
		if a = strings.TrimSpace(a); a != "" {
			s.Accounts = append(s.Accounts, a)
		}
	}
	if len(s.Accounts) == 0 {
		// "key:" with nothing after it would otherwise silently allow every account.
		return s, errors.New("empty account list after ':'")
	}
	return s, nil
}

// ParseKeyFile reads one key per line, in the syntax of a WRITE_KEYS item: `key`, or
// `key:account1|account2` to restrict the key to those accounts. Blank lines and lines
// starting with '#' are ignored.
func ParseKeyFile(r io.Reader) (*Keys, error) {
	var specs []KeySpec
	var lines []int
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		s, err := parseKeySpec(line)
		if err != nil {
			return nil, fmt.Errorf("parsing key file: line %d (fingerprint %s): %w", n, Fingerprint(s.Key), err)
		}
		specs = append(specs, s)
		lines = append(lines, n)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("parsing key file: %w", err)
	}
	k, err := newKeys(specs, func(i int) string { return fmt.Sprintf("line %d", lines[i]) })
	if err != nil {
		return nil, fmt.Errorf("parsing key file: %w", err)
	}
	return k, nil
}

// LoadKeyFile reads a key file (see ParseKeyFile).
func LoadKeyFile(path string) (*Keys, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("loading key file: %w", err)
	}
	defer f.Close()
	k, err := ParseKeyFile(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// Len is the number of keys; 0 for a nil set.
func (k *Keys) Len() int {
	if k == nil {
		return 0
	}
	return len(k.entries)
}

// WriteKey is an authenticated write key.
type WriteKey struct {
	e   *keyEntry
	idx int
}

// Fingerprint is the key's fingerprint, for logs.
func (w WriteKey) Fingerprint() string { return w.e.fp }

// AllowsAccount reports whether the key may send events for the account.
func (w WriteKey) AllowsAccount(account string) bool {
	if w.e.accounts == nil {
		return true
	}
	_, ok := w.e.accounts[account]
	return ok
}

// Authenticate finds the key. It compares the presented key's digest with every configured
// digest in constant time and visits all of them whatever matches, so neither the response
// time nor a partial match tells an attacker which key, or which prefix of a key, is close.
// The cost is linear in the number of keys (about 30 ns each): fine for thousands of keys.
func (k *Keys) Authenticate(key string) (WriteKey, bool) {
	if k == nil || key == "" || len(key) > maxKeyLen {
		return WriteKey{}, false
	}
	d := sha256.Sum256([]byte(key))
	found, idx := 0, 0
	for i := range k.entries {
		eq := subtle.ConstantTimeCompare(d[:], k.entries[i].digest[:])
		idx = subtle.ConstantTimeSelect(eq, i, idx)
		found |= eq
	}
	if found == 0 {
		return WriteKey{}, false
	}
	return WriteKey{e: &k.entries[idx], idx: idx}, true
}
