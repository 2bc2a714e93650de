package sandbox

import (
	"strings"

	"github.com/bedrock-relay/bedrock-relay/catalog"
)

// --- Amazon Nova on InvokeModel ---

var novaKeys = []string{"schemaVersion", "messages", "system", "inferenceConfig", "toolConfig", "additionalModelRequestFields"}
var novaInferenceKeys = []string{"max_new_tokens", "temperature", "top_p", "top_k", "stopSequences", "reasoningConfig"}

func parseNovaBody(m catalog.Model, body []byte) (conversation, *awsError) {
	var c conversation
	obj, err := decodeRequestBody(body, schemaWording)
	if err != nil {
		return c, err
	}
	var v schemaViolations
	checkKeys(&v, "#", obj, []string{"messages"}, novaKeys)
	if raw, ok := obj["schemaVersion"]; ok {
		if s, _ := decodeString(raw); s != "messages-v1" {
			v.add("#/schemaVersion: %s is not a valid enum value", strings.TrimSpace(string(raw)))
		}
	}
	c.MaxTokens = min(defaultMaxTokens, max(m.MaxOutputTokens, 1))
	if raw, ok := obj["inferenceConfig"]; ok {
		ic, ok := decodeObject(raw)
		if !ok {
			v.add("#/inferenceConfig: expected type: JSONObject, found: %s", jsonKind(raw))
		} else {
			checkKeys(&v, "#/inferenceConfig", ic, nil, novaInferenceKeys)
			if raw, ok := ic["max_new_tokens"]; ok {
				n, big, isInt := decodeInt(raw)
				switch {
				case !isInt:
					v.add("#/inferenceConfig/max_new_tokens: expected type: Integer, found: %s", jsonKind(raw))
				case big || (m.MaxOutputTokens > 0 && n > m.MaxOutputTokens):
					v.add("#/inferenceConfig/max_new_tokens: %s is not less or equal to %d", strings.TrimSpace(string(raw)), m.MaxOutputTokens)
				case n < 1:
					v.add("#/inferenceConfig/max_new_tokens: %d is not greater or equal to 1", n)
				default:
					c.MaxTokens = n
				}
			}
			if raw, ok := ic["temperature"]; ok {
				c.Temperature = checkRange(&v, "#/inferenceConfig/temperature", raw, 0, 1)
			}
			if raw, ok := ic["top_p"]; ok {
				checkRange(&v, "#/inferenceConfig/top_p", raw, 0, 1)
			}
			if raw, ok := ic["top_k"]; ok {
				if _, _, isInt := decodeInt(raw); !isInt {
					v.add("#/inferenceConfig/top_k: expected type: Integer, found: %s", jsonKind(raw))
				}
			}
			if raw, ok := ic["stopSequences"]; ok {
				c.StopSequences = checkStringList(&v, "#/inferenceConfig/stopSequences", raw)
			}
		}
	}
	if raw, ok := obj["messages"]; ok && jsonKind(raw) != "JSONArray" {
		v.add("#/messages: expected type: JSONArray, found: %s", jsonKind(raw))
	}
	if raw, ok := obj["system"]; ok && jsonKind(raw) != "JSONArray" {
		v.add("#/system: expected type: JSONArray, found: %s", jsonKind(raw))
	}
	if err := v.err(); err != nil {
		return c, err
	}
	var p converseParser
	if err := p.body(&c, obj, "messages", "system", "toolConfig"); err != nil {
		return c, err
	}
	return c, nil
}
