package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

// The peers phase measures the gateway users would otherwise pick, Portkey's open-source AI gateway (npm
// @portkey-ai/gateway), against the relay on the OpenAI chat path, both in front of the same sandbox.
// Portkey signs Host without the port, so its Bedrock endpoint (a custom host) must be on port 80: with
// -phases peers the bench's sandbox listens on 127.0.0.1:80, which needs root (or CAP_NET_BIND_SERVICE).

// portkeyVersion is the release measured, pinned so that the ratio is reproducible.
const portkeyVersion = "1.15.2"

// peersSandboxAddr is where the sandbox listens for the peers phase.
const peersSandboxAddr = "127.0.0.1:80"

// peersPreflight says why the peers phase cannot run here ("" if it can): npm and node on PATH, and port 80
// on loopback free to listen on.
func peersPreflight() string {
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Sprintf("%s is not on PATH (Portkey is installed from npm and runs under node)", tool)
		}
	}
	ln, err := net.Listen("tcp", peersSandboxAddr)
	if err != nil {
		return fmt.Sprintf("cannot listen on %s (%v): Portkey signs Host without the port, so its upstream must be on port 80; run as root or grant CAP_NET_BIND_SERVICE", peersSandboxAddr, err)
	}
	ln.Close()
	return ""
}

// peersResult is what the phase measured.
type peersResult struct {
	note    string // why it did not run, if it did not
	rates   []float64
	workers int
	rows    []*peerRow
	direct  map[float64]*cell // the direct Converse call at each rate, for the added latency
}

type peerRow struct {
	sut       string
	closedOK  uint64  // answered in the closed-loop runs
	closedErr uint64  // errors in them
	closedRPS float64 // answered per second, closed loop
	closedCPU time.Duration
	firstErr  string
	open      map[float64]*cell
	hwmKB     int64 // peak RSS over the phase (a fresh process)
}

// portkeyDir is where Portkey is installed: the user's cache, one directory per version.
func portkeyDir() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(cache, "bedrock-relay", "bench", "portkey-"+portkeyVersion), nil
}

// installPortkey installs the pinned Portkey release into the cache directory, once, and returns its
// server script.
func (b *bench) installPortkey(ctx context.Context) (string, error) {
	dir, err := portkeyDir()
	if err != nil {
		return "", err
	}
	script := filepath.Join(dir, "node_modules", "@portkey-ai", "gateway", "build", "start-server.js")
	if _, err := os.Stat(script); err == nil {
		return script, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	b.logf("peers: installing @portkey-ai/gateway@%s from npm into %s", portkeyVersion, dir)
	cmd := exec.CommandContext(ctx, "npm", "install", "--prefix", dir, "--no-audit", "--no-fund", "--loglevel=error", "@portkey-ai/gateway@"+portkeyVersion)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("npm install @portkey-ai/gateway@%s: %v\n%s", portkeyVersion, err, out)
	}
	if _, err := os.Stat(script); err != nil {
		return "", fmt.Errorf("npm installed Portkey but %s is not there", script)
	}
	return script, nil
}

// loopbackPreload makes every listen() of a node process without a host bind 127.0.0.1: Portkey's server
// script takes a port but no host, and would otherwise listen on every interface.
const loopbackPreload = `const net = require('net');
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' || (typeof args[0] === 'string' && /^\d+$/.test(args[0]))) {
    if (typeof args[1] !== 'string') args.splice(1, 0, '127.0.0.1');
  } else if (args[0] && typeof args[0] === 'object' && !args[0].host && !args[0].path) {
    args[0] = { ...args[0], host: '127.0.0.1' };
  }
  return listen.apply(this, args);
};
`

