package sandbox

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
)

// tierEcho is how a request asked to be served: Converse's performanceConfig.latency and serviceTier.type, or
// InvokeModel's X-Amzn-Bedrock-PerformanceConfig-Latency and X-Amzn-Bedrock-Service-Tier headers; "" for what
// it did not ask. Bedrock says in its answer how it served the request (the same members and headers). The
// sandbox serves every model at either latency and in every tier but reserved (it has no reservations), so it
// says what was asked.
type tierEcho struct {
	Latency string
	Tier    string
}

// The enums of the service model (PerformanceConfigLatency, ServiceTierType).
var (
	latencyValues     = []string{"standard", "optimized"}
	serviceTierValues = []string{"priority", "default", "flex", "reserved"}
)

// The headers InvokeModel and InvokeModelWithResponseStream take these in and answer them with.
const (
	headerLatency     = "X-Amzn-Bedrock-PerformanceConfig-Latency"
	headerServiceTier = "X-Amzn-Bedrock-Service-Tier"
)

func enumConstraint(values []string) string {
	return "must satisfy enum value set: [" + strings.Join(values, ", ") + "]"
}

// tier parses Converse's performanceConfig and serviceTier into c; bad values are constraint violations,
// reported with the others.
func (p *converseParser) tier(c *conversation, obj map[string]json.RawMessage) *awsError {
	if raw, ok := obj["performanceConfig"]; ok && !isNull(raw) {
		pc, ok := decodeObject(raw)
		if !ok {
			return typeMismatch("performanceConfig", "a JSON object", raw)
		}
		if v, ok := pc["latency"]; ok && !isNull(v) {
			s, _ := decodeString(v)
			if !slices.Contains(latencyValues, s) {
				p.v.add(quoteValue(v), "performanceConfig.latency", enumConstraint(latencyValues))
			}
			c.Tier.Latency = s
		}
	}
	if raw, ok := obj["serviceTier"]; ok && !isNull(raw) {
		st, ok := decodeObject(raw)
		if !ok {
			return typeMismatch("serviceTier", "a JSON object", raw)
		}
		v, ok := st["type"]
		s, _ := decodeString(v)
		switch {
		case !ok || isNull(v):
			p.v.add("null", "serviceTier.type", "must not be null")
		case !slices.Contains(serviceTierValues, s):
			p.v.add(quoteValue(v), "serviceTier.type", enumConstraint(serviceTierValues))
		}
		c.Tier.Tier = s
	}
	return nil
}

// invokeTier reads the tier headers of an InvokeModel request; a bad value is a constraint violation of the
// member the header binds (performanceConfigLatency, serviceTier).
func invokeTier(h http.Header) (tierEcho, *awsError) {
	var t tierEcho
	var v coralViolations
	if s := h.Get(headerLatency); s != "" {
		if !slices.Contains(latencyValues, s) {
			v.add("'"+s+"'", "performanceConfigLatency", enumConstraint(latencyValues))
		}
		t.Latency = s
	}
	if s := h.Get(headerServiceTier); s != "" {
		if !slices.Contains(serviceTierValues, s) {
			v.add("'"+s+"'", "serviceTier", enumConstraint(serviceTierValues))
		}
		t.Tier = s
	}
	return t, v.err()
}

// check refuses what the sandbox cannot serve: the reserved tier needs a reservation for the model, and Bedrock
// answers a request without one so (envoyproxy/ai-gateway#1749).
func (t tierEcho) check() *awsError {
	if t.Tier == "reserved" {
		return validationException("Reservation not found.")
	}
	return nil
}

type performanceConfigOut struct {
	Latency string `json:"latency"`
}

type serviceTierOut struct {
	Type string `json:"type"`
}

// performanceConfig is the ConverseResponse (and stream metadata) member, nil when not asked.
func (t tierEcho) performanceConfig() *performanceConfigOut {
	if t.Latency == "" {
		return nil
	}
	return &performanceConfigOut{t.Latency}
}

// serviceTier is the ConverseResponse (and stream metadata) member, nil when not asked.
func (t tierEcho) serviceTier() *serviceTierOut {
	if t.Tier == "" {
		return nil
	}
	return &serviceTierOut{t.Tier}
}

// setHeaders answers InvokeModel's tier headers.
func (t tierEcho) setHeaders(h http.Header) {
	if t.Latency != "" {
		h.Set(headerLatency, t.Latency)
	}
	if t.Tier != "" {
		h.Set(headerServiceTier, t.Tier)
	}
}
