package sandbox_test

// Service Quotas' names (servicequotas.go). The file is named sts_* only for the ownership of this change; it
// belongs with the Service Quotas tests.

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/servicequotas"

	"github.com/bedrock-relay/bedrock-relay/catalog"
	"github.com/bedrock-relay/bedrock-relay/quotas"
	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

func TestQuotaNames(t *testing.T) {
	cat := catalog.Default()
	tests := []struct{ scope, metric, model, want string }{
		{"cross-region", "requests per minute", "anthropic.claude-sonnet-4-5-20250929-v1:0", "Cross-region model inference requests per minute for Anthropic Claude Sonnet 4.5 V1"},
		{"cross-region", "tokens per minute", "anthropic.claude-sonnet-4-5-20250929-v1:0", "Cross-region model inference tokens per minute for Anthropic Claude Sonnet 4.5 V1"},
		{"global", "requests per minute", "anthropic.claude-sonnet-4-5-20250929-v1:0", "Global cross-region model inference requests per minute for Anthropic Claude Sonnet 4.5 V1"},
		{"global", "tokens per day", "anthropic.claude-sonnet-4-5-20250929-v1:0", "Global cross-region model inference tokens per day for Anthropic Claude Sonnet 4.5 V1"},
		{"cross-region", "requests per minute", "anthropic.claude-haiku-4-5-20251001-v1:0", "Cross-region model inference requests per minute for Anthropic Claude Haiku 4.5"},
		{"cross-region", "requests per minute", "anthropic.claude-sonnet-4-20250514-v1:0", "Cross-region model inference requests per minute for Anthropic Claude Sonnet 4 V1"},
		{"cross-region", "requests per minute", "anthropic.claude-3-7-sonnet-20250219-v1:0", "Cross-region model inference requests per minute for Anthropic Claude 3.7 Sonnet V1"},
		{"cross-region", "requests per minute", "anthropic.claude-3-5-sonnet-20241022-v2:0", "Cross-region model inference requests per minute for Anthropic Claude 3.5 Sonnet V2"},
		{"on-demand", "requests per minute", "anthropic.claude-3-haiku-20240307-v1:0", "On-demand model inference requests per minute for Anthropic Claude 3 Haiku"},
		{"cross-region", "tokens per minute", "anthropic.claude-opus-4-6-v1", "Cross-region model inference tokens per minute for Anthropic Claude Opus 4.6 V1"},
		{"cross-region", "requests per minute", "anthropic.claude-opus-4-5-20251101-v1:0", "Cross-region model inference requests per minute for Anthropic Claude Opus 4.5"},
		{"cross-region", "requests per minute", "amazon.nova-pro-v1:0", "Cross-region model inference requests per minute for Amazon Nova Pro"},
	}
	for _, tt := range tests {
		m, ok := cat.Model(tt.model)
		if !ok {
			t.Errorf("%s is not in the catalogue", tt.model)
			continue
		}
		got := sandbox.QuotaName(tt.scope, tt.metric, m)
		if got != tt.want {
			t.Errorf("QuotaName(%s, %s, %s) = %q, want %q", tt.scope, tt.metric, tt.model, got, tt.want)
		}
		// The relay's one matcher reads every name the sandbox gives.
		scope := map[string]quotas.Scope{"cross-region": quotas.CrossRegion, "global": quotas.GlobalCrossRegion, "on-demand": quotas.OnDemand}[tt.scope]
		if metric, ok := quotas.Match(got, scope, m); !ok || metric != tt.metric {
			t.Errorf("quotas.Match(%q) = %q, %v; want %q", got, metric, ok, tt.metric)
		}
	}
}

// TestServiceQuotaNamesListed: ListServiceQuotas, through the SDK, names the seed's quota as the console does
// ("... for Anthropic Claude Sonnet 4.5 V1", the seed article's), and the relay's quotas.Read finds each
// default-scenario model's per-minute quotas in that list.
func TestServiceQuotaNamesListed(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	client := servicequotas.NewFromConfig(e.assume(t, sandbox.TargetRoleARN(sandbox.SmallAccount)))
	listed := map[string]float64{}
	pages := servicequotas.NewListServiceQuotasPaginator(client, &servicequotas.ListServiceQuotasInput{ServiceCode: aws.String("bedrock")})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatalf("ListServiceQuotas: %v", err)
		}
		for _, q := range page.Quotas {
			listed[aws.ToString(q.QuotaName)] = aws.ToFloat64(q.Value)
		}
	}
	for name, want := range map[string]float64{
		"Cross-region model inference requests per minute for Anthropic Claude Sonnet 4.5 V1": 2,
		"Cross-region model inference tokens per minute for Anthropic Claude Sonnet 4.5 V1":   200_000,
		"Cross-region model inference requests per minute for Anthropic Claude Haiku 4.5":     2,
	} {
		if got, ok := listed[name]; !ok || got != want {
			t.Errorf("%q: listed %v (%v), want %v", name, got, ok, want)
		}
	}
	if _, ok := listed["Cross-region model inference requests per minute for Anthropic Claude Sonnet 4.5"]; ok {
		t.Errorf("Claude Sonnet 4.5's quota is listed without its V1")
	}
	cat := catalog.Default()
	for _, profile := range []string{sandbox.SeedProfile, sandbox.HaikuProfile, sandbox.OpusProfile} {
		_, id, _ := catalog.SplitProfileID(profile)
		m, ok := cat.Model(id)
		if !ok {
			t.Fatalf("%s: no catalogue model", profile)
		}
		q, err := quotas.Read(ctx, client, quotas.ScopeOf(cat, profile), m)
		if err != nil {
			t.Errorf("quotas.Read(%s): %v", profile, err)
			continue
		}
		if q.RequestsPerMinute != 2 || q.TokensPerMinute != 200_000 {
			t.Errorf("quotas.Read(%s) = %d requests and %d tokens per minute (%q), want 2 and 200000", profile, q.RequestsPerMinute, q.TokensPerMinute, q.RPMName)
		}
	}
}
