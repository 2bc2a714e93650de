package httpapi

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the HTTP API's Prometheus collectors. A nil *Metrics records nothing. The router's own
// collectors (failovers, throttles, cooldowns, tokens) come from router.NewMetrics on the same registry.
type Metrics struct {
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	firstByte *prometheus.HistogramVec
	inFlight  prometheus.Gauge
	refreshes *prometheus.CounterVec

	// Per caller key (the config's keys: a bounded set) × model.
	keyRequests *prometheus.CounterVec
	keyTokens   *prometheus.CounterVec
	keyCost     *prometheus.CounterVec
	keyRefusals *prometheus.CounterVec
}

// latencyBuckets span a quick count-tokens call to a long stream.
var latencyBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300}

// NewMetrics registers the HTTP API's collectors on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bedrock_relay_requests_total",
			Help: "Requests answered, by serving target, model, operation, status class and AWS error code (ok on success)."},
			[]string{"target", "model", "operation", "status", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "bedrock_relay_request_duration_seconds",
			Help: "Time from request to the end of the answer (the last event of a stream).", Buckets: latencyBuckets},
			[]string{"target", "model", "operation"}),
		firstByte: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "bedrock_relay_time_to_first_byte_seconds",
			Help: "Time from request to the first byte of the answer.", Buckets: latencyBuckets},
			[]string{"target", "model", "operation"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "bedrock_relay_requests_in_flight",
			Help: "Requests being answered, streams included."}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bedrock_relay_sts_refreshes_total",
			Help: "AssumeRole calls made to refresh a target's credentials, by target and outcome (ok or error)."},
			[]string{"target", "outcome"}),
	}
	m.keyRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bedrock_relay_key_requests_total",
		Help: "Model requests by caller key (\"\" under auth: none), model and outcome (ok or error)."}, []string{"key", "model", "outcome"})
	m.keyTokens = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bedrock_relay_key_tokens_total",
		Help: "Tokens used by caller key and model, by kind: input (not cached), output, cache_read, cache_write."}, []string{"key", "model", "kind"})
	m.keyCost = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bedrock_relay_key_cost_usd_total",
		Help: "Cost in USD at the catalogue's (or the config's) prices, by caller key and model; models without a price add nothing."}, []string{"key", "model"})
	m.keyRefusals = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bedrock_relay_key_budget_refusals_total",
		Help: "Requests refused by their key's or group's own budget, by scope (key:NAME, group:NAME) and budget."}, []string{"scope", "budget"})
	reg.MustRegister(m.requests, m.duration, m.firstByte, m.inFlight, m.refreshes, m.keyRequests, m.keyTokens, m.keyCost, m.keyRefusals)
	return m
}

func (m *Metrics) observe(x *exchange) {
	if m == nil || x.op == "" {
		return
	}
	target, model := x.target, x.model
	if target == "" {
		target = "none"
	}
	if model == "" {
		model = "unknown"
	}
	code := x.code
	if code == "" {
		code = "ok"
	}
	m.requests.WithLabelValues(target, model, x.op, strconv.Itoa(x.status/100)+"xx", code).Inc()
	m.duration.WithLabelValues(target, model, x.op).Observe(x.elapsed.Seconds())
	if x.firstByte > 0 {
		m.firstByte.WithLabelValues(target, model, x.op).Observe(x.firstByte.Seconds())
	}
}

func (m *Metrics) begin() func() {
	if m == nil {
		return func() {}
	}
	m.inFlight.Inc()
	return m.inFlight.Dec
}

// Refresh counts one AssumeRole of target's credentials (err nil: it succeeded).
func (m *Metrics) Refresh(target string, err error) {
	if m == nil {
		return
	}
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.refreshes.WithLabelValues(target, outcome).Inc()
}

// used counts a metered request's usage and cost against its key.
func (m *Metrics) used(x *exchange, cost float64, priced bool) {
	if m == nil {
		return
	}
	outcome := "ok"
	if x.code != "" {
		outcome = "error"
	}
	m.keyRequests.WithLabelValues(x.key, x.model, outcome).Inc()
	u := x.usage
	for _, t := range [...]struct {
		kind string
		n    int
	}{{"input", u.InputTokens}, {"output", u.OutputTokens}, {"cache_read", u.CacheReadInputTokens}, {"cache_write", u.CacheWriteInputTokens}} {
		if t.n > 0 {
			m.keyTokens.WithLabelValues(x.key, x.model, t.kind).Add(float64(t.n))
		}
	}
	if priced && cost > 0 {
		m.keyCost.WithLabelValues(x.key, x.model).Add(cost)
	}
}

// keyRefused counts a refusal by a key's or group's budget.
func (m *Metrics) keyRefused(scope, budget string) {
	if m == nil {
		return
	}
	m.keyRefusals.WithLabelValues(scope, budget).Inc()
}
