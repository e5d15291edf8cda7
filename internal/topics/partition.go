package topics

import (
	"unsafe"

	"github.com/go-faster/city"
)

// AccountPartition is the partition of engagement.health.changes, and of
// engagement.accounts.changed, that holds an account's records: ClickHouse's
// cityHash64(account_id) modulo the partition count. It is not the Java client's murmur2, on
// purpose: a scorer instance that owns some partitions selects their accounts in SQL
// (cityHash64(account_id) % partitions IN (…)), and ClickHouse has no Kafka murmur2. Every
// change of one account is still on one partition, in order.
func AccountPartition(accountID string, partitions int32) int32 {
	if partitions <= 1 {
		return 0
	}
	// A read-only view of the string's bytes: hashing must not allocate per account.
	b := unsafe.Slice(unsafe.StringData(accountID), len(accountID))
	return int32(city.CH64(b) % uint64(partitions))
}
