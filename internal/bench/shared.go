package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

// sharedBudgets are every target's budgets in the shared phase: far above anything the load sends, so that
// nothing is refused, but set, so that every request reserves and settles in the budget table and, with the
// redis backend, in Redis, as it does in a deployment with budgets.
const sharedBudgets = "    budgets:\n      requests_per_minute: 1_000_000_000\n      tokens_per_minute: 1_000_000_000_000\n"

// sharedStreamRate is the rate of the shared phase's ConverseStream cells.
const sharedStreamRate = 200

// The systems of the shared phase, in the order of sharedResult.cells.
const (
	sharedMemory = iota // one relay, memory backend: the baseline
	sharedSplit         // two relays, memory backend, the load split: the cost of two processes without Redis
	sharedRedis         // two relays sharing one redis-server, the load split
	sharedSystems
)

// sharedResult is what two relays sharing their budgets through one redis-server cost against one relay
// keeping them in memory, under the same load.
type sharedResult struct {
	cells [][]*cell // per rate and op, per system (sharedMemory, sharedSplit, sharedRedis)
	// fellBack is, per rate and op, how many reservations the redis relays decided on local budgets (Redis
	// slower than the timeout, or unreachable), warm-ups included: their requests did not take the Redis path.
	fellBack []float64
	idle     []idleCPU // each system's and redis-server's CPU per second with no requests (full run only)
	// The Redis path, over the whole phase: what redis-server ran for the requests sent to the redis relays
	// (warm-ups included), and how many reservations those relays decided on local budgets instead.
	sent         uint64
	scripts      uint64        // EVALSHA and EVAL calls: the reserve and settle scripts
	scriptTime   time.Duration // redis-server's own time in them
	local, up    []float64     // each redis relay's local reservations and backend_up at the end
	redisVersion string
}

// measureShared runs the shared phase: a redis-server on loopback, two relays configured to keep their
// budgets in it, and, as the baseline, one relay and a pair keeping them in memory; same sandbox, targets
// and budgets. The three take turns in every round.
func (b *bench) measureShared(ctx context.Context) (*sharedResult, error) {
	rs, addr, err := b.startRedis(ctx)
	if err != nil {
		return nil, err
	}
	defer rs.stop()
	res := &sharedResult{}
	state := fmt.Sprintf("state:\n  backend: redis\n  redis:\n    addrs: [%q]\n", addr)
	if info, err := redisDo(addr, "INFO server"); err == nil {
		res.redisVersion = infoField(info, "redis_version")
	}

	var stops []func()
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()
	start := func(name, state string) (*sut, string, error) {
		s, admin, err := b.startBudgetRelay(ctx, name, state)
		if err == nil {
			stops = append(stops, s.child.stop)
		}
		return s, admin, err
	}
	mem, _, err := start("relay-memory", "")
	if err != nil {
		return nil, err
	}
	mem.name = "1 relay, memory"
	systems := []*sut{sharedMemory: mem, sharedSplit: {name: "2 relays, memory"}, sharedRedis: {name: "2 relays, redis"}}
	var admins []string
	for i := 1; i <= 2; i++ {
		m, _, err := start(fmt.Sprintf("relay-memory-%d", i), "")
		if err != nil {
			return nil, err
		}
		r, admin, err := start(fmt.Sprintf("relay-redis-%d", i), state)
		if err != nil {
			return nil, err
		}
		systems[sharedSplit].replicas = append(systems[sharedSplit].replicas, m)
		systems[sharedRedis].replicas = append(systems[sharedRedis].replicas, r)
		admins = append(admins, admin)
	}
	systems[sharedRedis].store = rs.pid()
	// A relay that could not reach Redis at start decides alone until its probe succeeds: wait for both to
	// share before measuring them.
	for _, admin := range admins {
		if err := waitBackendUp(ctx, admin); err != nil {
			return nil, err
		}
	}

	before, err := commandStats(addr)
	if err != nil {
		return nil, err
	}
	zero := ops(b.s.words)
	local := func() (n float64) {
		for _, admin := range admins {
			l, _ := scrapeAt(admin, "bedrock_relay_state_local_reservations_total")
			n += l
		}
		return n
	}
	if !b.s.quick {
		// What each system burns with no requests (the redis relays' probe and Pub/Sub included), to tell
		// fixed costs from per-request ones at the low rate.
		idle := append(append([]*sut{}, systems...), &sut{name: "redis-server", pid: rs.pid()})
		c0 := make([]time.Duration, len(idle))
		for i, s := range idle {
			c0[i] = s.cpuTime()
		}
		const window = 5 * time.Second
		time.Sleep(window)
		for i, s := range idle {
			res.idle = append(res.idle, idleCPU{s.name, (s.cpuTime() - c0[i]) * time.Second / window})
		}
	}
	b.logf("shared state: 1 relay (memory) / 2 relays (memory) / 2 relays sharing redis-server %s; %d rounds of %v per system",
		addr, b.s.rounds, b.s.cell)
	// InvokeModel at every rate of the fixed table; ConverseStream at sharedStreamRate only: at 1,000/s its
	// relay, sandbox and load generator alone need about this machine's 2 CPUs, and its latencies then
	// measure the saturation, not Redis.
	type shape struct {
		op   string
		rate float64
	}
	var shapes []shape
	for _, rate := range b.s.rates {
		shapes = append(shapes, shape{"InvokeModel", rate})
	}
	shapes = append(shapes, shape{"ConverseStream", sharedStreamRate})
	for _, l := range shapes {
		row := make([]*cell, sharedSystems)
		var fellBack float64
		for round := 0; round < b.s.rounds; round++ {
			// The starting system rotates, so that none is always the one measured right after a quiet
			// minute or a busy one.
			for j := 0; j < sharedSystems; j++ {
				i := (round + j) % sharedSystems
				l0 := local()
				c := b.measure(ctx, "shared", systems[i], zero[l.op], l.rate, b.s.cell, 4000)
				if i == sharedRedis {
					fellBack += local() - l0
				}
				if row[i] == nil {
					row[i] = c
				} else {
					row[i].merge(c)
				}
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
			}
		}
		res.cells = append(res.cells, row)
		res.fellBack = append(res.fellBack, fellBack)
	}
	after, err := commandStats(addr)
	if err != nil {
		return nil, err
	}
	res.sent = systems[sharedRedis].sent.Load()
	for _, cmd := range []string{"evalsha", "eval"} {
		res.scripts += after[cmd].calls - before[cmd].calls
		res.scriptTime += after[cmd].time - before[cmd].time
	}
	for _, admin := range admins {
		l, err := scrapeAt(admin, "bedrock_relay_state_local_reservations_total")
		if err != nil {
			return nil, err
		}
		u, _ := scrapeAt(admin, "bedrock_relay_state_backend_up")
		res.local, res.up = append(res.local, l), append(res.up, u)
	}
	b.logf("shared   redis-server ran %d scripts (EVALSHA+EVAL) for %d requests to the redis relays, %v of its time each; local reservations %v",
		res.scripts, res.sent, res.scriptTime/time.Duration(max(1, res.sent)), res.local)
	var all []string
	for cmd, st := range after {
		if n := st.calls - before[cmd].calls; n > 0 {
			all = append(all, fmt.Sprintf("%s %d", cmd, n))
		}
	}
	sort.Strings(all)
	b.logf("shared   redis-server commands over the phase: %s", strings.Join(all, ", "))
	return res, nil
}