// startPortkey runs Portkey under node, bound to 127.0.0.1 only (checked in /proc/net), headless, with
// requests for Bedrock signed with the first target's session and sent to the sandbox on port 80.
func (b *bench) startPortkey(ctx context.Context) (*sut, error) {
	script, err := b.installPortkey(ctx)
	if err != nil {
		return nil, err
	}
	preload := filepath.Join(b.tmp, "loopback.cjs")
	if err := os.WriteFile(preload, []byte(loopbackPreload), 0o644); err != nil {
		return nil, err
	}
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	node, _ := exec.LookPath("node")
	env := []string{"NODE_ENV=production", "PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	ch, err := startChild(ctx, "portkey", "http://"+addr+"/", env, node, "--require", preload, script, "--port="+port, "--headless")
	if err != nil {
		return nil, err
	}
	b.children = append(b.children, ch)
	if err := loopbackOnly(port); err != nil {
		ch.stop()
		return nil, err
	}
	c := b.direct.signer.creds
	h := http.Header{}
	h.Set("X-Portkey-Provider", "bedrock")
	h.Set("X-Portkey-Aws-Access-Key-Id", c.AccessKeyID)
	h.Set("X-Portkey-Aws-Secret-Access-Key", c.SecretAccessKey)
	h.Set("X-Portkey-Aws-Session-Token", c.SessionToken)
	h.Set("X-Portkey-Aws-Region", sandbox.SeedRegion)
	h.Set("X-Portkey-Custom-Host", "http://127.0.0.1") // the sandbox, on port 80
	return &sut{name: "portkey", url: "http://" + addr, pid: ch.pid(), child: ch, header: h}, nil
}

// loopbackOnly checks that every socket listening on port listens on 127.0.0.1 (IPv4 or mapped in IPv6).
func loopbackOnly(port string) error {
	p, err := strconv.Atoi(port)
	if err != nil {
		return err
	}
	hexPort := fmt.Sprintf(":%04X", p)
	found := 0
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(file)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 4 || fields[3] != "0A" || !strings.HasSuffix(fields[1], hexPort) { // 0A: LISTEN
				continue
			}
			found++
			local := strings.TrimSuffix(fields[1], hexPort)
			if local != "0100007F" && local != "0000000000000000FFFF00000100007F" && local != "00000000000000000000000001000000" {
				f.Close()
				return fmt.Errorf("portkey listens on %s in %s, not only on loopback", fields[1], file)
			}
		}
		f.Close()
	}
	if found == 0 {
		return fmt.Errorf("no socket listening on port %s in /proc/net", port)
	}
	return nil
}

// closedLoop runs workers that each send the next request as soon as the last is answered, for d, and
// returns what was answered and the system's CPU over it.
func (b *bench) closedLoop(ctx context.Context, s *sut, o op, workers int, d time.Duration) (ok, errs uint64, elapsed, cpu time.Duration, firstErr string) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var nOK, nErr atomic.Uint64
	var once sync.Once
	cpu0 := s.cpuTime()
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				_, err := b.cl.do(ctx, s, o)
				switch {
				case err == nil:
					nOK.Add(1)
				case ctx.Err() == nil || !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "context deadline exceeded"):
					nErr.Add(1)
					once.Do(func() { firstErr = err.Error() })
				}
			}
		}()
	}
	wg.Wait()
	elapsed = time.Since(start)
	return nOK.Load(), nErr.Load(), elapsed, s.cpuTime() - cpu0, firstErr
}

// measurePeers runs the peers phase: a fresh relay and a fresh Portkey, closed loop (the highest rate each
// answers), then open loop at fixed rates against the direct call, systems taking turns in every round.
func (b *bench) measurePeers(ctx context.Context) *peersResult {
	res := &peersResult{rates: []float64{100, 200, 500}, workers: 32, direct: map[float64]*cell{}}
	if b.s.peersNote != "" {
		res.note = b.s.peersNote
		b.logf("peers: skipped: %s", res.note)
		return res
	}
	if b.relay == nil || !b.openai {
		res.note = "the relay does not serve the OpenAI API here"
		return res
	}
	pk, err := b.startPortkey(ctx)
	if err != nil {
		res.note = "Portkey did not start: " + err.Error()
		b.logf("peers: skipped: %s", res.note)
		return res
	}
	defer pk.child.stop()
	relay, err := b.fresh(ctx, b.relay)
	if err != nil {
		res.note = "a fresh relay did not start: " + err.Error()
		return res
	}
	b.relay = relay
	o := ops(b.s.words)
	systems := []*sut{relay, pk}
	for _, s := range systems {
		resetPeakRSS(s.pid)
		res.rows = append(res.rows, &peerRow{sut: s.name, open: map[float64]*cell{}})
	}
	// Both warmed up alike (Portkey's JIT, the relay's connection pool), then measured.
	for _, s := range systems {
		b.closedLoop(ctx, s, o["OpenAI"], res.workers, time.Second)
	}
	closedFor := 2 * b.s.cell
	for round := 0; round < b.s.rounds; round++ {
		for i, s := range systems {
			ok, errs, el, cpu, fe := b.closedLoop(ctx, s, o["OpenAI"], res.workers, closedFor)
			r := res.rows[i]
			r.closedOK += ok
			r.closedErr += errs
			r.closedRPS += float64(ok) / el.Seconds() / float64(b.s.rounds)
			r.closedCPU += cpu
			if r.firstErr == "" {
				r.firstErr = fe
			}
			b.logf("peers    %-12s closed loop, %d workers: %.0f/s answered, %d errors, cpu/req %v%s", s.name, res.workers,
				float64(ok)/el.Seconds(), errs, cpu/time.Duration(max(ok, 1)), firstErrOf(fe))
		}
	}
	for _, rate := range res.rates {
		for round := 0; round < b.s.rounds; round++ {
			d := b.measure(ctx, "peers", b.direct, o["Converse"], rate, b.s.cell, 4000)
			if round == 0 {
				res.direct[rate] = d
			} else {
				res.direct[rate].merge(d)
			}
			for i, s := range systems {
				c := b.measure(ctx, "peers", s, o["OpenAI"], rate, b.s.cell, 4000)
				if prev := res.rows[i].open[rate]; prev != nil {
					prev.merge(c)
				} else {
					res.rows[i].open[rate] = c
				}
			}
			if ctx.Err() != nil {
				return res
			}
		}
	}
	for i, s := range systems {
		res.rows[i].hwmKB, _ = procStatus(s.pid, "VmHWM")
	}
	return res
}

