// Package mainlib assembles a relay from its config, for `serve` and the Lambda Function URL alike:
// config → the budget table (ratelimit; shared between relays through ratelimit/redisstore for state.backend
// redis) → credcache (each target's assumed-role credentials) → upstream (the signed forwarder per target) →
// quotas (`budgets: auto` from Service Quotas) → router (pick, failover, cooldowns) → httpapi (the API
// handler and the admin handler). The packages it wires know nothing of each other's construction: the router
// takes built targets and no config, STS or Service Quotas client.
package mainlib
