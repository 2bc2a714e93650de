package sandbox

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/bedrock-relay/bedrock-relay/catalog"
)

// guardrailRun is a guardrail a Converse or InvokeModel request asked for (Converse's guardrailConfig, or
// InvokeModel's X-Amzn-Bedrock-GuardrailIdentifier / -GuardrailVersion / -Trace headers), and what it found.
type guardrailRun struct {
	Guardrail *GuardrailSpec
	Trace     bool // trace enabled or enabled_full
	Input     guardrailCheck
	Output    *guardrailCheck // nil until the output is checked, or when the input was blocked
}

// Intervened reports whether the guardrail blocked the input or the output.
func (g *guardrailRun) Intervened() bool {
	return g != nil && (g.Input.Intervened() || (g.Output != nil && g.Output.Intervened()))
}

// prepareGuardrail reads the guardrail a request names, refuses one that does not exist (or that IAM does not
// let the caller apply), and checks the conversation's input against it. It answers nil when the request
// names no guardrail.
func (s *Sandbox) prepareGuardrail(p *principal, region, op string, body []byte, hdr http.Header, conv conversation) (*guardrailRun, *awsError) {
	var ident, version, trace string
	switch op {
	case "Converse", "ConverseStream":
		var b struct {
			GuardrailConfig *struct {
				Identifier string `json:"guardrailIdentifier"`
				Version    string `json:"guardrailVersion"`
				Trace      string `json:"trace"`
				Mode       string `json:"streamProcessingMode"`
			} `json:"guardrailConfig"`
		}
		if err := json.Unmarshal(body, &b); err != nil || b.GuardrailConfig == nil {
			return nil, nil // the body's own parser has refused a malformed one
		}
		gc := b.GuardrailConfig
		ident, version, trace = gc.Identifier, gc.Version, gc.Trace
		var v coralViolations
		switch trace {
		case "", "enabled", "disabled", "enabled_full":
		default:
			v.add(trace, "guardrailConfig.trace", "Member must satisfy enum value set: [enabled, disabled, enabled_full]")
		}
		switch gc.Mode {
		case "":
		case "sync", "async":
			if op != "ConverseStream" {
				v.add(gc.Mode, "guardrailConfig.streamProcessingMode", "streamProcessingMode is a ConverseStream setting")
			}
		default:
			v.add(gc.Mode, "guardrailConfig.streamProcessingMode", "Member must satisfy enum value set: [sync, async]")
		}
		if !guardrailIdentRe.MatchString(ident) {
			v.add(ident, "guardrailConfig.guardrailIdentifier", "Member must satisfy regular expression pattern: "+guardrailIdentPattern)
		}
		if version != "" && !guardrailVersionRe.MatchString(version) {
			v.add(version, "guardrailConfig.guardrailVersion", "Member must satisfy regular expression pattern: (|([1-9][0-9]{0,7})|(DRAFT))")
		}
		if e := v.err(); e != nil {
			return nil, e
		}
		trace = strings.ToLower(trace)
	case "InvokeModel", "InvokeModelWithResponseStream":
		ident = hdr.Get("X-Amzn-Bedrock-GuardrailIdentifier")
		version = hdr.Get("X-Amzn-Bedrock-GuardrailVersion")
		trace = strings.ToLower(hdr.Get("X-Amzn-Bedrock-Trace"))
		if ident == "" && version == "" {
			return nil, nil
		}
	default:
		return nil, nil
	}
	if ident == "" {
		return nil, nil
	}
	if version == "" {
		// wording: from documentation, not observed (a guardrail needs its version named).
		return nil, validationException("Guardrail version is required when a guardrail identifier is provided.")
	}
	g := s.guardrail(p.Account, region, ident, version)
	if g == nil {
		return nil, validationException(msgInvalidGuardrail)
	}
	arn := guardrailARN(catalog.PartitionOf(region), region, p.Account, g.ID)
	if e := s.authorizeBedrock(p, "bedrock:ApplyGuardrail", arn, map[string][]string{"aws:RequestedRegion": {region}}); e != nil {
		return nil, e
	}
	texts := []string{conv.System}
	for _, t := range conv.Messages {
		if t.Role == "user" {
			texts = append(texts, t.Text)
		}
	}
	return &guardrailRun{Guardrail: g, Trace: trace == "enabled" || trace == "enabled_full", Input: g.check("INPUT", texts...)}, nil
}

// apply gives the reply the guardrail's verdict: a blocked input is answered with the guardrail's blocked
// message instead of the model's (the model is not called, so no output tokens), a blocked output replaces
// the model's text; either way the stop reason is guardrail_intervened.
func (g *guardrailRun) apply(rep reply) reply {
	if g == nil {
		return rep
	}
	if g.Input.Intervened() {
		return reply{Text: g.Input.blockedText(), StopReason: "guardrail_intervened", AnthropicStopReason: "end_turn",
			InputTokens: rep.InputTokens, OutputTokens: 0, Tier: rep.Tier}
	}
	out := g.Guardrail.check("OUTPUT", rep.Text)
	g.Output = &out
	if out.Intervened() {
		rep.Text, rep.ToolUse, rep.Thinking = out.blockedText(), nil, nil
		rep.StopReason, rep.AnthropicStopReason, rep.StopSequence = "guardrail_intervened", "end_turn", ""
	}
	return rep
}

// trace is the ConverseTrace's guardrail member (GuardrailTraceAssessment) when tracing was asked for.
func (g *guardrailRun) trace() map[string]any {
	if g == nil || !g.Trace {
		return nil
	}
	t := map[string]any{"inputAssessment": map[string]any{g.Guardrail.ID: g.Input.assessment()}}
	if g.Output != nil {
		t["outputAssessments"] = map[string]any{g.Guardrail.ID: []any{g.Output.assessment()}}
	}
	if g.Intervened() {
		t["actionReason"] = "Guardrail blocked."
	}
	return t
}

// addTo writes the guardrail's verdict into a non-streamed response body: Converse gets trace.guardrail,
// an InvokeModel body amazon-bedrock-guardrailAction and, when traced, amazon-bedrock-trace.
func (g *guardrailRun) addTo(op string, body []byte) []byte {
	if g == nil {
		return body
	}
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return body
	}
	switch op {
	case "Converse":
		if t := g.trace(); t != nil {
			m["trace"] = map[string]any{"guardrail": t}
		}
	case "InvokeModel":
		// wording: from documentation, not observed (the InvokeModel guardrail fields).
		action := "NONE"
		if g.Intervened() {
			action = "INTERVENED"
		}
		m["amazon-bedrock-guardrailAction"] = action
		if t := g.trace(); t != nil {
			m["amazon-bedrock-trace"] = map[string]any{"guardrail": t}
		}
	}
	out, _ := json.Marshal(m)
	return out
}

// addToStream puts the trace into ConverseStream's metadata event.
func (g *guardrailRun) addToStream(events []streamEvent) {
	t := g.trace()
	if t == nil {
		return
	}
	for i := range events {
		if events[i].EventType != "metadata" {
			continue
		}
		var m map[string]any
		if json.Unmarshal(events[i].Payload, &m) == nil {
			m["trace"] = map[string]any{"guardrail": t}
			events[i].Payload, _ = json.Marshal(m)
		}
	}
}
