package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/bedrock-relay/bedrock-relay/config"
	"github.com/bedrock-relay/bedrock-relay/credcache"
	"github.com/bedrock-relay/bedrock-relay/router"
)

// Relay is everything one relay process serves, built from a config: the API handler, the admin handler and
// the registry they share.
type Relay struct {
	Handler  *Handler
	Admin    http.Handler
	Router   *router.Router
	Registry *prometheus.Registry
}

// BuildOptions tune Build.
type BuildOptions struct {
	// Logger receives the relay's warnings and problems; nil discards them.
	Logger *slog.Logger
	// AccessLog gets one JSON line per request; nil: none.
	AccessLog *slog.Logger
}

// Build assembles a relay from a validated config. base carries the source credentials (the SDK default
// chain: LoadAWSConfig) and any endpoint override.
func Build(ctx context.Context, cfg *config.Config, base aws.Config, o BuildOptions) (*Relay, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := NewMetrics(reg)
	// A refresh names its role and region; several configured targets may share them.
	names := map[[2]string]string{}
	for _, t := range cfg.Targets {
		k := [2]string{t.RoleARN, t.Region}
		if names[k] != "" {
			names[k] += "," + t.Name
		} else {
			names[k] = t.Name
		}
	}
	r, err := router.FromConfig(ctx, cfg, base, router.Options{
		Logger:    o.Logger,
		Metrics:   router.NewMetrics(reg),
		OnRefresh: func(rf credcache.Refresh) { m.Refresh(names[[2]string{rf.Target.RoleARN, rf.Target.Region}], rf.Err) },
	})
	if err != nil {
		return nil, err
	}
	h := NewHandler(Deps{Router: r, Auth: cfg.Auth, Logger: o.Logger, AccessLog: o.AccessLog, Metrics: m,
		Options: Options{RequestTimeout: time.Duration(cfg.Routing.RequestTimeout)}})
	return &Relay{Handler: h, Admin: NewAdminHandler(AdminDeps{Gatherer: reg, Router: r}), Router: r, Registry: reg}, nil
}

// LoadAWSConfig loads the relay's source credentials from the SDK default chain (environment, shared
// config, SSO, container or instance role; in Lambda the execution role), in the config's source region, with
// source.endpoint (if any) as the endpoint of every AWS call.
func LoadAWSConfig(ctx context.Context, cfg *config.Config) (aws.Config, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if cfg.Source.Region != "" {
		opts = append(opts, awsconfig.WithRegion(cfg.Source.Region))
	}
	base, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS source credentials: %w", err)
	}
	if cfg.Source.Endpoint != "" {
		base.BaseEndpoint = aws.String(cfg.Source.Endpoint)
	}
	return base, nil
}
