package quotas

import (
	"testing"

	"github.com/bedrock-relay/bedrock-relay/catalog"
)

func TestMatchQuota(t *testing.T) {
	m, ok := catalog.Default().Model("anthropic.claude-sonnet-4-5-20250929-v1:0")
	if !ok {
		t.Fatal("Claude Sonnet 4.5 is not in the catalogue")
	}
	tests := []struct {
		name   string
		scope  Scope
		metric string
		ok     bool
	}{
		{"Cross-region model inference requests per minute for Anthropic Claude Sonnet 4.5 V1", "cross-region", "requests per minute", true},
		{"Cross-Region InvokeModel tokens per minute for Anthropic Claude Sonnet 4.5", "cross-region", "tokens per minute", true},
		{"Cross-region model inference requests per minute for Anthropic Claude Sonnet 4", "cross-region", "", false},
		{"Global cross-region model inference requests per minute for Anthropic Claude Sonnet 4.5", "cross-region", "", false},
		{"On-demand model inference requests per minute for Anthropic Claude Sonnet 4.5", "cross-region", "", false},
		{"Global cross-region model inference tokens per day for Anthropic Claude Sonnet 4.5 V1", "global cross-region", "tokens per day", true},
	}
	for _, tt := range tests {
		metric, ok := Match(tt.name, tt.scope, m)
		if ok != tt.ok || metric != tt.metric {
			t.Errorf("Match(%q, %s) = %q, %v; want %q, %v", tt.name, tt.scope, metric, ok, tt.metric, tt.ok)
		}
	}
}

// TestMatchVersionSuffix: " V1" is dropped from the model part, a later version is not, and the 1M context
// quotas are not the model's.
func TestMatchVersionSuffix(t *testing.T) {
	cat := catalog.Default()
	model := func(id string) catalog.Model {
		m, ok := cat.Model(id)
		if !ok {
			t.Fatalf("%s is not in the catalogue", id)
		}
		return m
	}
	sonnet35v2 := model("anthropic.claude-3-5-sonnet-20241022-v2:0")
	sonnet35 := sonnet35v2
	sonnet35.Name = "Claude 3.5 Sonnet" // the first Claude 3.5 Sonnet, which the catalogue does not list
	tests := []struct {
		name string
		m    catalog.Model
		ok   bool
	}{
		{"Cross-Region model inference requests per minute for Anthropic Claude 3.5 Sonnet V2", sonnet35v2, true},
		{"Cross-Region model inference requests per minute for Anthropic Claude 3.5 Sonnet V2", sonnet35, false},
		{"Cross-region model inference requests per minute for Anthropic Claude 3.5 Sonnet", sonnet35, true},
		{"Cross-region model inference requests per minute for Anthropic Claude 3.5 Sonnet", sonnet35v2, false},
		{"Cross-region model inference requests per minute for Anthropic Claude Haiku 4.5", model("anthropic.claude-haiku-4-5-20251001-v1:0"), true},
		{"Cross-region model inference requests per minute for Anthropic Claude Sonnet 4.5 V1 1M Context Length", model("anthropic.claude-sonnet-4-5-20250929-v1:0"), false},
		{"Cross-region model inference requests per minute for Amazon Nova Pro", model("amazon.nova-pro-v1:0"), true},
	}
	for _, tt := range tests {
		if _, ok := Match(tt.name, CrossRegion, tt.m); ok != tt.ok {
			t.Errorf("Match(%q, %s) ok = %v, want %v", tt.name, tt.m.Name, ok, tt.ok)
		}
	}
}

func TestScopeOf(t *testing.T) {
	cat := catalog.Default()
	for called, want := range map[string]Scope{
		"jp.anthropic.claude-sonnet-4-5-20250929-v1:0":                                     CrossRegion,
		"global.anthropic.claude-sonnet-4-5-20250929-v1:0":                                 GlobalCrossRegion,
		"anthropic.claude-sonnet-4-5-20250929-v1:0":                                        OnDemand,
		"arn:aws:bedrock:ap-northeast-1:222222222222:application-inference-profile/abc123": CrossRegion,
	} {
		if got := ScopeOf(cat, called); got != want {
			t.Errorf("ScopeOf(%q) = %q, want %q", called, got, want)
		}
	}
}
