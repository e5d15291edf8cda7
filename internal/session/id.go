package session

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
)

// SessionID identifies a session: the first 128 bits of SHA-256 over the Key and the
// session's first event (see NewSessionID). It is rendered as 32 lowercase hex characters.
type SessionID [16]byte

// NewSessionID returns the ID of the session of k whose first event has the given TS and ID.
// The input is length-prefixed, so no two different (account, user) pairs hash the same
// bytes:
//
//	be32(len(account)) ‖ account ‖ be32(len(user)) ‖ user ‖ be64(firstTS) ‖ be64(firstID)
//
// SHA-256 rather than a faster non-cryptographic hash because the IDs are permanent row keys
// any tool (including SQL) can recompute, and the cost is paid once per written row, not per
// event.
func NewSessionID(k Key, firstTS int64, firstID uint64) SessionID {
	var stack [256]byte
	return newSessionID(stack[:0], k, firstTS, firstID)
}

// newSessionID hashes using buf's capacity as scratch, so the Tracker hashes without
// allocating.
func newSessionID(buf []byte, k Key, firstTS int64, firstID uint64) SessionID {
	buf = binary.BigEndian.AppendUint32(buf[:0], uint32(len(k.Account)))
	buf = append(buf, k.Account...)
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(k.User)))
	buf = append(buf, k.User...)
	buf = binary.BigEndian.AppendUint64(buf, uint64(firstTS))
	buf = binary.BigEndian.AppendUint64(buf, firstID)
	sum := sha256.Sum256(buf)
	var id SessionID
	copy(id[:], sum[:16])
	return id
}

// String returns the ID as 32 lowercase hex characters.
func (id SessionID) String() string { return hex.EncodeToString(id[:]) }

// MarshalText renders the ID as String does, for JSON and logs.
func (id SessionID) MarshalText() ([]byte, error) {
	return hex.AppendEncode(nil, id[:]), nil
}

// UnmarshalText parses 32 hex characters.
func (id *SessionID) UnmarshalText(b []byte) error {
	if len(b) != 2*len(id) {
		return fmt.Errorf("parsing session id %q: want %d hex characters", b, 2*len(id))
	}
	if _, err := hex.Decode(id[:], b); err != nil {
		return fmt.Errorf("parsing session id %q: %w", b, err)
	}
	return nil
}
