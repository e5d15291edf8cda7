// Package ingest is the gateway's HTTP API as a library: POST /v1/events and the
// Segment-compatible endpoints (/v1/batch, /v1/track, /v1/page, /v1/screen, /v1/identify,
// /v1/group, /v1/alias and the short paths of Segment's SDKs). It authenticates write keys,
// decodes and validates events (internal/event) and hands the valid ones to a Publisher; it holds
// no Kafka client.
//
// Invariants:
//   - A 2xx is written only after Publisher.Publish returned nil for every accepted event of
//     the request; any publish error is a 503 with Retry-After, so a client that retries on
//     every non-2xx loses nothing. Retries are idempotent downstream because every event
//     carries a stable id (event_id, Segment's messageId, or a hash of the Segment message).
//   - Every event handed to the Publisher passed event.Input.Build (event.Validate) and its
//     write key's account allow-list.
//   - Elements of a batch are decoded one by one: an element with a wrong type or an invalid
//     field is a per-event error in the 200 response and does not affect the others. Only a
//     body whose structure cannot be read (a JSON syntax error outside an NDJSON line, a
//     top-level scalar) or that holds no events is a 400.
//   - Memory is bounded: a body is at most Config.MaxBodyBytes after gzip decoding, and all
//     requests together hold at most Config.MaxInflightBytes; beyond that, requests get 503
//     at once instead of queueing.
//   - Every response, errors included, is a JSON object; errors are {"error": "..."}.
//   - Write keys are kept as SHA-256 digests, compared in constant time, and never logged:
//     logs carry Fingerprint(key).
package ingest
