package anthropic

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// metricsKey is the member Bedrock adds to the last event of an InvokeModelWithResponseStream; Anthropic's
// API has no such member.
const metricsKey = "amazon-bedrock-invocationMetrics"

// Message is the answer to POST /v1/messages from an InvokeModel response body, which for a Claude model is
// already Anthropic's Message object: it is passed on as it came, with model (as the caller named it) added
// when Bedrock left it out.
func Message(body []byte, model string) ([]byte, error) {
	obj, err := decodeObject(body)
	if err != nil {
		return nil, badUpstream("Bedrock answered with a body that is not a Message object.")
	}
	changed := false
	if raw, ok := obj.get("model"); !ok || isNull(raw) || string(raw) == `""` {
		obj.set("model", []byte(strconv.Quote(model)))
		changed = true
	}
	if _, ok := obj.get(metricsKey); ok {
		obj.delete(metricsKey)
		changed = true
	}
	if !changed {
		return body, nil
	}
	return obj.marshal(), nil
}

// TokenCount is the answer to POST /v1/messages/count_tokens.
type TokenCount struct {
	InputTokens int `json:"input_tokens"`
}

// CountTokens reads Bedrock's CountTokens answer, {"inputTokens": N}.
func CountTokens(body []byte) (TokenCount, error) {
	var b struct {
		InputTokens *int `json:"inputTokens"`
	}
	if json.Unmarshal(body, &b) != nil || b.InputTokens == nil {
		return TokenCount{}, badUpstream("Bedrock answered CountTokens without inputTokens.")
	}
	return TokenCount{InputTokens: *b.InputTokens}, nil
}

func badUpstream(msg string) *Error {
	return &Error{Status: http.StatusBadGateway, Type: TypeAPI, Code: "bad_upstream_answer", Message: msg}
}
