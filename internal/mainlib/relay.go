package mainlib

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/bedrock-relay/bedrock-relay/config"
	"github.com/bedrock-relay/bedrock-relay/credcache"
	"github.com/bedrock-relay/bedrock-relay/internal/awsenv"
	"github.com/bedrock-relay/bedrock-relay/internal/httpapi"
	"github.com/bedrock-relay/bedrock-relay/ratelimit/redisstore"
	"github.com/bedrock-relay/bedrock-relay/router"
)

// Relay is everything one relay process serves, built from a config: the API handler, the admin handler and
// the registry they share.
type Relay struct {
	Handler  *httpapi.Handler
	Admin    http.Handler
	Router   *router.Router
	Registry *prometheus.Registry
	// Draining is set when shutdown begins: /readyz then says not ready, so a load balancer stops sending.
	Draining atomic.Bool
	// Accounting is the keys' budgets and the usage ledger.
	Accounting *httpapi.Accounting

	state *redisstore.Store // the shared state backend; nil for memory
}

// Close stops the state backend's background work, writing its queued settlements first, and closes its
// connections. Call it once the servers have shut down; a relay with the memory backend has nothing to close.
func (rl *Relay) Close() error {
	if rl.state == nil {
		return nil
	}
	return rl.state.Close()
}

// BuildOptions tune Build.
type BuildOptions struct {
	// Logger receives the relay's warnings and problems; nil discards them.
	Logger *slog.Logger
	// AccessLog gets one JSON line per request; nil: none.
	AccessLog *slog.Logger
	// Getenv reads the environment (state.redis.password_env); nil: the process's.
	Getenv func(string) string
}

// Build assembles a relay from a validated config: config → state backend (ratelimit's table, shared
// through Redis for state.backend redis) → credcache → upstream → quotas → router → httpapi. base carries
// the source credentials (LoadAWSConfig) and any endpoint override. Close the relay when done with it.
func Build(ctx context.Context, cfg *config.Config, base aws.Config, o BuildOptions) (*Relay, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := httpapi.NewMetrics(reg)
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
	limits, st, err := newLimits(cfg, reg, o.Logger, o.Getenv)
	if err != nil {
		return nil, err
	}
	r, err := NewRouter(ctx, cfg, base, RouterOptions{
		Router:    router.Options{Logger: o.Logger, Metrics: router.NewMetrics(reg), Limits: limits},
		OnRefresh: func(rf credcache.Refresh) { m.Refresh(names[[2]string{rf.Target.RoleARN, rf.Target.Region}], rf.Err) },
	})
	if err != nil {
		if st != nil {
			st.Close()
		}
		return nil, err
	}
	board := httpapi.NewStatusBoard(nil)
	acct, err := newAccounting(cfg, st, m)
	if err != nil {
		if st != nil {
			st.Close()
		}
		return nil, err
	}
	h := httpapi.NewHandler(httpapi.Deps{Router: r, Auth: cfg.Auth, Logger: o.Logger, AccessLog: o.AccessLog, Metrics: m, Accounting: acct, Board: board,
		Options: httpapi.Options{RequestTimeout: time.Duration(cfg.Routing.RequestTimeout),
			BodyTimeout: time.Duration(cfg.Server.BodyTimeout), MaxBodyBytesInFlight: cfg.Server.MaxBodyBytesInFlight}})
	rl := &Relay{Handler: h, Router: r, Registry: reg, state: st}
	ad := httpapi.AdminDeps{Gatherer: reg, Router: r, Draining: rl.Draining.Load,
		Board: board, Usage: acct.Usage, Spend: acct.Spend, KeyLimits: acct.Limits}
	for _, k := range cfg.Auth.Keys { // names and budgets, never the hashes
		ad.Keys = append(ad.Keys, httpapi.StatusKey{Name: k.Name, Group: k.Group, Budgets: k.Budgets})
	}
	for _, g := range cfg.Groups {
		ad.Groups = append(ad.Groups, httpapi.StatusKey{Name: g.Name, Budgets: g.Budgets})
	}
	if st != nil {
		ad.State = stateStatus(st)
	}
	admin := http.NewServeMux()
	admin.Handle("GET /usage", httpapi.NewUsageHandler(acct.Usage, nil))
	admin.Handle("/", httpapi.NewAdminHandler(ad))
	rl.Admin, rl.Accounting = admin, acct
	return rl, nil
}

// LoadAWSConfig loads the relay's source credentials (awsenv.Load: the environment's keys, or the SDK default
// chain: shared config, SSO, container or instance role; in Lambda the execution role), in the config's
// source region, with source.endpoint (if any) as the endpoint of every AWS call. getenv reads the
// environment (nil: the process's).
func LoadAWSConfig(ctx context.Context, cfg *config.Config, getenv func(string) string) (aws.Config, error) {
	return awsenv.Load(ctx, awsenv.Options{Getenv: getenv, Region: cfg.Source.Region, Endpoint: cfg.Source.Endpoint})
}
