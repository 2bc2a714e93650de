package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

// cell is one measured load against one system.
type cell struct {
	phase   string
	sut     string
	op      string
	rate    float64
	res     *LoadResult
	cpu     time.Duration      // the system's own process CPU during the measured part (0: no process)
	sbCPU   time.Duration      // the sandbox's
	stCPU   time.Duration      // the system's store's (redis-server), for a system that has one
	genCPU  time.Duration      // the load generator's (this process)
	sts     int                // AssumeRole calls during the measured part
	hwmKB   int64              // peak RSS (streams phase)
	baseKB  int64              // RSS before the streams
	goPeak  float64            // relay goroutines while the streams were open
	load    []float64          // 1-minute load average of the machine after each round
	rounds  [][3]time.Duration // p50, p99, p99.9 of each round
	heapKB  float64            // relay heap in use at the streams' peak
	stackKB float64            // relay goroutine stacks at the streams' peak
	comment string
}

// merge adds another round of the same load to c.
func (c *cell) merge(o *cell) {
	c.res.merge(o.res)
	c.cpu += o.cpu
	c.sbCPU += o.sbCPU
	c.stCPU += o.stCPU
	c.genCPU += o.genCPU
	c.sts += o.sts
	c.load = append(c.load, o.load...)
	c.rounds = append(c.rounds, o.rounds...)
}

func (c *cell) cpuPerReq() time.Duration   { return c.perReq(c.cpu) }
func (c *cell) sbCPUPerReq() time.Duration { return c.perReq(c.sbCPU) }
func (c *cell) stCPUPerReq() time.Duration { return c.perReq(c.stCPU) }

// perReq is d over the answered requests.
func (c *cell) perReq(d time.Duration) time.Duration {
	if c.res == nil || c.res.OK == 0 {
		return 0
	}
	return d / time.Duration(c.res.OK)
}

const requestTimeout = 30 * time.Second

// measure runs a warm-up (not counted), then the load, reading the system's, its store's and the sandbox's
// CPU time and the sandbox's AssumeRole count around the measured part.
func (b *bench) measure(ctx context.Context, phase string, s *sut, o op, rate float64, d time.Duration, maxInFlight int) *cell {
	load := Load{Rate: rate, Duration: b.s.warmup, MaxInFlight: maxInFlight, Timeout: requestTimeout,
		Do: func(ctx context.Context) (time.Duration, error) { return b.cl.do(ctx, s.next(), o) }}
	stsWarm := b.stsCalls(ctx)
	if b.s.warmup > 0 {
		w := load.Run(ctx)
		b.countRelay(s, w, 0) // its AssumeRole calls are counted with the cell's below
	}
	load.Duration = d
	c := &cell{phase: phase, sut: s.name, op: o.name, rate: rate}
	cpu0 := s.cpuTime()
	sb0, _ := cpuTime(b.sb.pid())
	var st0 time.Duration
	if s.store > 0 {
		st0, _ = cpuTime(s.store)
	}
	gen0 := selfCPU()
	sts0 := b.stsCalls(ctx)
	c.res = load.Run(ctx)
	c.genCPU = selfCPU() - gen0
	c.cpu = s.cpuTime() - cpu0
	sb1, _ := cpuTime(b.sb.pid())
	c.sbCPU = sb1 - sb0
	store := ""
	if s.store > 0 {
		st1, _ := cpuTime(s.store)
		c.stCPU = st1 - st0
		store = fmt.Sprintf(" store %v", c.stCPUPerReq())
	}
	sts1 := b.stsCalls(ctx)
	c.sts = sts1 - sts0
	b.countRelay(s, c.res, sts1-stsWarm)
	c.load = []float64{loadAvg()}
	l := &c.res.Latency
	c.rounds = [][3]time.Duration{{l.Quantile(.5), l.Quantile(.99), l.Quantile(.999)}}
	b.logf("%-8s %-12s %-19s %5.0f/s  ok %6d err %d drop %d  p50 %-9v p99 %-9v p99.9 %-9v cpu/req %v%s sandbox %v generator %v  sts %d%s",
		phase, s.name, o.name, rate, c.res.OK, c.res.Errors, c.res.Dropped, c.res.Latency.Quantile(.5), c.res.Latency.Quantile(.99),
		c.res.Latency.Quantile(.999), c.cpuPerReq(), store, c.sbCPUPerReq(), c.genCPU/time.Duration(max(1, c.res.OK)), c.sts, firstErr(c.res))
	return c
}

