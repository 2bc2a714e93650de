// Package ratelimit keeps client-side request and token budgets for every target × model the relay can call,
// so that the relay refuses or reroutes a request before Amazon Bedrock answers it with a ThrottlingException,
// and so that the router can send each request to the target with the most headroom.
//
// A [Table] holds, per [Key] (a target and a model id), the [Budget] (requests per minute, tokens per minute,
// tokens per day; 0 means unlimited), the requests and tokens in flight, a sliding 60-second window of
// requests and tokens, a rolling 24-hour window of tokens, and a cooldown.
//
// Token accounting mirrors Bedrock's. [Table.Reserve] charges input tokens + max_tokens against the minute
// and day windows at request start; [Reservation.Commit] corrects the charge to input + output × burndown once
// the response's usage is known (the burndown rate is 5 for the Claude models Bedrock lists, 1 otherwise; the
// caller passes it, see catalog.Model.OutputBurndown). The correction may be upward: a reservation is checked
// against the budget, the correction is not, exactly as Bedrock does. [Reservation.Cancel] takes a
// reservation back when the request never reached Bedrock.
//
// The windows are rings of fixed-width buckets: 64 buckets of 1 s for the minute, 128 of 12 min for the day,
// about 6 KiB per key whatever the budget (RPM 10,000 and TPM 10M cost the same as RPM 2). A bucket leaves the
// window one span after its latest event, so the window is never more generous than Bedrock's own and at
// most one bucket width stricter; a Retry-After computed from it is exact for the bucket's latest request. The day window is a rolling 24 hours rather
// than a calendar day: its sum is never below the calendar day's, so it stays within the quota whichever way
// Bedrock counts.
//
// Cooldowns take a target × model out of rotation for a while after Bedrock says no: [CauseThrottled] until
// the oldest request in the minute window leaves (at least a few seconds), [CauseDaily] until the oldest day
// bucket leaves, [CauseSetup] (access denied, model not enabled) for ten minutes, and [CauseFault] (5xx) with
// an exponential backoff that [Table.Success] resets.
//
// By default a table's windows and cooldowns are its process's alone. Several relay processes (replicas of
// `serve`, Lambda instances) in front of the same accounts share them through a [Shared] store given with
// [WithShared] (package ratelimit/redisstore: Redis): Reserve then checks and charges the store's windows in
// one atomic step, Commit and Cancel settle there in the background, and hard cooldowns (with their cause and
// end) set by one process keep every process off the key. The failure policy's soft backoffs and probes stay
// per process. While the store cannot answer, each table decides alone on its own windows at a share of each
// budget (say 1/2 for two replicas), and what it admits then is not replayed to the store.
//
// The package does no I/O and reads time only through the clock given to [New]. All methods are safe for
// concurrent use; each key has its own lock, and Reserve / Commit do not allocate once a key is warm (without
// a shared store; with one, the store's round trip costs what it costs).
package ratelimit
