package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/bedrock-relay/bedrock-relay/router"
)

// AdminDeps is what the admin handler serves.
type AdminDeps struct {
	// Gatherer is the registry the relay's metrics are on.
	Gatherer prometheus.Gatherer
	// Router's targets are checked by /readyz.
	Router *router.Router
	// ReadyTimeout bounds the credential checks of one /readyz; 0: 10s.
	ReadyTimeout time.Duration
}

// NewAdminHandler serves the admin port:
//
//	GET /metrics  Prometheus metrics
//	GET /healthz  200 while the process serves
//	GET /readyz   whether each target's credentials can be obtained (an AssumeRole, or the cached session):
//	              200 when every target is ready, 200 "degraded" when some are, 503 when none is; JSON per target
func NewAdminHandler(d AdminDeps) http.Handler {
	if d.ReadyTimeout <= 0 {
		d.ReadyTimeout = 10 * time.Second
	}
	mux := http.NewServeMux()
	if d.Gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(d.Gatherer, promhttp.HandlerOpts{}))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), d.ReadyTimeout)
		defer cancel()
		rep := ready(ctx, d.Router)
		w.Header().Set("Content-Type", "application/json")
		if rep.Status == "unavailable" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	})
	return mux
}

type readyReport struct {
	Status  string        `json:"status"` // ready, degraded, unavailable
	Targets []targetReady `json:"targets"`
}

type targetReady struct {
	Target string `json:"target"`
	Ready  bool   `json:"ready"`
	Error  string `json:"error,omitempty"`
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
	n := 0
	for _, t := range rep.Targets {
		if t.Ready {
			n++
		}
	}
	switch {
	case n == len(rep.Targets) && n > 0:
		rep.Status = "ready"
	case n > 0:
		rep.Status = "degraded"
	default:
		rep.Status = "unavailable"
	}
	return rep
}
