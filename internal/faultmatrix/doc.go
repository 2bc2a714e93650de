// Package faultmatrix drives a relay through the faults Amazon Bedrock and STS really produce — throttles and
// 5xx at a rate, STS unreachable for a while, slow answers against the relay's own deadline, bodies that
// arrive too slowly, streams cut cleanly or dirtily — and counts, per fault, what its callers saw: answered,
// refused with a clear error, lost (no answer and no error in the API's shape), or silently truncated (a
// stream that ended without its terminal events and without an error).
//
// The same rows run in `go test` (small, bounded: cmd/bedrock-relay's TestFaultMatrix) and at scale in
// `go run ./bench -phases faults`, which prints the table bench/RESULTS.md keeps. The sandbox is driven
// through its admin API only, so the relay and the sandbox may be processes of their own.
package faultmatrix
