package mainlib

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bedrock-relay/bedrock-relay/config"
	"github.com/bedrock-relay/bedrock-relay/internal/httpapi"
	"github.com/bedrock-relay/bedrock-relay/ratelimit"
	"github.com/bedrock-relay/bedrock-relay/ratelimit/redisstore"
)

// newLimits builds the budget table for cfg's state backend: this process's own (memory), or shared through
// Redis (the store is returned too, to close and to report in /readyz; nil for memory).
func newLimits(cfg *config.Config, reg prometheus.Registerer, logger *slog.Logger, getenv func(string) string) (*ratelimit.Table, *redisstore.Store, error) {
	if cfg.State.Backend != config.StateRedis {
		return ratelimit.New(), nil, nil
	}
	rc := cfg.State.Redis
	password, err := rc.Password(getenv)
	if err != nil {
		return nil, nil, err
	}
	tc, err := redisTLS(rc.TLS)
	if err != nil {
		return nil, nil, err
	}
	share := 0.5
	if rc.FallbackShare != nil {
		share = *rc.FallbackShare
	}
	st := redisstore.New(redisstore.Options{Addrs: rc.Addrs, Cluster: rc.Cluster, MasterName: rc.MasterName,
		Username: rc.Username, Password: password, TLS: tc, KeyPrefix: rc.KeyPrefix, Timeout: time.Duration(rc.Timeout),
		ProbeInterval: time.Duration(rc.ProbeInterval), Share: share, Logger: logger, Registerer: reg})
	logger.Info("budgets and cooldowns shared through redis", "addrs", rc.Addrs, "key_prefix", rc.KeyPrefix,
		"tls", tc != nil, "fallback_share", share)
	return ratelimit.New(ratelimit.WithShared(st, share)), st, nil
}

// redisTLS is the TLS configuration state.redis.tls asks for; nil when off.
func redisTLS(t config.RedisTLS) (*tls.Config, error) {
	if !t.Enabled {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("state.redis.tls.ca_file: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, errors.New("state.redis.tls.ca_file: " + t.CAFile + " holds no PEM certificate")
		}
	}
	return tc, nil
}

// stateStatus is the store's part of /readyz.
func stateStatus(st *redisstore.Store) func() httpapi.StateStatus {
	return func() httpapi.StateStatus {
		shared, reason := st.Status()
		return httpapi.StateStatus{Backend: config.StateRedis, Shared: shared, Reason: reason}
	}
}
