package mainlib

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/servicequotas"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	relay "github.com/bedrock-relay/bedrock-relay"
	"github.com/bedrock-relay/bedrock-relay/catalog"
	"github.com/bedrock-relay/bedrock-relay/config"
	"github.com/bedrock-relay/bedrock-relay/credcache"
	"github.com/bedrock-relay/bedrock-relay/quotas"
	"github.com/bedrock-relay/bedrock-relay/ratelimit"
	"github.com/bedrock-relay/bedrock-relay/router"
	"github.com/bedrock-relay/bedrock-relay/upstream"
)

// credentials builds a target's assumed-role credentials (package credcache: the SDK's AssumeRoleProvider in
// its CredentialsCache, refreshed early with jitter), so there is one STS call per credential lifetime and
// concurrent requests share one refresh.
func credentials(base aws.Config, t config.TargetSpec, onRefresh func(credcache.Refresh)) (*credcache.Cache, error) {
	return credcache.New(sts.NewFromConfig(base), t.Relay(), credcache.Options{OnRefresh: onRefresh})
}

// keySessions builds a target's per-caller-key sessions (attribution.session_per_key; credcache.Keyed): each
// key assumes the role in its own session, named brk-KEY and tagged relay-key=KEY, relay-group=GROUP, through
// the same STS client as the shared session. A request that names no group gets its key's group from the
// config.
func keySessions(base aws.Config, cfg *config.Config, t config.TargetSpec, onRefresh func(credcache.Refresh)) (upstream.KeyCredentials, error) {
	k, err := credcache.NewKeyed(sts.NewFromConfig(base), t.Relay(), credcache.KeyedOptions{Options: credcache.Options{OnRefresh: onRefresh},
		MaxSessions: cfg.Attribution.MaxSessions, TagKey: config.TagKey, TagGroup: config.TagGroup})
	if err != nil {
		return nil, err
	}
	groups := map[string]string{}
	for _, key := range cfg.Auth.Keys {
		if key.Group != "" {
			groups[key.Name] = key.Group
		}
	}
	return keyed{k, groups}, nil
}

type keyed struct {
	*credcache.Keyed
	groups map[string]string
}

func (k keyed) ForKey(key, group string) (aws.CredentialsProvider, error) {
	if group == "" {
		group = k.groups[key]
	}
	return k.Keyed.ForKey(key, group)
}

// RouterOptions tune NewRouter.
type RouterOptions struct {
	// Router is passed on to router.New; its Aliases and WaitForCapacity come from the config unless set.
	Router router.Options
	// OnRefresh is told of every AssumeRole a target's credential cache makes (for metrics).
	OnRefresh func(credcache.Refresh)
}

// NewRouter builds the router for cfg: each target's credentials (credcache), upstream client and budgets
// (`auto` ones read from Service Quotas). base supplies the source credentials (the default chain: in Lambda,
// the execution role) and, through BaseEndpoint, any endpoint override.
func NewRouter(ctx context.Context, cfg *config.Config, base aws.Config, ro RouterOptions) (*router.Router, error) {
	o := ro.Router
	if o.Aliases == nil {
		o.Aliases = cfg.Aliases
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.WaitForCapacity = time.Duration(cfg.Routing.WaitForCapacity)
	if o.MaxAttempts == 0 {
		o.MaxAttempts = cfg.Routing.MaxAttempts
	}
	if o.StreamIdleTimeout == 0 {
		o.StreamIdleTimeout = time.Duration(cfg.Routing.StreamIdleTimeout)
	}
	cat, err := cfg.ModelCatalog()
	if err != nil {
		return nil, err
	}
	if o.Catalog == nil {
		o.Catalog = cat
	}
	if o.Betas, err = router.ParseBetaPolicy(cfg.Routing.AnthropicBetas); err != nil {
		return nil, fmt.Errorf("routing.anthropic_betas: %w", err)
	}
	endpoint := aws.ToString(base.BaseEndpoint)
	var targets []*router.Member
	for _, tc := range cfg.Targets {
		acct, err := relay.RoleAccount(tc.RoleARN)
		if err != nil {
			return nil, fmt.Errorf("target %s: %w", tc.Name, err)
		}
		creds, err := credentials(base, tc, ro.OnRefresh)
		if err != nil {
			return nil, fmt.Errorf("target %s: %w", tc.Name, err)
		}
		uo := upstream.Options{Region: tc.Region, BaseEndpoint: endpoint, Credentials: creds}
		if cfg.Attribution.SessionPerKey {
			if uo.KeyCredentials, err = keySessions(base, cfg, tc, ro.OnRefresh); err != nil {
				return nil, fmt.Errorf("target %s: %w", tc.Name, err)
			}
		}
		client, err := upstream.New(ctx, uo)
		if err != nil {
			return nil, fmt.Errorf("target %s: %w", tc.Name, err)
		}
		t := &router.Member{Name: tc.Name, Account: acct, Region: tc.Region, Priority: tc.Priority, Weight: tc.Weight,
			Models: map[string]string{}, Budgets: map[string]ratelimit.Budget{}, Client: client, Credentials: creds}
		for _, entry := range tc.Models {
			fm, err := config.ServedModelIn(cat, entry, tc.Region)
			if err != nil {
				return nil, fmt.Errorf("target %s: %w", tc.Name, err)
			}
			called, _, _ := strings.Cut(entry, "=")
			t.Models[fm] = called
			b := ratelimit.Budget{RequestsPerMinute: tc.Budgets.RequestsPerMinute.N, TokensPerMinute: tc.Budgets.TokensPerMinute.N, TokensPerDay: tc.Budgets.TokensPerDay.N}
			if tc.Budgets.RequestsPerMinute.Auto || tc.Budgets.TokensPerMinute.Auto || tc.Budgets.TokensPerDay.Auto {
				q, err := readQuotas(ctx, base, cat, creds, tc.Region, fm, called)
				if err != nil {
					o.Logger.Warn("could not read quotas for an auto budget; the target runs without that limit",
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
	return router.New(targets, o)
}

// readQuotas reads an account's Bedrock quotas for a model from Service Quotas (package quotas), through the
// target's credentials: the requests and tokens per minute and tokens per day that apply to how the model is
// called (cross-region profile, global profile, or on demand).
func readQuotas(ctx context.Context, base aws.Config, cat *catalog.Catalog, creds aws.CredentialsProvider, region, fm, called string) (ratelimit.Budget, error) {
	cfg := base.Copy()
	cfg.Credentials = creds
	cfg.Region = region
	m, ok := cat.Model(fm)
	if !ok {
		return ratelimit.Budget{}, fmt.Errorf("model %s is not in the catalogue", fm)
	}
	q, err := quotas.Read(ctx, servicequotas.NewFromConfig(cfg), quotas.ScopeOf(cat, called), m)
	if err != nil {
		return ratelimit.Budget{}, fmt.Errorf("%s: %w", region, err)
	}
	return ratelimit.Budget{RequestsPerMinute: q.RequestsPerMinute, TokensPerMinute: q.TokensPerMinute, TokensPerDay: q.TokensPerDay}, nil
}