func firstErrOf(s string) string {
	if s == "" {
		return ""
	}
	return "  first error: " + s
}

// markdown is the phase's section of the report.
func (p *peersResult) markdown(w func(string, ...any)) {
	w("")
	w("### Peers: Portkey's AI gateway (npm @portkey-ai/gateway@%s) against the relay, OpenAI chat → Bedrock Converse", portkeyVersion)
	w("")
	if p.note != "" {
		w("Not measured: %s.", p.note)
		return
	}
	w("Both fresh processes on 127.0.0.1 in front of the same sandbox (on 127.0.0.1:80: Portkey signs `Host` without the")
	w("port), taking turns in every round. Closed loop: %d workers, each sending its next request when the last is", p.workers)
	w("answered. Open loop: as in the fixed-rate table; \"+p50\" is over the direct Converse call in the same round.")
	w("Peak RSS is VmHWM over the phase.")
	w("")
	w("| system | closed loop: answered/s | errors | CPU/req | peak RSS |")
	w("|---|---|---|---|---|")
	for _, r := range p.rows {
		w("| %s | %.0f | %d | %s | %.0f MB |", r.sut, r.closedRPS, r.closedErr, us(r.closedCPU/time.Duration(max(r.closedOK, 1))), float64(r.hwmKB)/1024)
	}
	w("")
	w("| rate/s | system | ok | err+drop | p50 | p99 | +p50 | +p99 | CPU/req |")
	w("|---|---|---|---|---|---|---|---|---|")
	for _, rate := range p.rates {
		d := p.direct[rate]
		for _, r := range p.rows {
			c := r.open[rate]
			if c == nil {
				continue
			}
			add := [3]time.Duration{}
			if d != nil {
				add = addedByRound(c, d)
			}
			l := &c.res.Latency
			w("| %.0f | %s | %d | %d | %s | %s | %s | %s | %s |", rate, r.sut, c.res.OK, c.res.Errors+c.res.Dropped, us(l.Quantile(.5)), us(l.Quantile(.99)),
				signedUS(add[0]), signedUS(add[1]), us(c.cpuPerReq()))
		}
	}
	if len(p.rows) == 2 {
		rl, pk := p.rows[0], p.rows[1]
		w("")
		w("Relay over Portkey: %.1f× the answered requests per second closed loop, %.1f× less CPU per request, %.1f× less peak memory.",
			rl.closedRPS/max(pk.closedRPS, 1e-9), float64(pk.closedCPU/time.Duration(max(pk.closedOK, 1)))/float64(max(rl.closedCPU/time.Duration(max(rl.closedOK, 1)), 1)),
			float64(pk.hwmKB)/float64(max(rl.hwmKB, 1)))
	}
}

// summary is the phase's line for the run's summary.
func (p *peersResult) summary() string {
	if p.note != "" {
		return "peers: not measured (" + p.note + ")"
	}
	if len(p.rows) != 2 {
		return "peers: incomplete"
	}
	rl, pk := p.rows[0], p.rows[1]
	return fmt.Sprintf("peers: relay %.0f/s vs Portkey %.0f/s closed loop (%.1f×), CPU/req %s vs %s, peak RSS %.0f vs %.0f MB",
		rl.closedRPS, pk.closedRPS, rl.closedRPS/max(pk.closedRPS, 1e-9), us(rl.closedCPU/time.Duration(max(rl.closedOK, 1))),
		us(pk.closedCPU/time.Duration(max(pk.closedOK, 1))), float64(rl.hwmKB)/1024, float64(pk.hwmKB)/1024)
}