// startBudgetRelay runs `bedrock-relay serve` with the bench's targets, each with sharedBudgets, and the
// given state block ("" for the memory backend); it returns the relay and its admin URL.
func (b *bench) startBudgetRelay(ctx context.Context, name, state string) (*sut, string, error) {
	addr, err := freePort()
	if err != nil {
		return nil, "", err
	}
	admin, err := freePort()
	if err != nil {
		return nil, "", err
	}
	cfg := fmt.Sprintf("server:\n  addr: %s\n  admin_addr: %s\nauth:\n  mode: none\nsource:\n  region: %s\n  endpoint: %s\n%stargets:\n%s",
		addr, admin, sandbox.SeedRegion, b.sbc.url, state, b.targetsYAML(sharedBudgets))
	path := filepath.Join(b.tmp, name+".yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return nil, "", err
	}
	env := append(credEnv(b.caller, b.sbc.url, sandbox.SeedRegion), b.s.relayEnv...)
	ch, err := startChild(ctx, name, "http://"+admin+"/metrics", env, b.bin, "serve", "--config", path)
	if err != nil {
		return nil, "", err
	}
	b.children = append(b.children, ch)
	return &sut{name: name, url: "http://" + addr, pid: ch.pid(), child: ch}, "http://" + admin, nil
}

// startRedis runs redis-server on a free loopback port, without persistence, in the bench's temporary
// directory; it returns the process and its address.
func (b *bench) startRedis(ctx context.Context) (*child, string, error) {
	addr, err := freePort()
	if err != nil {
		return nil, "", err
	}
	_, port, _ := net.SplitHostPort(addr)
	dir := filepath.Join(b.tmp, "redis")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, "", err
	}
	ready := func() error {
		pong, err := redisDo(addr, "PING")
		if err == nil && pong != "PONG" {
			err = fmt.Errorf("PING answered %q", pong)
		}
		return err
	}
	ch, err := startReady(ctx, "redis-server", ready, nil, b.s.redis,
		"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no")
	if err != nil {
		return nil, "", err
	}
	b.children = append(b.children, ch)
	return ch, addr, nil
}

