package sandbox

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"slices"
	"strings"
	"unicode"

	"github.com/bedrock-relay/bedrock-relay/catalog"
)

// serviceQuota is the Service Quotas ServiceQuota shape.
type serviceQuota struct {
	ServiceCode         string  `json:"ServiceCode"`
	ServiceName         string  `json:"ServiceName"`
	QuotaArn            string  `json:"QuotaArn"`
	QuotaCode           string  `json:"QuotaCode"`
	QuotaName           string  `json:"QuotaName"`
	Value               float64 `json:"Value"`
	Unit                string  `json:"Unit"`
	Adjustable          bool    `json:"Adjustable"`
	GlobalQuota         bool    `json:"GlobalQuota"`
	QuotaAppliedAtLevel string  `json:"QuotaAppliedAtLevel"`
}

// QuotaName is the Service Quotas name of a Bedrock quota, as the console and ListServiceQuotas show it:
// "Cross-region model inference requests per minute for Anthropic Claude Sonnet 4.5 V1". scope is
// "cross-region", "global" or "on-demand"; metric is "requests per minute", "tokens per minute" or "tokens per
// day".
func QuotaName(scope, metric string, m catalog.Model) string {
	display := quotaModelName(m)
	if metric == "tokens per day" {
		if scope == "global" {
			return "Global cross-region model inference tokens per day for " + display // observed: L-BC182137
		}
		// AWS has one daily quota of a model for on-demand and cross-region calls, "Model invocation max tokens
		// per day for X (doubled for cross-region calls)" (L-381AD9EE); the sandbox keeps one per scope, named
		// apart.
		prefix := map[string]string{"cross-region": "Cross-region", "on-demand": "On-demand"}[scope]
		return prefix + " model invocation max tokens per day for " + display
	}
	prefix := map[string]string{"cross-region": "Cross-region model inference", "global": "Global cross-region model inference", "on-demand": "On-demand model inference"}[scope]
	return prefix + " " + metric + " for " + display
}