func firstErr(r *LoadResult) string {
	if r.FirstErr == "" {
		return ""
	}
	return "  first error: " + r.FirstErr
}

// countRelay attributes a load to the relay process's STS window: its requests if it went to the relay,
// its AssumeRole calls (warm-up included) as someone else's if not.
func (b *bench) countRelay(s *sut, r *LoadResult, sts int) {
	if b.win == nil {
		return
	}
	if s == b.relay {
		b.win.reqs += int(r.Sent)
	} else {
		b.win.other += sts
	}
}

func (b *bench) runAll(ctx context.Context) (*report, error) {
	rep := newReport(b)
	zero := ops(b.s.words)
	opNames := []string{"InvokeModel", "ConverseStream"}
	if b.openai {
		opNames = append(opNames, "Converse", "InvokeModelWithResponseStream", "OpenAI", "OpenAIStream", "Anthropic", "AnthropicStream")
	}
	if len(b.s.ops) > 0 {
		var kept []string
		for _, n := range opNames {
			if b.s.ops[n] {
				kept = append(kept, n)
			}
		}
		opNames = kept
	}
	systems := b.systems()

	// What each process burns with no load at all (timers, metrics, GC), to tell fixed costs from
	// per-request ones at low rates.
	if !b.s.quick {
		idle := append(append([]*sut{}, systems[1:]...), b.sbSUT())
		c0 := make([]time.Duration, len(idle))
		for i, s := range idle {
			c0[i], _ = cpuTime(s.pid)
		}
		const window = 5 * time.Second
		time.Sleep(window)
		for i, s := range idle {
			c1, _ := cpuTime(s.pid)
			rep.idle = append(rep.idle, idleCPU{s.name, (c1 - c0[i]) * time.Second / window})
		}
	}

	// Fixed rates, zero model latency: what each system adds. Systems are interleaved at every rate so that
	// a slow minute on the shared machine hits all of them alike.
	// Each cell runs in rounds, the systems taking turns, and the rounds are pooled.
	b.logf("fixed rates, zero model latency: %d rounds of %v per system", b.s.rounds, b.s.cell)
	for _, rate := range b.s.rates {
		if !b.s.phases["fixed"] {
			break
		}
		for _, name := range opNames {
			o := zero[name]
			var row []*cell
			all := append(append([]*sut{}, systems...), b.assume)
			for round := 0; round < b.s.rounds; round++ {
				i := 0
				for _, s := range all {
					assumeHere := !b.s.quick && (name == "InvokeModel" || name == "ConverseStream")
					if (o.relayOnly() && s != b.relay) || (s == b.assume && !assumeHere) {
						continue
					}
					c := b.measure(ctx, "fixed", s, o, rate, b.s.cell, 4000)
					if round == 0 {
						row = append(row, c)
					} else {
						row[i].merge(c)
					}
					i++
					if ctx.Err() != nil {
						return nil, ctx.Err()
					}
				}
			}
			rep.fixed = append(rep.fixed, row...)
		}
	}

	// The highest rate each system sustains without errors.
	for _, s := range systems {
		if len(b.s.ladder) == 0 || !b.s.phases["ladder"] {
			break
		}
		b.logf("highest sustained rate: %s", s.name)
		best := ladderResult{sut: s.name}
		for _, rate := range b.s.ladder {
			c := b.measure(ctx, "ladder", s, zero["InvokeModel"], rate, b.s.ladderStep, 4000)
			if why := sustained(c); why != "" {
				best.stopped = fmt.Sprintf("%.0f/s: %s", rate, why)
				break
			}
			best.rate, best.cell = rate, c
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
		}
		if best.stopped == "" {
			best.stopped = "the ladder's top rate was sustained"
		}
		rep.ladder = append(rep.ladder, best)
	}

	if b.relay != nil && b.s.soak > 0 && b.s.phases["soak"] {
		var err error
		if b.relay, err = b.fresh(ctx, b.relay); err != nil {
			return nil, err
		}
		if err := b.soak(ctx, rep, zero); err != nil {
			return nil, err
		}
	}

	// A realistic pace: time to first token and tokens per second like a mid-size model.
	if !b.s.quick {
		paced := ops(100)
		if err := b.sbc.latency(ctx, sandbox.Latency{FirstTokenMillis: 300, TokensPerSecond: 50}); err != nil {
			return nil, err
		}
		b.logf("realistic pace: 300 ms to first token, 50 tokens/s, 100-token answers")
		for _, s := range b.systems() { // the soak replaced the relay process
			if b.s.phases["paced"] {
				rep.paced = append(rep.paced, b.measure(ctx, "paced", s, paced["ConverseStream"], 100, 2*b.s.cell, 4000))
			}
		}
		if b.s.streams > 0 && b.s.phases["streams"] {
			if err := b.manyStreams(ctx, rep); err != nil {
				return nil, err
			}
		}
		if err := b.sbc.latency(ctx, sandbox.Latency{}); err != nil {
			return nil, err
		}
	}
	b.closeWindow(ctx)
	rep.windows = b.windows
	if b.s.phases["lambda"] {
		rep.lambda = b.measureLambda(ctx)
	}
	if b.s.phases["faults"] {
		rep.faults = b.measureFaults(ctx)
	}
	if b.s.phases["peers"] {
		rep.peers = b.measurePeers(ctx)
	}
	if b.s.phases["shared"] {
		var err error
		if rep.shared, err = b.measureShared(ctx); err != nil {
			return nil, fmt.Errorf("phase shared: %w", err)
		}
	}
	return rep, nil
}