// waitBackendUp waits, at most 10 s, until the relay at admin says it shares its budgets through Redis.
func waitBackendUp(ctx context.Context, admin string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		up, err := scrapeAt(admin, "bedrock_relay_state_backend_up")
		if err == nil && up == 1 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the relay at %s did not report bedrock_relay_state_backend_up 1 within 10s (%v, %v)", admin, up, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// redisDo sends one inline command and returns its simple-string or bulk-string reply: enough for PING and
// INFO, without a Redis client in the load generator's process.
func redisDo(addr, cmd string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, cmd+"\r\n"); err != nil {
		return "", err
	}
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	switch {
	case strings.HasPrefix(line, "+"):
		return line[1:], nil
	case strings.HasPrefix(line, "$"):
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", fmt.Errorf("%s: bad bulk length %q", cmd, line)
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	return "", fmt.Errorf("%s answered %q", cmd, line)
}

// infoField is one field of an INFO reply.
func infoField(info, name string) string {
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), name+":"); ok {
			return v
		}
	}
	return ""
}

// cmdStat is one command's line of INFO commandstats.
type cmdStat struct {
	calls uint64
	time  time.Duration
}

// commandStats reads redis-server's calls and time per command (lower case) so far.
func commandStats(addr string) (map[string]cmdStat, error) {
	info, err := redisDo(addr, "INFO commandstats")
	if err != nil {
		return nil, fmt.Errorf("redis-server INFO commandstats: %w", err)
	}
	out := map[string]cmdStat{}
	for _, l := range strings.Split(info, "\n") {
		// cmdstat_evalsha:calls=10,usec=500,usec_per_call=50.00,rejected_calls=0,failed_calls=0
		name, fields, ok := strings.Cut(strings.TrimSpace(l), ":")
		name, found := strings.CutPrefix(name, "cmdstat_")
		if !ok || !found {
			continue
		}
		var st cmdStat
		for _, f := range strings.Split(fields, ",") {
			k, v, _ := strings.Cut(f, "=")
			n, _ := strconv.ParseUint(v, 10, 64)
			switch k {
			case "calls":
				st.calls = n
			case "usec":
				st.time = time.Duration(n) * time.Microsecond
			}
		}
		out[name] = st
	}
	return out, nil
}

// sharedGoal is issue 14's bar for sharing through Redis: at most this much added p50, and at most this
// factor of relay CPU per request, against one relay with the memory backend.
const (
	sharedGoalP50 = 150 * time.Microsecond
	sharedGoalCPU = 1.20
)

// verdict is each op's added p50 and CPU factor of the redis pair over the memory relay, and whether both
// goals hold.
func sharedVerdict(row []*cell) (added [3]time.Duration, cpu float64, met bool) {
	mem, rd := row[sharedMemory], row[sharedRedis]
	added = addedByRound(rd, mem)
	if m := mem.cpuPerReq(); m > 0 {
		cpu = float64(rd.cpuPerReq()) / float64(m)
	}
	return added, cpu, added[0] <= sharedGoalP50 && cpu > 0 && cpu <= sharedGoalCPU
}

