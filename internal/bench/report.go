package bench

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/bedrock-relay/bedrock-relay/internal/faultmatrix"
)

type report struct {
	s          settings
	machine    string
	date       string
	command    string
	relayNote  string
	openaiNote string
	fixed      []*cell
	ladder     []ladderResult
	paced      []*cell
	streams    []*cell
	soak       []soakSample
	soakRes    *LoadResult
	windows    []*stsWindow
	idle       []idleCPU
	targets    int
	lambda     lambdaResult
	faults     []faultmatrix.Result
	shared     *sharedResult
	peers      *peersResult
}

func newReport(b *bench) *report {
	cpu := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	cmd := "go run ./bench"
	if b.s.quick {
		cmd += " -quick"
	}
	if b.s.phasesArg != "" {
		cmd += " -phases " + b.s.phasesArg
	}
	return &report{s: b.s, relayNote: b.relayNote, openaiNote: b.openaiNote, targets: b.s.targets, command: cmd,
		machine: fmt.Sprintf("%d CPUs (nproc), %s, %s %s/%s", runtime.NumCPU(), cpu, runtime.Version(), runtime.GOOS, runtime.GOARCH),
		date:    time.Now().UTC().Format("2006-01-02 15:04 MST")}
}

// baselineOp is the direct Bedrock call a translated request is compared with: the relay answers the
// OpenAI API with Converse or ConverseStream, and the Anthropic API with InvokeModel or
// InvokeModelWithResponseStream.
func baselineOp(op string) string {
	switch op {
	case "OpenAI chat":
		return "Converse"
	case "OpenAI chat stream":
		return "ConverseStream"
	case "Anthropic messages":
		return "InvokeModel"
	case "Anthropic messages stream":
		return "InvokeModelWithResponseStream"
	}
	return op
}

// pathTargets are issue 17's goals for the relay's CPU per request over the proxy's, by path.
var pathTargets = []struct {
	op     string
	target float64
}{
	{"InvokeModel", 1.10}, {"Converse", 1.10}, {"ConverseStream", 1.20}, {"InvokeModelWithResponseStream", 1.20},
	{"OpenAI chat", 1.30}, {"OpenAI chat stream", 1.30}, {"Anthropic messages", 1.30}, {"Anthropic messages stream", 1.30},
}

func (r *report) find(cells []*cell, sut, op string, rate float64) *cell {
	for _, c := range cells {
		if c.sut == sut && c.op == op && c.rate == rate {
			return c
		}
	}
	return nil
}

// addedByRound is what c adds over the direct call d: per round, c's percentile minus d's in the same
// round, then the median over rounds, so that one round hit by other work on the machine does not decide.
func addedByRound(c, d *cell) [3]time.Duration {
	var out [3]time.Duration
	n := min(len(c.rounds), len(d.rounds))
	if n == 0 {
		return out
	}
	for q := 0; q < 3; q++ {
		diffs := make([]time.Duration, n)
		for i := 0; i < n; i++ {
			diffs[i] = c.rounds[i][q] - d.rounds[i][q]
		}
		sort.Slice(diffs, func(i, j int) bool { return diffs[i] < diffs[j] })
		if n%2 == 1 {
			out[q] = diffs[n/2]
		} else {
			out[q] = (diffs[n/2-1] + diffs[n/2]) / 2
		}
	}
	return out
}

func us(d time.Duration) string {
	if d == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
}

func signedUS(d time.Duration) string {
	return fmt.Sprintf("%+.0f µs", float64(d)/float64(time.Microsecond))
}

func ratio(a, b time.Duration) string {
	if a == 0 || b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", float64(a)/float64(b))
}

func (r *report) markdown() string {
	var w strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&w, format+"\n", args...) }
	p("## Run of %s", r.date)
	p("")
	p("- command: `%s`", r.command)
	p("- machine: %s", r.machine)
	p("- every server is its own process on 127.0.0.1: sandbox (`bedrock-relay sandbox`), reference proxy and")
	p("  per-request-AssumeRole proxy (`bench serve-proxy`), relay (`bedrock-relay serve`, %d targets, auth none)", r.targets)
	if r.relayNote != "" {
		p("- **relay not measured**: %s", r.relayNote)
	}
	if r.openaiNote != "" {
		p("- OpenAI API not measured: %s", r.openaiNote)
	}
	p("- latency is from each request's intended send time (open loop) to its last byte; p50/p99/p99.9 pool")
	p("  the rounds; \"+pXX\" is the system's percentile minus the direct call's in the same round, median over")
	p("  the rounds (robust to one round hit by other work); CPU is the process's utime+stime")
	p("  (/proc/PID/stat, 10 ms ticks) over the measured part, divided by the answered requests; \"load avg\" is")
	p("  the machine's 1-minute load average after each round (2 CPUs: above 2, other work was competing)")
	if len(r.idle) > 0 {
		var parts []string
		for _, i := range r.idle {
			v := fmt.Sprintf("%v/s", i.perSec)
			if i.perSec == 0 {
				v = "< 2ms/s (no 10 ms tick in 5 s)"
			}
			parts = append(parts, i.sut+" "+v)
		}
		p("- idle CPU per second, no requests: %s", strings.Join(parts, ", "))
	}
	if len(r.fixed) > 0 {
		r.fixedTable(p)
	}
	r.rest(p)
	if len(r.faults) > 0 {
		p("")
		p("### Fault matrix")
		p("")
		p("Each row: the faults installed on the sandbox (every target alike), a fresh relay process in front of it,")
		p("Converse and ConverseStream calls by the Go SDK with its retries off. \"clear error\" is an answer in")
		p("Bedrock's error shape the SDK parses; \"lost\" is anything else (no answer, an empty 200); \"truncated\"")
		p("a stream that ended without its terminal events and without an error. \"single attempt ok\" is one plain")
		p("attempt per request against one account under the same faults.")
		p("")
		w.WriteString(faultmatrix.Table(r.faults))
	}
	if r.peers != nil {
		r.peers.markdown(p)
	}
	if r.shared != nil {
		r.shared.markdown(p, r.s)
	}
	p("")
	return w.String()
}

