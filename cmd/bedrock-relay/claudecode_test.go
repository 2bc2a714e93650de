//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

// claudeCodeBinary is where .ci/install-claude-code puts Claude Code's native CLI (the npm package
// @anthropic-ai/claude-code-linux-x64, pinned by testdata/claude-code/package-lock.json).
const claudeCodeBinary = "testdata/claude-code/node_modules/@anthropic-ai/claude-code-linux-x64/claude"

// claudeCodePrompt is what Claude Code is asked, unless a mode says otherwise.
const claudeCodePrompt = "Say hello in one line"

// claudeCodeWorkFile is the one file in Claude Code's working directory.
const claudeCodeWorkFile = "hello.txt"

// claudeCodeTimeout bounds one run of Claude Code: a handful of model calls to the sandbox take seconds.
const claudeCodeTimeout = 90 * time.Second

// maxClaudeCodeModelCalls is "a handful": the answer, and the small side calls Claude Code may make (a title,
// a quota probe). A sandbox model that called a tool on every turn made 106 calls in 90 s and never finished.
const maxClaudeCodeModelCalls = 6

// maxClaudeCodeProbes bounds Claude Code's probe of a Bedrock account's models (claudeCodeMode.probe): the
// eight models of its Opus list in 2.1.333, then the Sonnet it settles on, with room for a few more.
const maxClaudeCodeProbes = 12

// Claude Code's own default models (Opus 5.5 in 2.1.333) are newer than the sandbox's catalogue; these are
// the two that serve --sandbox serves, named as Claude Code names them in each mode (the relay takes any
// geography's profile id of a served model, and the Anthropic API's model names).
const (
	sonnetBedrock, haikuBedrock       = "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "us.anthropic.claude-haiku-4-5-20251001-v1:0"
	sonnetFirstParty, haikuFirstParty = "claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001"
)

// claudeCodeMode is one way of pointing Claude Code at the relay.
type claudeCodeMode struct {
	name string
	env  []string
	args []string // after -p PROMPT --output-format json
	// prompt is claude -p's; "" is claudeCodePrompt.
	prompt string
	// model is the served model's name, which the sandbox's answer gives; "" expects Claude Code to fail.
	model string
	// turns is the result's num_turns (0: 1), and answer a part of the result beyond the model's name.
	turns  int
	answer string
	// modelCall tells Claude Code's model calls from its other requests.
	modelCall func(proxiedRequest) bool
	// probe tells the calls with which Claude Code, holding Bedrock credentials of its own (a bearer token),
	// probes once which models of a family the account may call: InvokeModel, one per model down its Opus
	// list and one for the family it then settles on, before the conversation streams.
	probe func(proxiedRequest) bool
	// listsModels: in this mode Claude Code starts by listing the Bedrock inference profiles.
	listsModels bool
	// refusals is how many model calls may be refused (400) before one succeeds: with its default Opus 5.5,
	// Claude Code first sends a mid-conversation message of role "system", which the sandbox (as Bedrock for
	// the models it documents) refuses, and then retries without it.
	refusals int
}

// bedrockMode is Claude Code's Bedrock mode against the relay at endpoint, with auth the variables that
// authenticate it (CLAUDE_CODE_SKIP_BEDROCK_AUTH=1 under auth: none, AWS_BEARER_TOKEN_BEDROCK=<relay key>).
func bedrockMode(name, endpoint string, auth ...string) claudeCodeMode {
	env := append([]string{"CLAUDE_CODE_USE_BEDROCK=1", "ANTHROPIC_BEDROCK_BASE_URL=" + endpoint, "AWS_REGION=" + sandbox.SeedRegion,
		"ANTHROPIC_MODEL=" + sonnetBedrock, "ANTHROPIC_DEFAULT_OPUS_MODEL=" + sonnetBedrock, "ANTHROPIC_DEFAULT_SONNET_MODEL=" + sonnetBedrock,
		"ANTHROPIC_DEFAULT_HAIKU_MODEL=" + haikuBedrock, "ANTHROPIC_SMALL_FAST_MODEL=" + haikuBedrock}, auth...)
	return claudeCodeMode{name: name, env: env, model: "Claude Sonnet 4.5", listsModels: true,
		modelCall: func(r proxiedRequest) bool {
			return r.Method == "POST" && strings.HasPrefix(r.Path, "/model/") && strings.HasSuffix(r.Path, "/invoke-with-response-stream")
		},
		probe: func(r proxiedRequest) bool {
			return r.Method == "POST" && strings.HasPrefix(r.Path, "/model/") && strings.HasSuffix(r.Path, "/invoke")
		},
	}
}

