// Package openai translates between the OpenAI Chat Completions API and Bedrock Converse, so that the relay
// can serve OpenAI clients from the same pool, keys and failover as the Bedrock wire API.
//
// It is pure translation and has no HTTP server of its own: ParseRequest validates an OpenAI request body and
// builds the Converse body; Completion maps a Converse response to a chat.completion; a Stream maps
// ConverseStream event-stream frames to chat.completion.chunk objects for server-sent events; Error is OpenAI's
// error shape and FromBedrock puts a Bedrock error answer into it. It knows no router and no HTTP server:
// package internal/httpapi serves it under /v1/, maps the router's errors and writes every error answer.
//
// What Converse cannot express is refused with a 400 naming the field (n > 1, remote image URLs, audio,
// logprobs, JSON response formats) rather than silently dropped; sampling knobs Bedrock has no counterpart
// for (presence and frequency penalties, seed, logit_bias) are ignored.
package openai