func (r *report) fixedTable(p func(string, ...any)) {
	p("")
	p("### Fixed rates, zero model latency (%d rounds × %v per system, systems taking turns, each after a %v warm-up; rounds pooled)", r.s.rounds, r.s.cell, r.s.warmup)
	p("")
	p("| op | rate/s | system | ok | err+drop | p50 | p99 | p99.9 | +p50 | +p99 | +p99.9 | CPU/req | vs proxy | sandbox CPU/req | AssumeRole | load avg |")
	p("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, c := range r.fixed {
		l := &c.res.Latency
		d := r.find(r.fixed, "direct", baselineOp(c.op), c.rate)
		px := r.find(r.fixed, "proxy", baselineOp(c.op), c.rate)
		add := [3]string{"", "", ""}
		if d != nil && c.sut != "direct" {
			a := addedByRound(c, d)
			add = [3]string{signedUS(a[0]), signedUS(a[1]), signedUS(a[2])}
		}
		vs := ""
		if px != nil && c.sut != "proxy" && c.sut != "direct" {
			vs = ratio(c.cpuPerReq(), px.cpuPerReq())
		}
		p("| %s | %.0f | %s | %d | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d | %s |", c.op, c.rate, c.sut, c.res.OK, c.res.Errors+c.res.Dropped,
			us(l.Quantile(.5)), us(l.Quantile(.99)), us(l.Quantile(.999)), add[0], add[1], add[2], us(c.cpuPerReq()), vs, us(c.sbCPUPerReq()), c.sts, loadRange(c.load))
	}
}

