package httpapi

import (
	"net/http"

	"github.com/bedrock-relay/bedrock-relay/upstream"
)

// bedrockOps are the Bedrock Runtime operations, by the last segment of POST /model/{modelId}/{op}.
var bedrockOps = map[string]struct{ stream, nativeBody bool }{
	upstream.OpInvoke:         {nativeBody: true},
	upstream.OpInvokeStream:   {stream: true, nativeBody: true},
	upstream.OpConverse:       {},
	upstream.OpConverseStream: {stream: true},
	upstream.OpCountTokens:    {},
}

// routes is the relay's whole HTTP surface:
//
//	POST /model/{modelId}/invoke                        InvokeModel
//	POST /model/{modelId}/invoke-with-response-stream   InvokeModelWithResponseStream
//	POST /model/{modelId}/converse                      Converse
//	POST /model/{modelId}/converse-stream               ConverseStream
//	POST /model/{modelId}/count-tokens                  CountTokens
//	POST /guardrail/{id}/version/{version}/apply        ApplyGuardrail (guardrail.go)
//	POST /async-invoke, GET /async-invoke[/{arn}]       StartAsyncInvoke, ListAsyncInvokes, GetAsyncInvoke (async.go)
//	     /v1/...                                        the OpenAI-compatible API (openai*.go)
//	anything else                                       404 UnknownOperationException
//
// {modelId} is split off the escaped path by serveModel rather than by the mux, so that an ARN keeps its
// slashes whether they arrive as %2F or raw. The admin endpoints (/metrics, /healthz, /readyz) are on their own
// port: NewAdminHandler.
func (h *Handler) routes() {
	bedrock := func(f apiFunc) http.Handler { return h.serve("bedrock", bedrockShape, f) }
	openai := func(f apiFunc) http.Handler { return h.serve("openai", openAIShape, f) }

	h.mux.Handle("/model/", bedrock(h.serveModel))
	h.mux.Handle("/guardrail/", bedrock(h.applyGuardrail))
	h.mux.Handle("/async-invoke", bedrock(h.asyncInvokes))
	h.mux.Handle("/async-invoke/", bedrock(h.getAsyncInvoke))

	// The OpenAI-compatible API authenticates with the same keys (h.Authenticate) and routes through the same
	// router. Its handlers live in openai*.go.
	h.mux.Handle("POST /v1/chat/completions", openai(h.chatCompletions))
	h.mux.Handle("GET /v1/models", openai(h.listModels))
	h.mux.Handle("GET /v1/models/{model}", openai(h.retrieveModel))
	h.mux.Handle("/v1/", openai(h.openAINotFound))

	// Bedrock's control-plane reads that clients make at start (controlplane.go) and the Anthropic Messages
	// API (anthropic.go).
	h.controlPlaneRoutes()
	h.anthropicRoutes()

	h.mux.Handle("/", bedrock(h.notFound))
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request, x *exchange) error {
	return unknownOperation(r)
}

func unknownOperation(r *http.Request) *Error {
	return &Error{Status: http.StatusNotFound, Code: "UnknownOperationException",
		Message: "The relay serves the Bedrock Runtime API: POST /model/{modelId}/invoke, invoke-with-response-stream, converse, converse-stream or count-tokens, POST /guardrail/{guardrailIdentifier}/version/{guardrailVersion}/apply, POST and GET /async-invoke and GET /async-invoke/{invocationArn}; not " + r.Method + " " + r.URL.EscapedPath() + "."}
}

// openAINotFound answers /v1/ paths no OpenAI-compatible handler serves.
func (h *Handler) openAINotFound(w http.ResponseWriter, r *http.Request, x *exchange) error {
	x.op = "openai"
	return &Error{Status: http.StatusNotFound, Code: "UnknownOperationException",
		Message: "The relay has no OpenAI-compatible endpoint " + r.Method + " " + r.URL.EscapedPath() + "."}
}
