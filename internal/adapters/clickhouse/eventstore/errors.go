package eventstore

import (
	"errors"

	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"

	"github.com/engage-oss/engage/internal/worker"
)

// dataErrorCodes are ClickHouse exception codes that mean "these rows are bad", so retrying
// them cannot help. Anything else (network, timeouts, too many parts, a missing table while
// migrations run) is an outage to be waited out.
var dataErrorCodes = map[int32]bool{
	6:   true, // CANNOT_PARSE_TEXT
	27:  true, // CANNOT_PARSE_INPUT_ASSERTION_FAILED
	53:  true, // TYPE_MISMATCH
	70:  true, // CANNOT_CONVERT_TYPE
	117: true, // INCORRECT_DATA
	131: true, // TOO_LARGE_STRING_SIZE
	321: true, // VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
}

// classify marks data errors as permanent for the worker's retry loop.
func classify(err error) error {
	var ex *proto.Exception
	if errors.As(err, &ex) && dataErrorCodes[ex.Code] {
		return &worker.PermanentError{Err: err}
	}
	return err
}