func (r *report) rest(p func(string, ...any)) {
	if len(r.ladder) > 0 {
		p("")
		p("### Highest InvokeModel rate sustained (steps of %v; sustained = no error, no drop, ≥95%% answered, p99 ≤ 100 ms)", r.s.ladderStep)
		p("")
		p("| system | highest sustained | p50 | p99 | CPU/req there | next step |")
		p("|---|---|---|---|---|---|")
		for _, l := range r.ladder {
			if l.cell == nil {
				p("| %s | below %.0f/s | | | | %s |", l.sut, r.s.ladder[0], l.stopped)
				continue
			}
			p("| %s | %.0f/s | %s | %s | %s | %s |", l.sut, l.rate, us(l.cell.res.Latency.Quantile(.5)), us(l.cell.res.Latency.Quantile(.99)), us(l.cell.cpuPerReq()), l.stopped)
		}
	}
	if len(r.paced) > 0 {
		p("")
		p("### Realistic pace: ConverseStream, 300 ms to first token, 50 tokens/s, 100 tokens, 100 requests/s")
		p("")
		p("| system | ok | err+drop | first byte p50 | p99 | whole stream p50 | p99 | +first byte p50 | +p99 | CPU/req |")
		p("|---|---|---|---|---|---|---|---|---|---|")
		d := r.find(r.paced, "direct", "ConverseStream", 100)
		for _, c := range r.paced {
			add := [2]string{}
			if d != nil && c.sut != "direct" {
				add = [2]string{signedUS(c.res.TTFB.Quantile(.5) - d.res.TTFB.Quantile(.5)), signedUS(c.res.TTFB.Quantile(.99) - d.res.TTFB.Quantile(.99))}
			}
			p("| %s | %d | %d | %s | %s | %s | %s | %s | %s | %s |", c.sut, c.res.OK, c.res.Errors+c.res.Dropped, us(c.res.TTFB.Quantile(.5)), us(c.res.TTFB.Quantile(.99)),
				ms(c.res.Latency.Quantile(.5)), ms(c.res.Latency.Quantile(.99)), add[0], add[1], us(c.cpuPerReq()))
		}
	}
	if len(r.streams) > 0 {
		p("")
		p("### %d concurrent ConverseStreams (500 ms to first token, 40 tokens/s, 200 tokens: ~5.5 s each, all opened within 1 s; fresh processes)", r.s.streams)
		p("")
		p("| system | peak in flight | ok | err | RSS before | peak RSS (VmHWM) | goroutines at peak | heap in use at peak | stacks at peak | CPU/stream |")
		p("|---|---|---|---|---|---|---|---|---|---|")
		for _, c := range r.streams {
			g := "–"
			if c.goPeak > 0 {
				g = fmt.Sprintf("%.0f", c.goPeak)
			}
			heap, stack := "–", "–"
			if c.heapKB > 0 {
				heap, stack = fmt.Sprintf("%.1f MB", c.heapKB/1024), fmt.Sprintf("%.1f MB", c.stackKB/1024)
			}
			p("| %s | %d | %d | %d | %.1f MB | %.1f MB | %s | %s | %s | %s |", c.sut, c.res.PeakInFlight, c.res.OK, c.res.Errors, float64(c.baseKB)/1024, float64(c.hwmKB)/1024, g, heap, stack, us(c.cpuPerReq()))
		}
	}
	if len(r.soak) > 0 {
		p("")
		p("### Soak: a fresh relay, %v at 300/s, InvokeModel and ConverseStream alternating", r.s.soak)
		p("")
		p("| t | goroutines | heap in use | RSS |")
		p("|---|---|---|---|")
		for _, s := range r.soak {
			p("| %v | %.0f | %.1f MB | %.1f MB |", s.at, s.goroutines, s.heapBytes/1e6, float64(s.rssKB)/1024)
		}
		if r.soakRes != nil {
			p("")
			p("Soak: %d answered, %d errors, %d dropped, p50 %s, p99 %s, p99.9 %s. The last row is 2 s after the load ended.", r.soakRes.OK, r.soakRes.Errors, r.soakRes.Dropped,
				us(r.soakRes.Latency.Quantile(.5)), us(r.soakRes.Latency.Quantile(.99)), us(r.soakRes.Latency.Quantile(.999)))
		}
	}
	if len(r.windows) > 0 {
		p("")
		p("### STS")
		p("")
		p("| relay process | AssumeRole calls | requests | per 10,000 requests |")
		p("|---|---|---|---|")
		calls, reqs := 0, 0
		for i, w := range r.windows {
			p("| %d | %d | %d | %.1f |", i+1, w.calls, w.reqs, float64(w.calls)*10000/float64(max(1, w.reqs)))
			calls, reqs = calls+w.calls, reqs+w.reqs
		}
		p("")
		p("Expected: %d targets × credential lifetimes begun. Sessions last 1 h and each process lived minutes, so %d per process.", r.targets, r.targets)
		for _, c := range r.fixed {
			if c.sut == "assume-each" && c.res.OK > 0 {
				p("Per-request AssumeRole, %s at %.0f/s: %d AssumeRole calls for %d requests = %.0f per 10,000.", c.op, c.rate, c.sts, c.res.OK, float64(c.sts)*10000/float64(c.res.OK))
			}
		}
	}
	if r.lambda.note != "" || len(r.lambda.starts) > 0 {
		p("")
		p("### Lambda")
		p("")
		p("%s", r.lambda.markdown())
	}
}

func loadRange(l []float64) string {
	if len(l) == 0 {
		return ""
	}
	lo, hi := l[0], l[0]
	for _, v := range l {
		lo, hi = min(lo, v), max(hi, v)
	}
	if lo == hi {
		return fmt.Sprintf("%.1f", lo)
	}
	return fmt.Sprintf("%.1f–%.1f", lo, hi)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

// summary is the one-line verdict: relay/proxy CPU per request and added p50/p99 at the highest fixed rate;
// then, if the shared phase ran, its own line.
func (r *report) summary() string {
	if r.relayNote != "" {
		return "summary: relay not measured (" + r.relayNote + ")"
	}
	rate := r.s.rates[len(r.s.rates)-1]
	var parts []string
	for _, t := range pathTargets {
		op := t.op
		base := baselineOp(op)
		rl, px, d := r.find(r.fixed, "relay", op, rate), r.find(r.fixed, "proxy", base, rate), r.find(r.fixed, "direct", base, rate)
		if rl == nil || px == nil || d == nil {
			continue
		}
		ra, pa := addedByRound(rl, d), addedByRound(px, d)
		verdict := "met"
		if rl.cpuPerReq() == 0 || px.cpuPerReq() == 0 || float64(rl.cpuPerReq())/float64(px.cpuPerReq()) > t.target {
			verdict = "missed"
		}
		parts = append(parts, fmt.Sprintf("%s: relay/proxy CPU/req %s (target ≤ %.2f×: %s), added p50 %s p99 %s (proxy %s / %s)", op,
			ratio(rl.cpuPerReq(), px.cpuPerReq()), t.target, verdict, signedUS(ra[0]), signedUS(ra[1]), signedUS(pa[0]), signedUS(pa[1])))
	}
	var lines []string
	if len(parts) > 0 {
		lines = append(lines, fmt.Sprintf("summary @%.0f/s: %s", rate, strings.Join(parts, "; ")))
	}
	if r.peers != nil {
		lines = append(lines, r.peers.summary())
	}
	if r.shared != nil {
		lines = append(lines, r.shared.summary())
	}
	if len(lines) == 0 {
		return "summary: no fixed-rate cells measured"
	}
	return strings.Join(lines, "\n")
}
