// Package e2e tests engage as its users run it: the real service binaries as processes, a
// real ClickHouse and the embedded broker, driven over HTTP, with processes killed and
// restarted. Unit and component tests live beside the code; these prove the delivery
// guarantees of the whole.
package e2e
