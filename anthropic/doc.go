// Package anthropic translates between Anthropic's Messages API and Bedrock's InvokeModel for Claude models,
// so that the relay can serve the Anthropic SDKs (and tools built on them) from the same pool, keys and
// failover as the Bedrock wire API.
//
// Bedrock's InvokeModel body for a Claude model is the Messages API body with model and stream taken out
// and anthropic_version (and anthropic_beta) moved from headers into the body, and its answer is already a
// Message; so the translation is mostly moving members. ParseRequest builds the InvokeModel body from a
// POST /v1/messages body and the anthropic-beta header; ParseCountTokens builds a CountTokens body; Message
// passes an InvokeModel answer on; a Stream maps InvokeModelWithResponseStream frames to Anthropic's
// server-sent events; Models maps Anthropic's model names (claude-sonnet-4-5-20250929, claude-sonnet-4-5)
// to Bedrock ids, derived from the catalogue rather than listed; Error is Anthropic's error shape and
// FromBedrock puts a Bedrock error answer into it, by the root package's table of AWS codes.
//
// It knows no router and no HTTP server: package internal/httpapi serves it under /v1/messages, maps the
// router's errors and writes every answer.
package anthropic
