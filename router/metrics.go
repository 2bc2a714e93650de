package router

import (
	"sync"
	"sync/atomic"

	"github.com/bedrock-relay/bedrock-relay/upstream"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the router's Prometheus collectors. A nil *Metrics records nothing.
type Metrics struct {
	upstreamErrors *prometheus.CounterVec
	failovers      *prometheus.CounterVec
	cooldowns      *prometheus.CounterVec
	backoffs       *prometheus.CounterVec
	exhaustions    *prometheus.CounterVec
	tokens         *prometheus.CounterVec
	servedTotal    *prometheus.CounterVec
	adaptations    *prometheus.CounterVec

	// servedBy holds each (target, model)'s three counters of a served request, looked up once rather than
	// by label values on every request; at most maxServedKeys pairs, past which the vectors are asked.
	servedBy sync.Map // servedKey → *servedCounters
	nServed  atomic.Int32
}

const maxServedKeys = 4096

type servedKey struct{ target, model string }

type servedCounters struct{ requests, input, output prometheus.Counter }

// NewMetrics registers the router's collectors on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		upstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bedrock_relay_upstream_errors_total", Help: "Failed upstream attempts by target, model and AWS error code."}, []string{"target", "model", "code"}),
		failovers:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bedrock_relay_failovers_total", Help: "Requests served after failing over from at least one target."}, []string{"model"}),
		cooldowns:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bedrock_relay_cooldowns_total", Help: "Targets taken out of rotation (hard cooldowns), by cause (throttled, daily, fault, setup)."}, []string{"target", "model", "cause"}),
		backoffs:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bedrock_relay_backoffs_total", Help: "Soft backoffs (the target stays usable, last) after transient throttles and faults, by cause."}, []string{"target", "model", "cause"}),
		exhaustions:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bedrock_relay_pool_exhausted_total", Help: "Requests refused because every target was at its limit."}, []string{"model"}),
		tokens:         prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bedrock_relay_tokens_total", Help: "Tokens served, by target, model and direction."}, []string{"target", "model", "direction"}),
		servedTotal:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bedrock_relay_upstream_served_total", Help: "Requests a target answered."}, []string{"target", "model"}),
		adaptations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bedrock_relay_body_adaptations_total",
			Help: "InvokeModel bodies the compatibility shim changed for a target's model (version_rewritten, betas_dropped) or refused."}, []string{"model", "change"}),
	}
	reg.MustRegister(m.upstreamErrors, m.failovers, m.cooldowns, m.backoffs, m.exhaustions, m.tokens, m.servedTotal, m.adaptations)
	return m
}

func (m *Metrics) upstreamError(target, model, code string) {
	if m != nil {
		m.upstreamErrors.WithLabelValues(target, model, code).Inc()
	}
}

func (m *Metrics) failover(model string, n int) {
	if m != nil {
		m.failovers.WithLabelValues(model).Inc()
	}
}

// backoff counts a failure's consequence: a hard cooldown (counted by cause) or a soft backoff.
func (m *Metrics) backoff(target, model, cause string, hard bool) {
	if m == nil {
		return
	}
	if hard {
		m.cooldowns.WithLabelValues(target, model, cause).Inc()
		return
	}
	m.backoffs.WithLabelValues(target, model, cause).Inc()
}

func (m *Metrics) exhausted(model string) {
	if m != nil {
		m.exhaustions.WithLabelValues(model).Inc()
	}
}

func (m *Metrics) served(target, model string, u upstream.Usage) {
	if m != nil {
		c := m.servedCounters(target, model)
		c.requests.Inc()
		c.input.Add(float64(u.InputTokens))
		c.output.Add(float64(u.OutputTokens))
	}
}

func (m *Metrics) servedCounters(target, model string) *servedCounters {
	k := servedKey{target, model}
	if c, ok := m.servedBy.Load(k); ok {
		return c.(*servedCounters)
	}
	c := &servedCounters{requests: m.servedTotal.WithLabelValues(target, model),
		input: m.tokens.WithLabelValues(target, model, "input"), output: m.tokens.WithLabelValues(target, model, "output")}
	if m.nServed.Load() < maxServedKeys {
		if _, loaded := m.servedBy.LoadOrStore(k, c); !loaded {
			m.nServed.Add(1)
		}
	}
	return c
}

func (m *Metrics) adapted(model, change string) {
	if m != nil {
		m.adaptations.WithLabelValues(model, change).Inc()
	}
}