// anthropicMode is Claude Code's Anthropic API mode against the relay at endpoint (its POST /v1/messages),
// with auth ANTHROPIC_API_KEY or ANTHROPIC_AUTH_TOKEN.
func anthropicMode(name, endpoint string, auth ...string) claudeCodeMode {
	env := append([]string{"ANTHROPIC_BASE_URL=" + endpoint,
		"ANTHROPIC_MODEL=" + sonnetFirstParty, "ANTHROPIC_DEFAULT_OPUS_MODEL=" + sonnetFirstParty, "ANTHROPIC_DEFAULT_SONNET_MODEL=" + sonnetFirstParty,
		"ANTHROPIC_DEFAULT_HAIKU_MODEL=" + haikuFirstParty, "ANTHROPIC_SMALL_FAST_MODEL=" + haikuFirstParty}, auth...)
	return claudeCodeMode{name: name, env: env, model: "Claude Sonnet 4.5", modelCall: func(r proxiedRequest) bool {
		return r.Method == "POST" && r.Path == "/v1/messages"
	}}
}

// toolRoundTrip is mode with a prompt that asks the sandbox's model for Claude Code's Bash tool (allowed with
// --allowedTools): Claude Code runs `ls` in its empty working directory but for one file, sends the result,
// and the model answers it in text.
func toolRoundTrip(m claudeCodeMode) claudeCodeMode {
	m.name += " tool round trip"
	m.args = []string{"--allowedTools", "Bash"}
	m.prompt = "Use Bash to run ls"
	m.turns = 2
	m.answer = "The tool returned: \u201c" + claudeCodeWorkFile + "\u201d"
	return m
}

// defaults is mode with no model named: Claude Code picks its own (2.1.333: Opus 5.5 as the main model), which
// serve --sandbox serves, so nothing but the endpoint and the credentials is configured.
func defaults(m claudeCodeMode) claudeCodeMode {
	m.name += " default models"
	var env []string
	for _, kv := range m.env {
		if !strings.HasPrefix(kv, "ANTHROPIC_MODEL=") && !strings.HasPrefix(kv, "ANTHROPIC_DEFAULT_") && !strings.HasPrefix(kv, "ANTHROPIC_SMALL_FAST_MODEL=") {
			env = append(env, kv)
		}
	}
	m.env = env
	m.model = "Claude Opus 5.5"
	m.refusals = 1
	return m
}

// smallFast is mode with Claude Code's small, fast model (Haiku 4.5) as its main one.
func smallFast(m claudeCodeMode) claudeCodeMode {
	m.name += " small fast model"
	m.args = []string{"--model", "haiku"}
	m.model = "Claude Haiku 4.5"
	return m
}

