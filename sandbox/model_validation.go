package sandbox

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/bedrock-relay/bedrock-relay/catalog"
)

// --- Converse's model-specific request fields ---

// checkConverseModel applies, once Converse's body is parsed and its model resolved, what the model itself
// checks: the members of additionalModelRequestFields (the catalogue's converse_fields rows), the beta flags
// among them, and for Claude the thinking rules over the whole request. It records the thinking in c.
func (c *conversation) checkConverseModel(m catalog.Model, body []byte) *awsError {
	obj, _ := decodeObject(body)
	amrf, _ := decodeObject(obj["additionalModelRequestFields"])
	if fields, known := catalog.Default().ConverseFields(m.ID); known {
		if msg := checkRequestFields(m, amrf, fields); msg != "" {
			if m.Family == familyAnthropic {
				return validationException("%s%s", modelErrorsPrefix, msg)
			}
			return malformedInput(msg)
		}
	}
	if m.Family != familyAnthropic {
		return nil
	}
	var betas []string
	if raw, ok := amrf["anthropic_beta"]; ok && !isNull(raw) {
		arr, ok := decodeArray(raw)
		for _, e := range arr {
			s, isStr := decodeString(e)
			ok = ok && isStr
			betas = append(betas, s)
		}
		if !ok {
			return validationException("%santhropic_beta: Input should be a valid list of strings", modelErrorsPrefix) // wording: pydantic's form, not observed
		}
		cp, known := anthropicCompat(m)
		for _, b := range betas {
			if known && !cp.AcceptsBeta(b) {
				// continuedev/continue#11969: Converse says so for a flag the model does not take.
				return validationException("%sinvalid beta flag", modelErrorsPrefix)
			}
		}
	}
	if raw, ok := amrf["top_k"]; ok && !isNull(raw) {
		if k, _, isInt := decodeInt(raw); !isInt || k < 0 {
			return validationException("%stop_k: Input should be a valid integer, greater than or equal to 0", modelErrorsPrefix) // wording: pydantic's form, not observed
		}
	}
	ic, _ := decodeObject(obj["inferenceConfig"])
	spec, msg := checkThinking(thinkingRequest{Model: m, Thinking: amrf["thinking"], MaxTokens: c.MaxTokens, Temperature: c.Temperature,
		TopP: ic["topP"], TopK: amrf["top_k"], ToolChoice: c.ToolChoice, Tools: len(c.Tools) > 0, Betas: betas, History: converseHistory(obj)})
	if msg != "" {
		return validationException("%s%s", modelErrorsPrefix, msg)
	}
	c.Thinking = spec
	return nil
}

// checkRequestFields checks additionalModelRequestFields against the model's rows (dotted paths): a member no
// row lists is refused, and an object member with listed children may hold only those. Claude words it as
// pydantic does ("KEY: Extra inputs are not permitted": BerriAI/litellm#28081, #13825, #13609); Nova as its
// JSON schema does for InvokeModel, "#: extraneous key [KEY] is not permitted". // wording: Nova's guessed
func checkRequestFields(m catalog.Model, amrf map[string]json.RawMessage, fields []string) string {
	children := map[string][]string{} // member -> the children its rows list; a member without has none
	for _, f := range fields {
		top, rest, nested := strings.Cut(f, ".")
		if nested {
			children[top] = append(children[top], rest)
		} else if _, ok := children[top]; !ok {
			children[top] = nil
		}
	}
	anthropic := m.Family == familyAnthropic
	for _, k := range sortedKeys(amrf) {
		kids, ok := children[k]
		if !ok {
			if anthropic {
				return k + ": Extra inputs are not permitted"
			}
			return fmt.Sprintf("#: extraneous key [%s] is not permitted", k)
		}
		if len(kids) == 0 || isNull(amrf[k]) {
			continue
		}
		sub, isObj := decodeObject(amrf[k])
		if !isObj {
			if anthropic {
				return k + ": Input should be a valid dictionary or object to extract fields from"
			}
			return fmt.Sprintf("#/%s: expected type: JSONObject, found: %s", k, jsonKind(amrf[k]))
		}
		for _, kk := range sortedKeys(sub) {
			if !slices.ContainsFunc(kids, func(p string) bool { return p == kk || strings.HasPrefix(p, kk+".") }) {
				if anthropic {
					return k + "." + kk + ": Extra inputs are not permitted"
				}
				return fmt.Sprintf("#/%s: extraneous key [%s] is not permitted", k, kk)
			}
			if !anthropic && kk == "topK" {
				if _, _, isInt := decodeInt(sub[kk]); !isInt {
					return fmt.Sprintf("#/%s/%s: expected type: Integer, found: %s", k, kk, jsonKind(sub[kk]))
				}
			}
		}
	}
	return ""
}
