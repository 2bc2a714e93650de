//go:build linux

package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/chromedp/chromedp"

	"github.com/bedrock-relay/bedrock-relay/config"
	"github.com/bedrock-relay/bedrock-relay/ratelimit"
	"github.com/bedrock-relay/bedrock-relay/sandbox"
	"github.com/bedrock-relay/bedrock-relay/usage"
)

// The status page as a person sees it: headless Chromium loads the admin page of a relay that has served
// traffic, with a target cooling down after a throttle and a key with budgets that has spent some of them.
//
// Chromium runs in a network namespace of its own that has only loopback: it joins (nsenter) the namespace
// of one locked OS thread of the test, on which the test opens the listener of the admin page. The browser
// reaches that page and nothing else: not the relay, not the sandbox, not any address outside.
func TestStatusPageInBrowser(t *testing.T) {
	chromium := needChromium(t)
	ns := newBrowserNet(t)

	e := newStatusRelayEnv(t)
	ctx := context.Background()
	c := e.client(keyAll)
	const served = 6
	for i := range served {
		if _, err := invoke(ctx, c, sandbox.SeedProfile); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	// A throttle the caller sees: every account throttles one request through all its attempts.
	if err := e.sb.AddFault(sandbox.Fault{Code: "ThrottlingException", Rate: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := invoke(ctx, c, sandbox.SeedProfile); httpStatus(err) != http.StatusTooManyRequests {
		t.Fatalf("with every account throttling: %v, want a 429", err)
	}
	e.sb.ClearFaults()
	// A key asking for a model it may not use: an error with no target.
	if _, err := invoke(ctx, e.client(keyHaiku), sandbox.SeedProfile); err == nil {
		t.Fatal("team-haiku may call sonnet")
	}
	// acct-333 is out for 3 minutes after a throttle (a hard cooldown, as the budget table sets one).
	var fm string
	for _, tg := range e.relay.Router.Targets() {
		if tg.Name == "acct-333" {
			for m := range tg.Models {
				fm = m
			}
		}
	}
	until := e.relay.Router.Limits().Cooldown(ratelimit.Key{Target: "acct-333", Model: fm}, time.Now().Add(3*time.Minute), ratelimit.CauseThrottled)
	// Usage of the key recorded beside the relay's own: $1.20 more today.
	acct := e.relay.Accounting
	mem, ok := acct.Usage.(*usage.Memory)
	if !ok {
		t.Fatalf("the relay's usage store is a %T, want the in-process *usage.Memory", acct.Usage)
	}
	now := time.Now()
	mem.Add(usage.Record{Time: now, Key: "team-all", Group: "platform", Model: fm, Target: "acct-222",
		InputTokens: 30_000, OutputTokens: 2_000, CostUSD: 1.20, Priced: true})
	for _, scope := range []string{"key:team-all", "group:platform"} {
		h, err := acct.Spend.Reserve(scope, now, 1.20, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		acct.Spend.Settle(h, 1.20)
	}
	admin := e.relay.Admin // as mainlib.Build wires it: the handler's board, the usage ledger, the keys' budgets

	// The page's server listens in the namespace; the relay's does not, and cannot be reached from there.
	ln, err := ns.listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: admin, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	pageURL := "http://" + ln.Addr().String() + "/"
	ns.checkIsolated(t, e.srv.Listener.Addr().String())

	tab := newChromium(t, chromium, ns)
	step := func(what string, a chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(tab, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, a); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	step("load the page", chromedp.Navigate(pageURL))
	step("wait for the page", chromedp.WaitReady(chromedp.ID("keys")))
	read := func(what string, expr string) string {
		t.Helper()
		sctx, cancel := context.WithTimeout(tab, 30*time.Second)
		defer cancel()
		s, err := chromedp.Run(sctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return s
	}
	// One snapshot of the page, read at once, so that its reload every 5 seconds cannot come between.
	snapshotJS := `JSON.stringify({
		title: document.title,
		refresh: (document.querySelector('meta[http-equiv="refresh"]') || {}).content,
		scripts: document.scripts.length,
		traffic: document.getElementById('traffic').innerText,
		targets: document.getElementById('targets').innerText,
		acct333: [...document.querySelectorAll('.target')].filter(d => d.querySelector('h3').textContent === 'acct-333').map(d => d.innerText).join(''),
		teamAll: [...document.querySelectorAll('tr.scope')].filter(r => r.querySelector('.scope-name').textContent === 'team-all').map(r => r.innerText).join(''),
		keys: document.getElementById('keys').innerText,
		bars: [...document.querySelectorAll('.fill')].map(f => f.getBoundingClientRect().width),
		body: document.body.innerText,
	})`
	var snap struct {
		Title, Refresh                           string
		Scripts                                  int
		Traffic, Targets, Acct333, TeamAll, Keys string
		Bars                                     []float64
		Body                                     string
	}
	if err := json.Unmarshal([]byte(read("read the page", snapshotJS)), &snap); err != nil {
		t.Fatal(err)
	}
	if snap.Title != "bedrock-relay status" || snap.Refresh != "5" || snap.Scripts != 0 {
		t.Errorf("title %q, refresh %q, %d scripts; want the status page, refreshing every 5 s, with no script", snap.Title, snap.Refresh, snap.Scripts)
	}
	// Nodes sees no script either (and the page did not need one to show all this).
	sctx, cancel := context.WithTimeout(tab, 30*time.Second)
	scripts, err := chromedp.Run(sctx, chromedp.Nodes(chromedp.CSSAll("script"), chromedp.AtLeast(0)))
	cancel()
	if err != nil || len(scripts) != 0 {
		t.Errorf("script elements: %d (%v), want none", len(scripts), err)
	}
	wantIn(t, "the requests section", snap.Traffic, "last 1 min", "last 5 min")
	if !strings.Contains(snap.Traffic, strconv.Itoa(served+2)) {
		t.Errorf("the requests section does not count the %d requests:\n%s", served+2, snap.Traffic)
	}
	// The throttled request's last attempt went to one of the two targets: its last error is the throttle.
	wantIn(t, "the targets", snap.Targets, "acct-222", "acct-333", sandbox.SeedRegion, "session expires in", "last error: ThrottlingException")
	wantIn(t, "acct-333", snap.Acct333, "cooling down", "throttled (ThrottlingException)", " left (until "+until.UTC().Format("2006-01-02 15:04:05 UTC")+")",
		"requests/min")
	for _, left := range []string{"2m5", "2m4", "3m00s"} { // the cooldown's time left, read a few seconds after it was set
		if strings.Contains(snap.Acct333, left) {
			goto leftOK
		}
	}
	t.Errorf("acct-333 shows no time left of about 3 minutes:\n%s", snap.Acct333)
leftOK:
	wantIn(t, "team-all", snap.TeamAll, "team-all", "group platform", "requests/min", "/ 100", "tokens/day", "/ 200,000",
		"USD/day", "/ $5.00", "USD/month", "/ $50.00")
	// Today: the relay's 7 requests of team-all (one throttled) and the one recorded beside them.
	if !strings.Contains(strings.Join(strings.Fields(snap.TeamAll), " "), "platform 8 1 ") {
		t.Errorf("team-all's row %q, want 8 requests today, 1 error", snap.TeamAll)
	}
	wantIn(t, "the keys", snap.Keys, "team-haiku", "team-alias", "Groups", "platform", "USD/month")
	wide := 0
	for _, w := range snap.Bars {
		if w > 0 {
			wide++
		}
	}
	if wide == 0 {
		t.Errorf("no budget bar is drawn (widths %v): the page's style did not apply", snap.Bars)
	}
	for _, secret := range []string{keyAll, keyHaiku, "sha256", prompt, "ASIA", "AKIA"} {
		if strings.Contains(snap.Body, secret) {
			t.Errorf("the page shows %q", secret)
		}
	}

	sctx, cancel = context.WithTimeout(tab, 30*time.Second)
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	cancel()
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	shot := filepath.Join(t.TempDir(), "status.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))
	if dir := os.Getenv("BEDROCK_RELAY_SCREENSHOTS"); dir != "" { // to keep it past the test
		if err := os.WriteFile(filepath.Join(dir, "status.png"), png, 0o644); err != nil {
			t.Error(err)
		}
	}

	// The page reloads itself, with no script: its time moves on without the test navigating.
	first := read("read the time", `document.getElementById('generated').textContent`)
	deadline := time.Now().Add(20 * time.Second)
	for {
		time.Sleep(500 * time.Millisecond)
		sctx, cancel := context.WithTimeout(tab, 5*time.Second)
		got, err := chromedp.Run(sctx, chromedp.Evaluate[string](`(document.getElementById('generated') || {}).textContent || ''`))
		cancel()
		if err == nil && got != "" && got != first {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page still says %q after 20 s: it did not reload itself", first)
		}
	}
}

// newStatusRelayEnv is the test relay over two targets (acct-222 and acct-333, quotas raised so that only
// the test's faults refuse), team-all with budgets in group platform.
func newStatusRelayEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t, func(c *config.Config) {
		c.Targets = c.Targets[:2]
		for i := range c.Targets {
			c.Targets[i].Budgets = config.Budgets{RequestsPerMinute: config.Limit{N: 60}, TokensPerDay: config.Limit{N: 5_000_000}}
		}
		c.Groups = []config.Group{{Name: "platform", Budgets: config.KeyBudgets{USDPerMonth: 100}}}
		c.Auth.Keys[0].Group = "platform"
		c.Auth.Keys[0].Budgets = config.KeyBudgets{RequestsPerMinute: 100, TokensPerDay: 200_000, USDPerDay: 5, USDPerMonth: 50}
	})
	for _, a := range poolAccounts {
		e.sb.SetQuota(a.id, sandbox.SeedProfile, sandbox.Quota{RequestsPerMinute: 100_000, TokensPerMinute: 100_000_000})
	}
	srv := httptest.NewTLSServer(e.relay.Handler)
	t.Cleanup(srv.Close)
	e.srv = srv
	return e
}

// needChromium finds Debian's chromium (.ci/install-chromium installs it): it skips the test when there is
// none, and fails it when CI is set.
func needChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			if _, err := exec.LookPath("nsenter"); err != nil {
				needTool(t, "nsenter (util-linux), to run Chromium in the test's network namespace")
			}
			return p
		}
	}
	needTool(t, "chromium (.ci/install-chromium)")
	return ""
}

func needTool(t *testing.T, what string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed, and CI is set: .ci/install-deps should have installed it", what)
	}
	t.Skipf("%s is not installed; skipping (the test fails instead when CI is set)", what)
}

// newChromium starts headless Chromium in ns through a wrapper that joins the namespace, and returns the
// context of its first tab. chromedp talks to it over a pipe (--remote-debugging-pipe), which needs no
// network at all.
func newChromium(t *testing.T, chromium string, ns *browserNet) context.Context {
	t.Helper()
	dir := t.TempDir()
	wrapper := filepath.Join(dir, "chromium-in-netns")
	script := fmt.Sprintf("#!/bin/sh\n# Chromium in the test's network namespace (loopback only).\nexec nsenter --net=%s -- %s \"$@\"\n",
		shellQuote(ns.path()), shellQuote(chromium))
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(dir, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	var out lockedWriter
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(wrapper),
		chromedp.Flag("headless", "new"),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints"),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
		chromedp.UserDataDir(filepath.Join(dir, "profile")),
		chromedp.WindowSize(1280, 900),
		chromedp.Env("HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"), "XDG_CACHE_HOME="+filepath.Join(home, ".cache")),
		chromedp.CombinedOutput(&out),
	}
	if os.Getuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium's sandbox refuses to run as root
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	tab, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		if t.Failed() {
			t.Logf("chromium's output:\n%s", tail(out.String(), 4000))
		}
	})
	// Start the browser on the tab's own context: a timeout there would end the browser with it.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(tab) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("start chromium: %v\n%s", err, tail(out.String(), 4000))
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("chromium did not start within 60 s\n%s", tail(out.String(), 4000))
	}
	return tab
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

type lockedWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// browserNet is a network namespace with only loopback, up, held by one OS thread locked for it (as
// cmd/bedrock-relay's isolatedNet for Claude Code): a socket opened on that thread is in the namespace, and
// a process joins it through /proc/PID/task/TID/ns/net. The thread, and so the namespace, ends with the test.
type browserNet struct {
	do   chan func()
	done chan struct{}
	tid  int
}

func newBrowserNet(t *testing.T) *browserNet {
	t.Helper()
	ns := &browserNet{do: make(chan func()), done: make(chan struct{})}
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: when this goroutine returns, its thread, still in the namespace, exits with it.
		runtime.LockOSThread()
		defer close(ns.done)
		if err := syscall.Unshare(syscall.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		if err := upLoopback(); err != nil {
			errc <- fmt.Errorf("bring lo up: %w", err)
			return
		}
		ns.tid = syscall.Gettid()
		errc <- nil
		for f := range ns.do {
			f()
		}
	}()
	if err := <-errc; err != nil {
		msg := fmt.Sprintf("cannot make a network namespace for Chromium: %v (unshare(CLONE_NEWNET) needs root or CAP_SYS_ADMIN)", err)
		if os.Getenv("CI") != "" {
			t.Fatal(msg + ", and CI is set")
		}
		t.Skip(msg + "; skipping (the test fails instead when CI is set)")
	}
	t.Cleanup(func() {
		close(ns.do)
		<-ns.done
	})
	return ns
}