// idleCPU is a process's CPU time per second with no requests.
type idleCPU struct {
	sut    string
	perSec time.Duration
}

// systems are the ones every phase compares, with their current processes.
func (b *bench) systems() []*sut {
	s := []*sut{b.direct, b.proxy}
	if b.relay != nil {
		s = append(s, b.relay)
	}
	return s
}

func (b *bench) sbSUT() *sut { return &sut{name: "sandbox", pid: b.sb.pid()} }

type ladderResult struct {
	sut     string
	rate    float64
	cell    *cell
	stopped string
}

// sustained says why a ladder step does not count as sustained ("" if it does): any error or drop, fewer
// answers per second than asked, or a p99 over 100 ms (an open-loop queue that is growing).
func sustained(c *cell) string {
	r := c.res
	switch {
	case r.Errors > 0:
		return fmt.Sprintf("%d errors (%s)", r.Errors, r.FirstErr)
	case r.Dropped > 0:
		return fmt.Sprintf("%d requests dropped at the in-flight cap", r.Dropped)
	case r.Achieved < 0.95*c.rate:
		return fmt.Sprintf("answered %.0f/s", r.Achieved)
	case r.Latency.Quantile(.99) > 100*time.Millisecond:
		return fmt.Sprintf("p99 %v: queueing", r.Latency.Quantile(.99).Round(time.Millisecond))
	}
	return ""
}

