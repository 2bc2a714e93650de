package redisstore

import "github.com/prometheus/client_golang/prometheus"

// metrics are the store's collectors; without a registerer they are made but not registered, so that the
// store records into them either way.
type metrics struct {
	up        prometheus.Gauge
	fallbacks prometheus.Counter
	local     prometheus.Counter
	errors    *prometheus.CounterVec
	dropped   prometheus.Counter
	notices   prometheus.Counter
	calls     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		up: prometheus.NewGauge(prometheus.GaugeOpts{Name: "bedrock_relay_state_backend_up",
			Help: "1 while budgets and cooldowns are shared through the state backend (Redis), 0 while this relay falls back to local budgets."}),
		fallbacks: prometheus.NewCounter(prometheus.CounterOpts{Name: "bedrock_relay_state_fallbacks_total",
			Help: "Times this relay fell back to local budgets because the state backend could not be reached or was slow."}),
		local: prometheus.NewCounter(prometheus.CounterOpts{Name: "bedrock_relay_state_local_reservations_total",
			Help: "Reservations decided on local budgets (at state.redis.fallback_share of each) because the state backend could not answer."}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bedrock_relay_state_errors_total",
			Help: "Failed calls to the state backend, by operation (reserve, write, probe)."}, []string{"op"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "bedrock_relay_state_dropped_writes_total",
			Help: "Settlements, cooldowns and notices not written to the state backend (unreachable, or the queue full); they are not replayed."}),
		notices: prometheus.NewCounter(prometheus.CounterOpts{Name: "bedrock_relay_state_notices_received_total",
			Help: "Soft backoffs and hard cooldowns other relays announced through the state backend, applied here."}),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bedrock_relay_state_reserve_calls_total",
			Help: "Round trips to the state backend that check and charge a budget, by kind: reserve (one request) or lease (several, admitted from it without round trips)."}, []string{"kind"}),
	}
	if reg != nil {
		reg.MustRegister(m.up, m.fallbacks, m.local, m.errors, m.dropped, m.notices, m.calls)
	}
	return m
}

func (m *metrics) setUp(up bool) {
	if up {
		m.up.Set(1)
	} else {
		m.up.Set(0)
	}
}
