package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/bedrock-relay/bedrock-relay/ratelimit"
	"github.com/bedrock-relay/bedrock-relay/router"
	"github.com/bedrock-relay/bedrock-relay/usage"
)

// AdminDeps is what the admin handler serves.
type AdminDeps struct {
	// Gatherer is the registry the relay's metrics are on.
	Gatherer prometheus.Gatherer
	// Router's targets are checked by /readyz.
	Router *router.Router
	// ReadyTimeout bounds the credential checks of one /readyz; 0: 10s.
	ReadyTimeout time.Duration
	// Draining reports that shutdown has begun (nil: never): /readyz then answers 503 "draining".
	Draining func() bool
	// State reports the state backend that shares budgets and cooldowns between relays (nil: none, each
	// process keeps its own). While it is not shared, /readyz says "degraded": still ready, on local budgets.
	State func() StateStatus

	// The status page (GET /, status.go) shows what these give; each nil or empty hides its part.
	// Board counts the finished requests (rates, each target's last error).
	Board *StatusBoard
	// Usage and Spend are the usage and money ledgers of the callers' keys (Accounting.Usage, .Spend).
	Usage usage.Store
	Spend usage.Spend
	// Keys and Groups are the configured keys and groups, by name, with their budgets.
	Keys, Groups []StatusKey
	// KeyLimits holds the keys' and groups' request and token windows (Accounting.Limits), for their
	// per-minute budgets.
	KeyLimits *ratelimit.Table
	// Now is the page's clock; nil is time.Now.
	Now func() time.Time
}

// StateStatus is the state backend's part of /readyz.
type StateStatus struct {
	Backend string `json:"backend"` // redis
	// Shared is false while the relay cannot reach the backend and decides on local budgets alone.
	Shared bool   `json:"shared"`
	Reason string `json:"reason,omitempty"`
}

// NewAdminHandler serves the admin port:
//
//	GET /metrics  Prometheus metrics
//	GET /healthz  200 while the process serves
//	GET /readyz   whether the relay can serve: each target's credentials can be obtained (an AssumeRole, or
//	              the cached session) and it is not taken out of rotation for a model; 200 "ready" when every
//	              target is, 200 "degraded" when some are but every served model has one, or when the state
//	              backend (Redis) cannot be reached and budgets are local, 503 "unavailable" (naming the
//	              models no target can serve) or "draining" (shutdown has begun); JSON per target
//	GET /         the status page (status.go): HTML, refreshing itself, for a person
func NewAdminHandler(d AdminDeps) http.Handler {
	if d.ReadyTimeout <= 0 {
		d.ReadyTimeout = 10 * time.Second
	}
	mux := http.NewServeMux()
	if d.Gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(d.Gatherer, promhttp.HandlerOpts{}))
	}
	mux.Handle("GET /{$}", newStatusHandler(d))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), d.ReadyTimeout)
		defer cancel()
		rep := ready(ctx, d.Router)
		if d.State != nil {
			st := d.State()
			rep.State = &st
			if !st.Shared && (rep.Status == "ready" || rep.Status == "degraded") {
				rep.Status, rep.Reason = "degraded", "state backend "+st.Backend+": "+st.Reason
			}
		}
		if d.Draining != nil && d.Draining() {
			rep.Status, rep.Reason = "draining", "the relay is shutting down"
		}
		w.Header().Set("Content-Type", "application/json")
		if rep.Status == "unavailable" || rep.Status == "draining" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	})
	return mux
}

type readyReport struct {
	Status string `json:"status"` // ready, degraded, unavailable, draining
	// Reason says why the relay is not ready.
	Reason string `json:"reason,omitempty"`
	// Unserved lists the models no target can serve now.
	Unserved []string      `json:"unserved,omitempty"`
	Targets  []targetReady `json:"targets"`
	// State is the state backend's status, when the relay has one.
	State *StateStatus `json:"state,omitempty"`
}

type targetReady struct {
	Target string `json:"target"`
	Ready  bool   `json:"ready"`
	Error  string `json:"error,omitempty"`
	// Out lists the models the target is taken out of rotation for (a cooldown), with the cause.
	Out []string `json:"out,omitempty"`
}

// ready retrieves every target's credentials at once. The caches answer from memory while their session is
// valid, so a probe costs an STS call per target only once per session.
func ready(ctx context.Context, r *router.Router) readyReport {
	var rep readyReport
	if r == nil {
		return readyReport{Status: "unavailable"}
	}
	ts := r.Targets()
	rep.Targets = make([]targetReady, len(ts))
	var wg sync.WaitGroup
	for i, t := range ts {
		rep.Targets[i] = targetReady{Target: t.Name, Ready: true}
		if t.Credentials == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := t.Credentials.Retrieve(ctx); err != nil {
				rep.Targets[i] = targetReady{Target: t.Name, Error: err.Error()}
			}
		}()
	}
	wg.Wait()
	// A target cooling down for a model cannot serve it now.
	out := map[string]map[string]bool{} // target → models out
	for _, st := range r.Limits().Snapshot() {
		if !st.CooldownUntil.IsZero() {
			if out[st.Key.Target] == nil {
				out[st.Key.Target] = map[string]bool{}
			}
			out[st.Key.Target][st.Key.Model] = true
			for i := range rep.Targets {
				if rep.Targets[i].Target == st.Key.Target {
					rep.Targets[i].Out = append(rep.Targets[i].Out, st.Key.Model+" ("+st.Cause.String()+")")
				}
			}
		}
	}
	n := 0
	for _, t := range rep.Targets {
		if t.Ready && len(t.Out) == 0 {
			n++
		}
	}
	models, _ := r.Models()
	for _, m := range models {
		served := false
		for i, t := range ts {
			if _, ok := t.Models[m]; ok && rep.Targets[i].Ready && !out[t.Name][m] {
				served = true
			}
		}
		if !served {
			rep.Unserved = append(rep.Unserved, m)
		}
	}
	switch {
	case len(rep.Unserved) > 0:
		rep.Status = "unavailable"
		rep.Reason = "no target can serve " + strings.Join(rep.Unserved, ", ") + " now"
	case n == len(rep.Targets) && n > 0:
		rep.Status = "ready"
	default:
		rep.Status = "degraded"
	}
	return rep
}
