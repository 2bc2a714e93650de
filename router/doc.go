// Package router pools Bedrock targets (an assumed role in one account × a region × the models it serves)
// behind one entry point. For each request it picks the eligible target with the most headroom under its
// client-side budgets, forwards the caller's bytes through package upstream, and fails over to the next
// target within the request's deadline on throttling and transient faults — never on the caller's own
// mistakes (ValidationException). Targets that throttle cool down until their window frees; targets with a
// setup problem (AccessDenied, model not enabled) are taken out for long and reported as such.
//
// The caller's bytes go on as they came, except where the target's model would refuse them: the
// compatibility shim (compat.go) rewrites an anthropic_version the model does not serve when the body means
// the same under one it does, and drops (or passes, or refuses) anthropic_beta flags it does not take, per
// attempt, from the catalogue's anthropic table. CountTokens is sent with the foundation-model id.
//
// Operations that name no model in their path go where what they name lives (direct.go): ApplyGuardrail and
// GetAsyncInvoke to a target in the guardrail's or invocation's account and region, ListAsyncInvokes to each;
// StartAsyncInvoke is picked and failed over as InvokeModel is, but only while nothing can have started.
//
// Streams may fail over until their first event has been passed on; after that a failure reaches the caller
// as an exception event, never as a silently truncated stream.
package router