// manyStreams opens s.streams streams within a second, each about 5.5 s long, against the proxy and the
// relay, and reads each process's peak RSS.
func (b *bench) manyStreams(ctx context.Context, rep *report) error {
	if err := b.sbc.latency(ctx, sandbox.Latency{FirstTokenMillis: 500, TokensPerSecond: 40}); err != nil {
		return err
	}
	o := ops(200)["ConverseStream"]
	for _, old := range []*sut{b.proxy, b.relay} {
		if old == nil {
			continue
		}
		s, err := b.fresh(ctx, old)
		if err != nil {
			return err
		}
		if old == b.proxy {
			b.proxy = s
		}
		b.logf("%d concurrent streams: %s (a fresh process)", b.s.streams, s.name)
		base, _ := procStatus(s.pid, "VmRSS")
		if err := resetPeakRSS(s.pid); err != nil {
			b.logf("cannot reset the peak RSS of %s (%v); VmHWM includes earlier phases", s.name, err)
		}
		c := &cell{phase: "streams", sut: s.name, op: o.name, rate: float64(b.s.streams), baseKB: base}
		load := Load{Rate: float64(b.s.streams), Duration: time.Second, MaxInFlight: b.s.streams + 100, Timeout: requestTimeout,
			Do: func(ctx context.Context) (time.Duration, error) { return b.cl.do(ctx, s, o) }}
		done := make(chan *LoadResult, 1)
		cpu0, _ := cpuTime(s.pid)
		sts0 := b.stsCalls(ctx)
		go func() { done <- load.Run(ctx) }()
		if s == b.relay {
			for i := 0; i < 5; i++ { // sample goroutines while the streams are open
				time.Sleep(time.Second)
				if g, err := b.scrape("go_goroutines"); err == nil && g > c.goPeak {
					c.goPeak = g
					h, _ := b.scrape("go_memstats_heap_inuse_bytes")
					st, _ := b.scrape("go_memstats_stack_inuse_bytes")
					c.heapKB, c.stackKB = h/1024, st/1024
				}
			}
		}
		c.res = <-done
		cpu1, _ := cpuTime(s.pid)
		c.cpu = cpu1 - cpu0
		c.hwmKB, _ = procStatus(s.pid, "VmHWM")
		b.countRelay(s, c.res, b.stsCalls(ctx)-sts0)
		b.logf("streams  %-12s peak in flight %d  ok %d err %d  VmHWM %d kB (RSS before %d kB)%s", s.name, c.res.PeakInFlight, c.res.OK, c.res.Errors, c.hwmKB, base, firstErr(c.res))
		rep.streams = append(rep.streams, c)
	}
	return nil
}

// soakSample is one reading of the relay during the soak.
type soakSample struct {
	at         time.Duration
	goroutines float64
	rssKB      int64
	heapBytes  float64
}

// soak runs the relay at a steady mixed load (InvokeModel and ConverseStream alternating) and samples its
// goroutines and memory every 10 s.
func (b *bench) soak(ctx context.Context, rep *report, zero map[string]op) error {
	const rate = 300
	b.logf("soak: %v at %d/s, InvokeModel and ConverseStream alternating", b.s.soak, rate)
	var n atomic.Uint64
	load := Load{Rate: rate, Duration: b.s.soak, MaxInFlight: 4000, Timeout: requestTimeout,
		Do: func(ctx context.Context) (time.Duration, error) {
			if n.Add(1)%2 == 0 {
				return b.cl.do(ctx, b.relay, zero["InvokeModel"])
			}
			return b.cl.do(ctx, b.relay, zero["ConverseStream"])
		}}
	sts0 := b.stsCalls(ctx)
	done := make(chan *LoadResult, 1)
	start := time.Now()
	go func() { done <- load.Run(ctx) }()
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	sample := func() {
		s := soakSample{at: time.Since(start).Round(time.Second)}
		s.goroutines, _ = b.scrape("go_goroutines")
		s.heapBytes, _ = b.scrape("go_memstats_heap_inuse_bytes")
		s.rssKB, _ = procStatus(b.relay.pid, "VmRSS")
		rep.soak = append(rep.soak, s)
		b.logf("soak     %v goroutines %.0f heap in use %.1f MB RSS %d kB", s.at, s.goroutines, s.heapBytes/1e6, s.rssKB)
	}
	var res *LoadResult
	for res == nil {
		select {
		case res = <-done:
		case <-tick.C:
			sample()
		}
	}
	time.Sleep(2 * time.Second) // answers are in; what is still running now is idle connections only
	sample()
	b.countRelay(b.relay, res, b.stsCalls(ctx)-sts0)
	rep.soakRes = res
	b.logf("soak     ok %d err %d drop %d p99 %v%s", res.OK, res.Errors, res.Dropped, res.Latency.Quantile(.99), firstErr(res))
	return nil
}
