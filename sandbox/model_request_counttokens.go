package sandbox

import (
	"encoding/base64"

	"github.com/bedrock-relay/bedrock-relay/catalog"
)

// --- CountTokens ---

// parseCountTokensBody parses a CountTokens request: the input is either an InvokeModel body (base64, in the
// model's dialect) or the Converse members.
func parseCountTokensBody(m catalog.Model, body []byte) (conversation, *awsError) {
	var c conversation
	obj, err := decodeRequestBody(body, coralWording)
	if err != nil {
		return c, err
	}
	raw, ok := obj["input"]
	if !ok || isNull(raw) {
		return c, validationException("1 validation error detected: Value null at 'input' failed to satisfy constraint: Member must not be null")
	}
	in, ok := decodeObject(raw)
	if !ok {
		return c, typeMismatch("input", "a JSON object", raw)
	}
	invoke, hasInvoke := in["invokeModel"]
	converse, hasConverse := in["converse"]
	hasInvoke = hasInvoke && !isNull(invoke)
	hasConverse = hasConverse && !isNull(converse)
	switch {
	case hasInvoke && hasConverse, !hasInvoke && !hasConverse:
		return c, validationException("The input field must set exactly one of invokeModel or converse. Try again with one of them set.")
	case hasInvoke:
		im, ok := decodeObject(invoke)
		if !ok {
			return c, typeMismatch("input.invokeModel", "a JSON object", invoke)
		}
		b64, ok := decodeString(im["body"])
		if !ok {
			return c, validationException("1 validation error detected: Value null at 'input.invokeModel.body' failed to satisfy constraint: Member must not be null")
		}
		inner, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return c, validationException("The input.invokeModel.body field is not valid base64. Encode the model request body with base64 and try again.")
		}
		return parseInvokeBody(m, inner)
	}
	cv, ok := decodeObject(converse)
	if !ok {
		return c, typeMismatch("input.converse", "a JSON object", converse)
	}
	if raw, ok := cv["additionalModelRequestFields"]; ok && !isNull(raw) && jsonKind(raw) != "JSONObject" {
		return c, typeMismatch("input.converse.additionalModelRequestFields", "a JSON object", raw)
	}
	var p converseParser
	c.MaxTokens = defaultMaxTokens
	if err := p.body(&c, cv, "messages", "system", "toolConfig"); err != nil {
		return c, err
	}
	return c, nil
}