// quotaModelName is how quota names name a model: provider, model name, and for some models a version.
func quotaModelName(m catalog.Model) string {
	display := m.Name
	if p := m.Provider; p != "" && !strings.HasPrefix(strings.ToLower(display), p) {
		r := []rune(p)
		r[0] = unicode.ToUpper(r[0])
		display = string(r) + " " + display
	}
	// A version the catalogue's name carries is written upper-case: "Anthropic Claude 3.5 Sonnet V2" (L-1D3E59A3).
	if i := strings.LastIndex(display, " v"); i >= 0 && isDigits(display[i+2:]) {
		display = display[:i] + " V" + display[i+2:]
	}
	if quotaNameV1[m.ID] {
		display += " V1"
	}
	return display
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// quotaNameV1 are the models whose quota names end in " V1". Whether a name does is not a rule of the model id:
// it is "Claude Sonnet 4.5 V1" but "Claude Haiku 4.5", although both ids end in -v1:0, and "Claude Opus 4.6 V1"
// for an id ending in -v1 without :0. The evidence, names as ListServiceQuotas lists them (quota codes where
// seen):
//   - with V1: Claude Sonnet 4.5 (the seed article's new account, "Cross-region model inference requests per
//     minute for Anthropic Claude Sonnet 4.5 V1"; L-4A6BFAB1, L-F4DDD3EB, L-DB84CE56), Claude Sonnet 4
//     (L-559DCC33, L-59759B4A), Claude Opus 4 (the General Reference's Bedrock quota table), Claude 3.7 Sonnet
//     (L-3D8CC480, L-6E888CC2), Claude Opus 4.6 (public quota tools' "... for Anthropic Claude Opus 4.6 V1").
//   - without: Claude Haiku 4.5 (L-CCA5DF70, L-58BE175A), Claude Opus 4.5 (L-27989F42), Claude 3 Haiku
//     (L-616A3F5B), Amazon Nova Pro, Lite and Micro (L-ED46B8C5, L-89F8391A, L-3F110E0F), Claude Sonnet 4.6,
//     Claude Opus 4.7 and 4.8 (seen in public quota tools); Claude Opus 4.1 was seen only without, in an older
//     name form ("Cross-Region InvokeModel tokens per minute for Anthropic Claude Opus 4.1").
//
// Models not listed, among them those a relay config adds, get no suffix.
var quotaNameV1 = map[string]bool{
	"anthropic.claude-sonnet-4-5-20250929-v1:0": true,
	"anthropic.claude-sonnet-4-20250514-v1:0":   true,
	"anthropic.claude-opus-4-20250514-v1:0":     true,
	"anthropic.claude-3-7-sonnet-20250219-v1:0": true,
	"anthropic.claude-opus-4-6-v1":              true,
}

func quotaCode(name string) string {
	h := fnv.New32a()
	h.Write([]byte(name))
	return fmt.Sprintf("L-%08X", h.Sum32())
}

// quotasFor lists the Bedrock quotas of an account in a region.
func (s *Sandbox) quotasFor(acct, region string) []serviceQuota {
	var out []serviceQuota
	add := func(scope, metric string, m catalog.Model, v int) {
		if v <= 0 {
			return
		}
		name := QuotaName(scope, metric, m)
		code := quotaCode(name)
		out = append(out, serviceQuota{ServiceCode: "bedrock", ServiceName: "Amazon Bedrock",
			QuotaArn:  "arn:" + catalog.PartitionOf(region) + ":servicequotas:" + region + ":" + acct + ":bedrock/" + code,
			QuotaCode: code, QuotaName: name, Value: float64(v), Unit: "None", Adjustable: true, QuotaAppliedAtLevel: "ACCOUNT"})
	}
	for _, m := range s.catalog.Models {
		var scopes []string
		for prefix := range m.Profiles {
			g, _ := s.catalog.Geography(prefix)
			if !slices.Contains(g.SourceRegions, region) {
				continue
			}
			if g.Global {
				scopes = append(scopes, "global")
			} else {
				scopes = append(scopes, "cross-region")
			}
		}
		if slices.Contains(m.OnDemandRegions, region) {
			scopes = append(scopes, "on-demand")
		}
		slices.Sort(scopes)
		scopes = slices.Compact(scopes)
		for _, sc := range scopes {
			q := s.quotas.limitLocked(acct, region, sc+"/"+m.ID)
			add(sc, "requests per minute", m, q.RequestsPerMinute)
			add(sc, "tokens per minute", m, q.TokensPerMinute)
			add(sc, "tokens per day", m, q.TokensPerDay)
		}
	}
	return out
}

func (b *quotaBook) limitLocked(acct, region, key string) Quota {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.limit(acct, region, key)
}

func (s *Sandbox) serveServiceQuotas(w http.ResponseWriter, c *call) {
	_, op, _ := strings.Cut(c.r.Header.Get("X-Amz-Target"), ".")
	p := c.Principal
	rec := Call{Service: "servicequotas", Operation: op, Principal: p.ARN, Account: p.Account, Region: c.Region, RequestID: c.ID}
	fail := func(e *awsError) {
		rec.Outcome = e.Code
		s.record(rec)
		writeJSON11Error(w, c.ID, e)
	}
	var in struct {
		ServiceCode string `json:"ServiceCode"`
		QuotaCode   string `json:"QuotaCode"`
		NextToken   string `json:"NextToken"`
		MaxResults  int    `json:"MaxResults"`
	}
	if len(c.Body) > 0 {
		if err := json.Unmarshal(c.Body, &in); err != nil {
			fail(newError(400, "SerializationException", "could not parse the request body as JSON"))
			return
		}
	}
	if op != "ListServiceQuotas" && op != "GetServiceQuota" && op != "ListAWSDefaultServiceQuotas" && op != "GetAWSDefaultServiceQuota" {
		fail(newError(400, "UnknownOperationException", "The sandbox emulates ListServiceQuotas and GetServiceQuota of Service Quotas, not %q.", op))
		return
	}
	if !p.APIKey {
		action := "servicequotas:" + op
		if e := s.authorizeBedrock(p, action, "*", map[string][]string{"aws:RequestedRegion": {c.Region}}); e != nil {
			e.Code = "AccessDeniedException"
			fail(e)
			return
		}
	}
	if in.ServiceCode != "bedrock" {
		fail(newError(400, "NoSuchResourceException", "The request failed because the specified service does not exist (the sandbox serves service code bedrock)."))
		return
	}
	quotas := s.quotasFor(p.Account, c.Region)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("x-amzn-RequestId", c.ID)
	if strings.HasPrefix(op, "Get") {
		for _, q := range quotas {
			if q.QuotaCode == in.QuotaCode {
				rec.Outcome = "ok"
				s.record(rec)
				json.NewEncoder(w).Encode(map[string]any{"Quota": q})
				return
			}
		}
		fail(newError(400, "NoSuchResourceException", "The request failed because the specified quota %s does not exist.", in.QuotaCode))
		return
	}
	// Pagination as Service Quotas does it: NextToken is opaque; here the index of the next item.
	start := 0
	if in.NextToken != "" {
		if _, err := fmt.Sscanf(in.NextToken, "q%d", &start); err != nil || start < 0 || start > len(quotas) {
			fail(newError(400, "InvalidPaginationTokenException", "Invalid token"))
			return
		}
	}
	max := in.MaxResults
	if max <= 0 || max > 100 {
		max = 100
	}
	end := min(start+max, len(quotas))
	resp := map[string]any{"Quotas": quotas[start:end]}
	if end < len(quotas) {
		resp["NextToken"] = fmt.Sprintf("q%d", end)
	}
	rec.Outcome = "ok"
	s.record(rec)
	json.NewEncoder(w).Encode(resp)
}
