// Package httpapi is the relay's HTTP surface: the Bedrock Runtime wire API (POST /model/{modelId}/invoke,
// invoke-with-response-stream, converse, converse-stream, count-tokens; ApplyGuardrail and the async-invoke
// operations, guardrail.go and async.go) in front of a router.Router, the caller
// authentication shared with the OpenAI-compatible API under /v1/, Prometheus metrics, the JSON access log,
// and the admin handler (/metrics, /healthz, /readyz).
//
// Requests enter in routes.go. Handlers return errors; one adapter (errors.go) writes them in the shape the
// caller's SDK decodes: X-Amzn-ErrorType and {"message": ...} for Bedrock. The same http.Handler serves a
// plain HTTP(S) server and a Lambda Function URL (lambdaurl.Wrap).
package httpapi
