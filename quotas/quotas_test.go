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
	}
	for _, tt := range tests {
		metric, ok := Match(tt.name, tt.scope, m)
		if ok != tt.ok || metric != tt.metric {
			t.Errorf("Match(%q, %s) = %q, %v; want %q, %v", tt.name, tt.scope, metric, ok, tt.metric, tt.ok)
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
