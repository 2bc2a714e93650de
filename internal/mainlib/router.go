package router

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/servicequotas"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/bedrock-relay/bedrock-relay/catalog"
	"github.com/bedrock-relay/bedrock-relay/config"
	"github.com/bedrock-relay/bedrock-relay/credcache"
	"github.com/bedrock-relay/bedrock-relay/ratelimit"
	"github.com/bedrock-relay/bedrock-relay/upstream"
)

// Credentials builds a target's assumed-role credentials (package credcache: the SDK's AssumeRoleProvider in
// its CredentialsCache, refreshed early with jitter), so there is one STS call per credential lifetime and
// concurrent requests share one refresh.
func Credentials(base aws.Config, t config.Target, onRefresh func(credcache.Refresh)) (*credcache.Cache, error) {
	return credcache.New(sts.NewFromConfig(base), t.Relay(), credcache.Options{OnRefresh: onRefresh})
}

// FromConfig builds a router for cfg. base supplies the source credentials (the default chain: in Lambda,
// the execution role) and, through BaseEndpoint, any endpoint override.
func FromConfig(ctx context.Context, cfg *config.Config, base aws.Config, o Options) (*Router, error) {
	if o.Aliases == nil {
		o.Aliases = cfg.Aliases
	}
	o.WaitForCapacity = time.Duration(cfg.Routing.WaitForCapacity)
	endpoint := aws.ToString(base.BaseEndpoint)
	var targets []*Target
	for _, tc := range cfg.Targets {
		acct, err := config.AccountOf(tc.RoleARN)
		if err != nil {
			return nil, fmt.Errorf("target %s: %w", tc.Name, err)
		}
		creds, err := Credentials(base, tc, o.OnRefresh)
		if err != nil {
			return nil, fmt.Errorf("target %s: %w", tc.Name, err)
		}
		client, err := upstream.New(ctx, upstream.Options{Region: tc.Region, BaseEndpoint: endpoint, Credentials: creds})
		if err != nil {
			return nil, fmt.Errorf("target %s: %w", tc.Name, err)
		}
		t := &Target{Name: tc.Name, Account: acct, Region: tc.Region, Priority: tc.Priority, Weight: tc.Weight,
			Models: map[string]string{}, Budgets: map[string]ratelimit.Budget{}, Client: client, Credentials: creds}
		for _, entry := range tc.Models {
			fm, err := config.ServedModel(entry, tc.Region)
			if err != nil {
				return nil, fmt.Errorf("target %s: %w", tc.Name, err)
			}
			called, _, _ := strings.Cut(entry, "=")
			t.Models[fm] = called
			b := ratelimit.Budget{RequestsPerMinute: tc.Budgets.RequestsPerMinute.N, TokensPerMinute: tc.Budgets.TokensPerMinute.N, TokensPerDay: tc.Budgets.TokensPerDay.N}
			if tc.Budgets.RequestsPerMinute.Auto || tc.Budgets.TokensPerMinute.Auto || tc.Budgets.TokensPerDay.Auto {
				q, err := ReadQuotas(ctx, base, creds, tc.Region, fm, called)
				if err != nil {
					o.logger().Warn("could not read quotas for an auto budget; the target runs without that limit",
						"target", tc.Name, "model", fm, "error", err.Error())
				}
				if tc.Budgets.RequestsPerMinute.Auto {
					b.RequestsPerMinute = q.RequestsPerMinute
				}
				if tc.Budgets.TokensPerMinute.Auto {
					b.TokensPerMinute = q.TokensPerMinute
				}
				if tc.Budgets.TokensPerDay.Auto {
					b.TokensPerDay = q.TokensPerDay
				}
			}
			t.Budgets[fm] = b
		}
		targets = append(targets, t)
	}
	return New(targets, o)
}

func (o Options) logger() interface {
	Warn(msg string, args ...any)
} {
	if o.Logger != nil {
		return o.Logger
	}
	return nopLogger{}
}

type nopLogger struct{}

func (nopLogger) Warn(string, ...any) {}

// ReadQuotas reads an account's Bedrock quotas for a model from Service Quotas, through the target's
// credentials: the requests and tokens per minute and tokens per day that apply to how the model is called
// (cross-region profile, global profile, or on demand).
func ReadQuotas(ctx context.Context, base aws.Config, creds aws.CredentialsProvider, region, fm, called string) (ratelimit.Budget, error) {
	cfg := base.Copy()
	cfg.Credentials = creds
	cfg.Region = region
	client := servicequotas.NewFromConfig(cfg)
	m, ok := catalog.Default().Model(fm)
	if !ok {
		return ratelimit.Budget{}, fmt.Errorf("model %s is not in the catalogue", fm)
	}
	scope := "On-demand"
	if ref, err := catalog.ParseRef(called); err == nil && ref.Kind == catalog.KindSystemProfile {
		scope = "Cross-region"
		if strings.HasPrefix(ref.ID, "global.") {
			scope = "Global cross-region"
		}
	}
	var b ratelimit.Budget
	found := false
	pages := servicequotas.NewListServiceQuotasPaginator(client, &servicequotas.ListServiceQuotasInput{ServiceCode: aws.String("bedrock")})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return b, fmt.Errorf("list Bedrock quotas in %s: %w", region, err)
		}
		for _, q := range page.Quotas {
			name := aws.ToString(q.QuotaName)
			if !strings.HasPrefix(name, scope+" ") || !strings.HasSuffix(name, " "+m.Name) || q.Value == nil {
				continue
			}
			v := int(*q.Value)
			switch {
			case strings.Contains(name, "requests per minute"):
				b.RequestsPerMinute, found = v, true
			case strings.Contains(name, "tokens per minute"):
				b.TokensPerMinute, found = v, true
			case strings.Contains(name, "tokens per day"):
				b.TokensPerDay, found = v, true
			}
		}
	}
	if !found {
		return b, fmt.Errorf("no %s quota for %s in %s", strings.ToLower(scope), m.Name, region)
	}
	return b, nil
}