// path is the namespace's file, for nsenter --net.
func (ns *browserNet) path() string {
	return fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), ns.tid)
}

func (ns *browserNet) run(f func()) {
	ran := make(chan struct{})
	ns.do <- func() { f(); close(ran) }
	<-ran
}

func (ns *browserNet) listen(addr string) (ln net.Listener, err error) {
	ns.run(func() { ln, err = net.Listen("tcp", addr) })
	return ln, err
}

// checkIsolated checks that the namespace has no interface but loopback, and that hostAddr (a server of the
// test's in the host's namespace) cannot be reached from it.
func (ns *browserNet) checkIsolated(t *testing.T, hostAddr string) {
	t.Helper()
	var ifs []net.Interface
	var ifErr, dialErr error
	ns.run(func() {
		ifs, ifErr = net.Interfaces()
		var c net.Conn
		if c, dialErr = net.DialTimeout("tcp", hostAddr, 2*time.Second); dialErr == nil {
			c.Close()
		}
	})
	if ifErr != nil {
		t.Fatal(ifErr)
	}
	for _, i := range ifs {
		if i.Name != "lo" {
			t.Errorf("the browser's namespace has the interface %s", i.Name)
		}
	}
	if dialErr == nil {
		t.Fatalf("the browser's namespace reaches %s in the host's", hostAddr)
	} else if !errors.Is(dialErr, syscall.ECONNREFUSED) {
		t.Logf("dial %s from the namespace: %v", hostAddr, dialErr)
	}
}

// upLoopback sets IFF_UP on lo, as `ip link set lo up` does, in the calling thread's network namespace.
func upLoopback() error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	var ifr struct {
		name  [syscall.IFNAMSIZ]byte
		flags uint16
		_     [22]byte
	}
	copy(ifr.name[:], "lo")
	ioctl := func(req uintptr) error {
		if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), req, uintptr(unsafe.Pointer(&ifr))); errno != 0 {
			return errno
		}
		return nil
	}
	if err := ioctl(syscall.SIOCGIFFLAGS); err != nil {
		return err
	}
	ifr.flags |= syscall.IFF_UP | syscall.IFF_RUNNING
	return ioctl(syscall.SIOCSIFFLAGS)
}