func (r *sharedResult) markdown(p func(string, ...any), s settings) {
	p("")
	p("### Shared state: 2 relays over one redis-server against 1 relay with the memory backend (%d rounds × %v per system, systems taking turns, each after a %v warm-up; rounds pooled)",
		s.rounds, s.cell, s.warmup)
	p("")
	p("- every relay: the same %d targets, each with budgets requests_per_minute 1,000,000,000 and tokens_per_minute", s.targets)
	p("  1,000,000,000,000 (never refusing, but set, so that every request reserves and settles in the budget table);")
	p("  the redis relays add `state: {backend: redis, redis: {addrs: [...]}}` (defaults otherwise: timeout 50 ms),")
	p("  pointing at one redis-server %s on 127.0.0.1 (`--save \"\" --appendonly no`)", r.redisVersion)
	p("- the rate is the load in all; with 2 relays requests alternate between them (half the rate each). \"2 relays,")
	p("  memory\" is a control: the same split without Redis, to tell the cost of Redis from that of two processes.")
	p("  ConverseStream at %d/s only: at 1,000/s its relay, sandbox and load generator alone need about this", sharedStreamRate)
	p("  machine's 2 CPUs, and its latencies then measure the saturation, not Redis")
	p("- relay CPU/req: utime+stime of the relay processes, summed over both for 2 relays, over the answered")
	p("  requests; redis-server's apart. +p50/+p99/+p99.9: the system's percentile minus the 1 memory relay's in")
	p("  the same round, median over the rounds. \"decided locally\": reservations the redis relays decided on local")
	p("  budgets (`bedrock_relay_state_local_reservations_total`, warm-ups included) because Redis did not answer")
	p("  within the timeout; those requests did not take the Redis path")
	if len(r.idle) > 0 {
		var parts []string
		for _, i := range r.idle {
			parts = append(parts, fmt.Sprintf("%s %v/s", i.sut, i.perSec))
		}
		p("- idle CPU per second, no requests (10 ms ticks over 5 s): %s", strings.Join(parts, ", "))
	}
	p("")
	p("| op | rate/s | system | ok | err+drop | p50 | p99 | p99.9 | +p50 | +p99 | +p99.9 | relay CPU/req | vs 1 relay | redis-server CPU/req | decided locally | sandbox CPU/req | AssumeRole | load avg |")
	p("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for k, row := range r.cells {
		mem := row[sharedMemory]
		for i, c := range row {
			l := &c.res.Latency
			add, vs, st, fb := [3]string{}, "", "", ""
			if i != sharedMemory {
				a := addedByRound(c, mem)
				add = [3]string{signedUS(a[0]), signedUS(a[1]), signedUS(a[2])}
				vs = ratio(c.cpuPerReq(), mem.cpuPerReq())
			}
			if i == sharedRedis {
				st, fb = us(c.stCPUPerReq()), fmt.Sprintf("%.0f", r.fellBack[k])
			}
			p("| %s | %.0f | %s | %d | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d | %s |", c.op, c.rate, c.sut, c.res.OK, c.res.Errors+c.res.Dropped,
				us(l.Quantile(.5)), us(l.Quantile(.99)), us(l.Quantile(.999)), add[0], add[1], add[2], us(c.cpuPerReq()), vs, st, fb, us(c.sbCPUPerReq()), c.sts, loadRange(c.load))
		}
	}
	p("")
	check := "every reservation went through Redis"
	for _, l := range r.local {
		if l > 0 {
			check = "**some reservations were decided on local budgets (see \"decided locally\")**"
		}
	}
	p("The Redis path: redis-server ran %d reserve and settle scripts (EVALSHA, EVAL) for the %d requests sent to the redis", r.scripts, r.sent)
	p("relays, warm-ups included: %.2f per request (2 when each request reserves and settles on its own; leases and summed settlements make it fewer), %s of redis-server's own time",
		float64(r.scripts)/float64(max(1, r.sent)), us(r.scriptTime/time.Duration(max(1, r.sent))))
	p("per request in them; `bedrock_relay_state_local_reservations_total` %s, `bedrock_relay_state_backend_up` %s at the end:",
		floats(r.local), floats(r.up))
	p("%s.", check)
	p("")
	for _, row := range r.cells {
		a, cpu, met := sharedVerdict(row)
		v := "**missed**"
		if met {
			v = "met"
		}
		p("Goal (≤ %s p50, ≤ +%.0f %% relay CPU per request), %s at %.0f/s: %s p50, %s p99, %+.0f %% CPU: %s.", signedUS(sharedGoalP50), (sharedGoalCPU-1)*100,
			row[sharedMemory].op, row[sharedMemory].rate, signedUS(a[0]), signedUS(a[1]), (cpu-1)*100, v)
	}
}

func floats(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatFloat(x, 'f', -1, 64)
	}
	return strings.Join(s, " and ")
}

// summary is the phase's one-line verdict.
func (r *sharedResult) summary() string {
	var parts []string
	all := true
	for k, row := range r.cells {
		mem, rd := row[sharedMemory], row[sharedRedis]
		a, cpu, met := sharedVerdict(row)
		all = all && met
		parts = append(parts, fmt.Sprintf("%s @%.0f/s: added p50 %s p99 %s, relay CPU/req %s → %s (%+.0f %%), redis-server %s/req, %.0f decided locally",
			mem.op, mem.rate, signedUS(a[0]), signedUS(a[1]), us(mem.cpuPerReq()), us(rd.cpuPerReq()), (cpu-1)*100, us(rd.stCPUPerReq()), r.fellBack[k]))
	}
	goals := "missed"
	if all {
		goals = "met"
	}
	return fmt.Sprintf("summary shared state, 2 relays on redis vs 1 on memory: %s; goals (≤ %s p50, ≤ +%.0f %% CPU) %s",
		strings.Join(parts, "; "), signedUS(sharedGoalP50), (sharedGoalCPU-1)*100, goals)
}
