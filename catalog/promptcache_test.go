package catalog

import (
	"slices"
	"testing"
)

// TestPromptCacheRows checks each model's prompt_cache row is one the sandbox can apply, and pins the rows
// whose numbers AWS's page gives (the evidence is each row's source).
func TestPromptCacheRows(t *testing.T) {
	c := Default()
	for _, m := range c.Models {
		pc := m.PromptCache
		if pc == nil {
			continue
		}
		if pc.MinTokens <= 0 || pc.MaxPoints <= 0 || len(pc.TTLs) == 0 || len(pc.Fields) == 0 || pc.Source == "" {
			t.Errorf("%s: prompt_cache %+v: want min_tokens, max_points, ttls, fields and source", m.ID, pc)
		}
		for _, ttl := range pc.TTLs {
			if ttl != "5m" && ttl != "1h" {
				t.Errorf("%s: ttl %q, want 5m or 1h", m.ID, ttl)
			}
		}
		for _, f := range pc.Fields {
			if !slices.Contains([]string{"system", "messages", "tools"}, f) {
				t.Errorf("%s: field %q, want system, messages or tools", m.ID, f)
			}
		}
	}
	for id, want := range map[string]int{
		"anthropic.claude-sonnet-4-5-20250929-v1:0": 1024,
		"anthropic.claude-haiku-4-5-20251001-v1:0":  4096,
		"anthropic.claude-opus-4-5-20251101-v1:0":   4096,
		"anthropic.claude-opus-5":                   512,
		"amazon.nova-pro-v1:0":                      1000,
	} {
		m, _ := c.Model(id)
		if m.PromptCache == nil || m.PromptCache.MinTokens != want {
			t.Errorf("%s: prompt_cache %+v, want min_tokens %d", id, m.PromptCache, want)
		}
	}
	if m, _ := c.Model("anthropic.claude-3-haiku-20240307-v1:0"); m.PromptCache != nil {
		t.Errorf("Claude 3 Haiku has prompt caching %+v; Bedrock has none for it", m.PromptCache)
	}
}