// TestClaudeCode runs Claude Code, unmodified, through serve --sandbox: `claude -p` in its Bedrock mode
// (CLAUDE_CODE_USE_BEDROCK, ANTHROPIC_BEDROCK_BASE_URL) and in its Anthropic API mode (ANTHROPIC_BASE_URL, the
// relay's POST /v1/messages), each with its main and its small, fast model. Claude Code runs in a network
// namespace of its own where only loopback exists, so that nothing it tries beyond the relay can leave the
// machine, and whatever it tries fails at once.
func TestClaudeCode(t *testing.T) {
	claude, ns := needClaudeCode(t)
	endpoint, _, relayLog, _ := startServe(t, []string{"serve", "--sandbox", "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"}, noEnv)
	rec, err := ns.proxy(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	// auth: none takes any key.
	bedrock := bedrockMode("bedrock", endpoint, "CLAUDE_CODE_SKIP_BEDROCK_AUTH=1")
	anthropic := anthropicMode("anthropic", endpoint, "ANTHROPIC_API_KEY=brk-any-key-under-auth-none")
	for _, mode := range []claudeCodeMode{bedrock, defaults(bedrock), smallFast(bedrock), toolRoundTrip(bedrock),
		anthropic, defaults(anthropic), smallFast(anthropic), toolRoundTrip(anthropic)} {
		t.Run(mode.name, func(t *testing.T) { runClaudeCodeMode(t, ns, claude, rec, relayLog, mode) })
	}
}

// TestClaudeCodeWithRelayKeys: under auth: keys, Claude Code authenticates with a relay key in each mode's own
// variable (AWS_BEARER_TOKEN_BEDROCK, ANTHROPIC_API_KEY, ANTHROPIC_AUTH_TOKEN), and a wrong key ends it with
// an error rather than a loop.
func TestClaudeCodeWithRelayKeys(t *testing.T) {
	claude, ns := needClaudeCode(t)
	sb, err := sandbox.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	sbSrv := httptest.NewServer(sb)
	t.Cleanup(sbSrv.Close)
	// The relay's source credentials come from the default chain, which reads the process environment.
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": sb.CallerCredentials().AccessKeyID,
		"AWS_SECRET_ACCESS_KEY": sb.CallerCredentials().SecretAccessKey, "AWS_SESSION_TOKEN": sb.CallerCredentials().SessionToken,
		"AWS_CONFIG_FILE": filepath.Join(t.TempDir(), "none"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(t.TempDir(), "none"),
		"AWS_PROFILE": "", "AWS_BEARER_TOKEN_BEDROCK": ""} {
		t.Setenv(k, v)
	}
	const key = "brk-claude-code-test-key-0123456789"
	endpoint, _, relayLog, _ := startServe(t, []string{"serve", "--config", writeConfig(t, sbSrv.URL, key)}, callerEnv(sb))
	rec, err := ns.proxy(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	// Claude Code retries a 401 with a growing backoff, past the timeout by default: one retry shows the same.
	wrong := anthropicMode("anthropic wrong key", endpoint, "ANTHROPIC_API_KEY=brk-not-a-key-of-this-relay", "CLAUDE_CODE_MAX_RETRIES=1")
	wrong.model = ""
	for _, mode := range []claudeCodeMode{
		bedrockMode("bedrock bearer token", endpoint, "AWS_BEARER_TOKEN_BEDROCK="+key),
		anthropicMode("anthropic api key", endpoint, "ANTHROPIC_API_KEY="+key),
		anthropicMode("anthropic auth token", endpoint, "ANTHROPIC_AUTH_TOKEN="+key),
		wrong,
	} {
		t.Run(mode.name, func(t *testing.T) { runClaudeCodeMode(t, ns, claude, rec, relayLog, mode) })
	}
}

// needClaudeCode finds the installed Claude Code and makes the network namespace it runs in; it skips the test
// when either cannot be had (and fails it when CI is set).
func needClaudeCode(t *testing.T) (claude string, ns *isolatedNet) {
	t.Helper()
	if runtime.GOARCH != "amd64" {
		t.Skip("the pinned Claude Code package is its linux-x64 build")
	}
	claude, err := filepath.Abs(claudeCodeBinary)
	if err != nil {
		t.Fatal(err)
	}
	_, err = os.Stat(claude)
	needJSTool(t, err == nil, "Claude Code ("+claudeCodeBinary+", .ci/install-claude-code)")
	if ns, err = newIsolatedNet(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("cannot make a network namespace for Claude Code, and CI is set: %v (unshare(CLONE_NEWNET) needs root or CAP_SYS_ADMIN)", err)
		}
		t.Skipf("cannot make a network namespace for Claude Code: %v (unshare(CLONE_NEWNET) needs root or CAP_SYS_ADMIN); skipping (the test fails instead when CI is set)", err)
	}
	t.Cleanup(ns.close)
	return claude, ns
}

// runClaudeCodeMode runs `claude -p` in mode and checks its result, its model calls and its model list. The
// relay is reached through rec, the recording proxy in ns.
func runClaudeCodeMode(t *testing.T, ns *isolatedNet, claude string, rec *requestLog, relayLog *lockedBuffer, mode claudeCodeMode) {
	rec.reset()
	prompt, turns := mode.prompt, mode.turns
	if prompt == "" {
		prompt = claudeCodePrompt
	}
	if turns == 0 {
		turns = 1
	}
	res, stdout, stderr, err := runClaudeCode(t, ns, claude, mode.env, append([]string{"-p", prompt, "--output-format", "json"}, mode.args...))
	reqs := rec.requests()
	report := func() string {
		lines := make([]string, len(reqs))
		for i, r := range reqs {
			lines[i] = r.String()
		}
		return fmt.Sprintf("claude stdout:\n%s\nclaude stderr:\n%s\nrequests to the relay:\n%s\nrelay log (last 4 KiB):\n%s",
			stdout, stderr, strings.Join(lines, "\n"), tail(relayLog.String(), 4096))
	}
	calls, probes, listed, refused := 0, 0, false, 0
	for _, r := range reqs {
		if mode.probe != nil && mode.probe(r) {
			probes++
		}
		if mode.modelCall(r) {
			calls++
			if mode.model != "" && r.Status != http.StatusOK {
				if r.Status == http.StatusBadRequest && refused < mode.refusals {
					refused++
				} else {
					t.Errorf("model call %s: want 200\n%s", r, report())
				}
			}
		}
		if r.Method == "GET" && strings.HasPrefix(r.Path, "/inference-profiles") && r.Status == http.StatusOK {
			listed = true
		}
	}
	if calls == 0 || calls > maxClaudeCodeModelCalls {
		t.Errorf("model calls: got %d, want 1 to %d\n%s", calls, maxClaudeCodeModelCalls, report())
	}
	if probes > maxClaudeCodeProbes {
		t.Errorf("model probes: got %d, want at most %d\n%s", probes, maxClaudeCodeProbes, report())
	}
	if mode.model == "" { // a refused key: an error result, exit 1, no answer
		var ee *exec.ExitError
		if !errors.As(err, &ee) || !res.IsError || res.Subtype == "" {
			t.Errorf("got %v, is_error %v: want claude to exit 1 with an error result\n%s", err, res.IsError, report())
		}
		for _, r := range reqs {
			if mode.modelCall(r) && r.Status != http.StatusUnauthorized && r.Status != http.StatusForbidden {
				t.Errorf("model call %s with a wrong key: want 401 or 403", r)
			}
		}
		t.Logf("%d model calls of %d requests %v; result %q", calls, len(reqs), reqs, res.Result)
		return
	}
	if err != nil {
		t.Fatalf("claude -p: %v\n%s", err, report())
	}
	if res.Type != "result" || res.Subtype != "success" || res.IsError || res.NumTurns != turns ||
		!strings.Contains(res.Result, "[bedrock sandbox: "+mode.model) || !strings.Contains(res.Result, mode.answer) {
		t.Errorf("result: got type %q subtype %q is_error %v num_turns %d result %q, want a success in %d turns, answered by the sandbox's %s (%q)\n%s",
			res.Type, res.Subtype, res.IsError, res.NumTurns, res.Result, turns, mode.model, mode.answer, report())
	}
	if mode.listsModels && !listed {
		t.Errorf("Claude Code's GET /inference-profiles (its model list) was not answered with 200\n%s", report())
	}
	t.Logf("%d model calls and %d probes of %d requests %v; result %q", calls, probes, len(reqs), reqs, res.Result)
}

// claudeCodeResult is the part of `claude -p --output-format json` the test reads.
type claudeCodeResult struct {
	Type     string `json:"type"`
	Subtype  string `json:"subtype"`
	IsError  bool   `json:"is_error"`
	NumTurns int    `json:"num_turns"`
	Result   string `json:"result"`
}

// runClaudeCode runs claude with args in ns with an environment of its own: a fresh HOME, no telemetry, updates
// or other traffic than the model's, and nothing of the test's environment but PATH.
func runClaudeCode(t *testing.T, ns *isolatedNet, claude string, modeEnv, args []string) (res claudeCodeResult, stdout, stderr string, err error) {
	home := t.TempDir()
	work := filepath.Join(home, "work") // not the repository: no CLAUDE.md, no git history to read
	if err := os.Mkdir(work, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, claudeCodeWorkFile), []byte("hello\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), claudeCodeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, claude, args...)
	cmd.Dir = work
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home, "TMPDIR=" + home, "LANG=C.UTF-8", "TERM=dumb",
		"DISABLE_TELEMETRY=1", "DISABLE_AUTOUPDATER=1", "DISABLE_ERROR_REPORTING=1", "DISABLE_BUG_COMMAND=1",
		"DISABLE_UPDATES=1", "DISABLE_INSTALLATION_CHECKS=1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
		"CLAUDE_CODE_DISABLE_FEEDBACK_SURVEY=1", "CLAUDE_CODE_DISABLE_TERMINAL_TITLE=1",
		// No other credentials than the mode's, and no AWS config of this machine.
		"AWS_CONFIG_FILE=" + filepath.Join(home, "none"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "none"),
		"AWS_EC2_METADATA_DISABLED=true",
	}, modeEnv...)
	cmd.WaitDelay = 5 * time.Second
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := ns.start(cmd); err != nil {
		return res, "", "", err
	}
	err = cmd.Wait()
	stdout, stderr = out.String(), errOut.String()
	if ctx.Err() != nil {
		return res, stdout, stderr, fmt.Errorf("no answer within %s: %w", claudeCodeTimeout, err)
	}
	// On an error too, claude -p prints its result (is_error true) before it exits 1.
	jerr := json.Unmarshal(bytes.TrimSpace(out.Bytes()), &res)
	if err != nil {
		return res, stdout, stderr, err
	}
	if jerr != nil {
		return res, stdout, stderr, fmt.Errorf("stdout is not the JSON result: %w", jerr)
	}
	return res, stdout, stderr, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// isolatedNet is a network namespace with only loopback, up. It belongs to one OS thread, kept for it: a
// socket opened and a process started on that thread are in the namespace, and the rest of the test process
// is not, so a proxy listening there reaches the relay outside. The thread ends with the namespace.
type isolatedNet struct {
	do   chan func()
	done chan struct{}
	srv  *http.Server
}

func newIsolatedNet() (*isolatedNet, error) {
	ns := &isolatedNet{do: make(chan func()), done: make(chan struct{})}
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: when this goroutine returns, its thread, still in the namespace, exits with it.
		runtime.LockOSThread()
		defer close(ns.done)
		if err := syscall.Unshare(syscall.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		if err := loopbackUp(); err != nil {
			errc <- fmt.Errorf("bring lo up: %w", err)
			return
		}
		errc <- nil
		for f := range ns.do {
			f()
		}
	}()
	if err := <-errc; err != nil {
		return nil, err
	}
	return ns, nil
}

// run runs f on the namespace's thread.
func (ns *isolatedNet) run(f func()) {
	ran := make(chan struct{})
	ns.do <- func() { f(); close(ran) }
	<-ran
}

// start starts cmd in the namespace: the child inherits the network namespace of the thread that forks it.
func (ns *isolatedNet) start(cmd *exec.Cmd) (err error) {
	ns.run(func() { err = cmd.Start() })
	return err
}

// proxy listens in the namespace on the host:port of target (a loopback URL outside) and forwards every
// request there, recording its method, path and status. Streams are passed on as they come.
func (ns *isolatedNet) proxy(target string) (*requestLog, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	var ln net.Listener
	ns.run(func() { ln, err = net.Listen("tcp", u.Host) })
	if err != nil {
		return nil, fmt.Errorf("listen in the namespace on %s: %w", u.Host, err)
	}
	rec := &requestLog{}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.FlushInterval = -1
	ns.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		rp.ServeHTTP(sw, r)
		rec.add(proxiedRequest{Method: r.Method, Path: r.URL.Path, Status: sw.status})
	})}
	go ns.srv.Serve(ln)
	return rec, nil
}

func (ns *isolatedNet) close() {
	if ns.srv != nil {
		ns.srv.Close()
	}
	close(ns.do)
	<-ns.done
}

// loopbackUp sets IFF_UP on lo, as `ip link set lo up` does, in the calling thread's network namespace.
func loopbackUp() error {
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

// proxiedRequest is one request the proxy passed on, and the status of its answer.
type proxiedRequest struct {
	Method, Path string
	Status       int
}

func (r proxiedRequest) String() string { return fmt.Sprintf("%s %s %d", r.Method, r.Path, r.Status) }

// requestLog is what the proxy saw.
type requestLog struct {
	mu   sync.Mutex
	reqs []proxiedRequest
}

func (l *requestLog) add(r proxiedRequest) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reqs = append(l.reqs, r)
}

func (l *requestLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reqs = nil
}

func (l *requestLog) requests() []proxiedRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]proxiedRequest(nil), l.reqs...)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// Flush passes the relay's stream on as it comes (httputil.ReverseProxy flushes through this).
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
