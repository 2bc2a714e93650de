// Package redisstore keeps the relay's budget windows and hard cooldowns in Redis (or anything that speaks
// its protocol: Valkey, ElastiCache, MemoryDB, a Sentinel-managed primary or a Cluster), so that every relay
// process and Lambda instance in front of the same accounts keeps to one budget. A [Store] is a
// [ratelimit.Shared]; give it to a table with ratelimit.WithShared.
//
// # Keys
//
// Each name the table uses (ratelimit.SharedName: "tm:TARGET/MODEL") has three keys, under the prefix
// (default "bedrock-relay:") and a hash tag, so that a script's keys share one Cluster slot:
//
//	PREFIX{NAME}:m     hash: the minute window, 1 s buckets ("r<n>" requests, "t<n>" tokens of bucket n)
//	PREFIX{NAME}:d     hash: the day window, 12 min buckets ("t<n>")
//	PREFIX{NAME}:cool  string: the cause of a cooldown (throttled, daily, setup, fault), expiring when it ends
//
// Every write sets an expiry (the window's span and two buckets; a cooldown's length), so keys leave by
// themselves. Relays that share a prefix share budgets: give every replica the same targets and budgets, and
// another prefix to another pool.
//
// # Calls
//
// A reservation is one round trip: a Lua script (reserve.lua, loaded once and run with EVALSHA, falling back to
// EVAL after NOSCRIPT) reads the server's clock (TIME, so replicas with skewed clocks agree), sums the live
// buckets, refuses with the wait and the cause when the budget passed with the call or a cooldown forbids, and
// otherwise charges the current buckets and returns them. [Store.Lease] runs the same script for up to n
// requests at once, charging as many as fit (the table's leases, see ratelimit.WithShared). Settlements
// (settle.lua: Commit's and Cancel's corrections, and what an ended lease gives back) are summed per bucket
// and written every settleLinger; cooldowns (cooldown.lua) and notices are queued; one background goroutine
// writes both in pipelined batches, off the request's path.
//
// # When Redis is in trouble
//
// Every call has a short timeout and no retries. The first failure (unreachable, slow, refusing) switches
// the store to fallback: Reserve answers an error at once, without a round trip, so the table decides on its
// own windows at its share of each budget; queued writes are dropped, and nothing decided meanwhile is
// replayed later. A background probe runs the reserve script on a probe key every probe interval; when it
// answers, sharing resumes. Each switch is logged once, and shown by the metrics
// bedrock_relay_state_backend_up, bedrock_relay_state_fallbacks_total,
// bedrock_relay_state_local_reservations_total, bedrock_relay_state_errors_total and
// bedrock_relay_state_dropped_writes_total, and by [Store.Status] (for /readyz). A Redis that restarts empty
// loses at most the windows and cooldowns running then.
//
// Every loss errs on the strict side: a reservation whose answer timed out may have been charged all the
// same (it then counts in Redis and locally), and a dropped settlement leaves the reservation charged at
// input + max_tokens, or a cancelled request counted. In Lambda the writer runs only while the instance is
// thawed: a settlement queued as an invocation ends is written at the next one, or lost with the instance.
package redisstore
