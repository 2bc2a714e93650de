// Package credcache keeps the assumed-role credentials of one relay.Target: the SDK's stscreds.AssumeRoleProvider
// inside an aws.CredentialsCache, refreshed a little ahead of expiry.
//
// A Cache calls STS once per credential lifetime, not once per request: concurrent requests share the cached
// credentials, and when they run out the SDK cache lets exactly one caller refresh while the others wait for
// it. Invalidate drops credentials AWS has refused as expired. Refresh counts and a hook serve metrics and
// logs; neither ever sees a secret.
//
// Keyed is the per-caller-key sessions of a target (attribution.session_per_key): one Cache per key, each
// assuming the role with a session name and session tags naming the key and its group, at most MaxSessions
// of them kept (least recently used dropped first).
package credcache
