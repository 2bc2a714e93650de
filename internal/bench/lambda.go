package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

// lambdaResult is the Lambda binary's start-to-ready time and warm invocation overhead.
type lambdaResult struct {
	starts   []time.Duration // exec → first GET /runtime/invocation/next, one per fresh process
	lambda   []time.Duration // warm invocations: event handed out → response posted
	direct   []time.Duration // the same InvokeModel sent straight to the sandbox
	errors   int
	firstErr string
	note     string
	// Under the Runtime Interface Emulator, as a caller sees it: POST .../invocations → answer.
	rieCold   time.Duration // the first invocation: the emulator starts the bootstrap, init, then the call
	rieWarm   []time.Duration
	rieDirect []time.Duration
	rieNote   string
}

func pct(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func (l lambdaResult) markdown() string {
	if len(l.starts) == 0 {
		return l.note
	}
	var w strings.Builder
	fmt.Fprintf(&w, "The bootstrap (`cmd/bedrock-relay-lambda`, built with `go build`) under a Runtime API fake in the bench process\n")
	fmt.Fprintf(&w, "(the protocol aws-lambda-go speaks, on loopback; it timestamps the runtime's own requests, which RIE does not expose).\n\n")
	fmt.Fprintf(&w, "| measure | p50 | p90 | max | n |\n|---|---|---|---|---|\n")
	fmt.Fprintf(&w, "| process start → ready (first `/invocation/next`), includes GetCallerIdentity + AssumeRole to the sandbox | %s | %s | %s | %d |\n",
		ms(pct(l.starts, .5)), ms(pct(l.starts, .9)), ms(pct(l.starts, 1)), len(l.starts))
	fmt.Fprintf(&w, "| warm invocation: event out → response in | %s | %s | %s | %d |\n", us(pct(l.lambda, .5)), us(pct(l.lambda, .9)), us(pct(l.lambda, 1)), len(l.lambda))
	fmt.Fprintf(&w, "| the same InvokeModel, direct to the sandbox | %s | %s | %s | %d |\n", us(pct(l.direct, .5)), us(pct(l.direct, .9)), us(pct(l.direct, 1)), len(l.direct))
	fmt.Fprintf(&w, "| **overhead** (warm − direct) | %s | %s | | |\n", signedUS(pct(l.lambda, .5)-pct(l.direct, .5)), signedUS(pct(l.lambda, .9)-pct(l.direct, .9)))
	if len(l.rieWarm) > 0 {
		fmt.Fprintf(&w, "| under aws-lambda-rie: first invocation (starts the bootstrap, init, call) | %s | | | 1 |\n", ms(l.rieCold))
		fmt.Fprintf(&w, "| under aws-lambda-rie: warm invocation, caller's view | %s | %s | %s | %d |\n", us(pct(l.rieWarm, .5)), us(pct(l.rieWarm, .9)), us(pct(l.rieWarm, 1)), len(l.rieWarm))
		fmt.Fprintf(&w, "| the same InvokeModel, direct, alternating with those | %s | %s | %s | %d |\n", us(pct(l.rieDirect, .5)), us(pct(l.rieDirect, .9)), us(pct(l.rieDirect, 1)), len(l.rieDirect))
		fmt.Fprintf(&w, "| **overhead under RIE** (warm − direct; includes the emulator's own hop) | %s | %s | | |\n", signedUS(pct(l.rieWarm, .5)-pct(l.rieDirect, .5)), signedUS(pct(l.rieWarm, .9)-pct(l.rieDirect, .9)))
	}
	if l.rieNote != "" {
		fmt.Fprintf(&w, "\n%s\n", l.rieNote)
	}
	if l.errors > 0 {
		fmt.Fprintf(&w, "\n%d invocations failed; the first: %s\n", l.errors, l.firstErr)
	}
	if l.note != "" {
		fmt.Fprintf(&w, "\n%s\n", l.note)
	}
	return w.String()
}

// runtimeAPI is a fake of the Lambda Runtime API: it hands out queued events on /next and records when the
// runtime asked and answered.
type runtimeAPI struct {
	events   chan []byte
	mu       sync.Mutex
	firstAsk time.Time
	handed   map[string]time.Time
	answers  chan answer
	seq      int
}

type answer struct {
	id       string
	took     time.Duration
	body     []byte
	errorish bool
}

func newRuntimeAPI() *runtimeAPI {
	return &runtimeAPI{events: make(chan []byte), handed: map[string]time.Time{}, answers: make(chan answer, 16)}
}

func (a *runtimeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const prefix = "/2018-06-01/runtime/"
	p := strings.TrimPrefix(r.URL.Path, prefix)
	switch {
	case r.Method == http.MethodGet && p == "invocation/next":
		a.mu.Lock()
		if a.firstAsk.IsZero() {
			a.firstAsk = time.Now()
		}
		a.mu.Unlock()
		var ev []byte
		select {
		case ev = <-a.events:
		case <-r.Context().Done():
			return
		}
		a.mu.Lock()
		a.seq++
		id := "bench-" + strconv.Itoa(a.seq)
		a.mu.Unlock()
		h := w.Header()
		h.Set("Lambda-Runtime-Aws-Request-Id", id)
		h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(time.Minute).UnixMilli(), 10))
		h.Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:"+sandbox.SeedRegion+":"+sandbox.CallerAccount+":function:bedrock-relay")
		h.Set("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
		h.Set("Content-Type", "application/json")
		a.mu.Lock()
		a.handed[id] = time.Now()
		a.mu.Unlock()
		w.Write(ev)
	case r.Method == http.MethodPost && strings.HasPrefix(p, "invocation/"):
		rest := strings.TrimPrefix(p, "invocation/")
		id, kind, _ := strings.Cut(rest, "/")
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		now := time.Now()
		a.mu.Lock()
		t0 := a.handed[id]
		delete(a.handed, id)
		a.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		a.answers <- answer{id: id, took: now.Sub(t0), body: body, errorish: kind != "response"}
	case r.Method == http.MethodPost && p == "init/error":
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		w.WriteHeader(http.StatusAccepted)
		a.answers <- answer{id: "init", body: body, errorish: true}
	default:
		http.NotFound(w, r)
	}
}

// measureLambda measures the Lambda bootstrap, when this tree has one: start-to-ready over fresh processes,
// and warm invocations against direct calls of the same request.
func (b *bench) measureLambda(ctx context.Context) lambdaResult {
	var res lambdaResult
	pkg := b.s.lambdaPkg
	if _, err := os.Stat(filepath.Join(b.root, pkg, "main.go")); err != nil {
		res.note = "Not measured: " + pkg + " has no main.go in this tree yet."
		return res
	}
	bin, err := buildBinary(ctx, b.root, pkg, b.tmp, "bootstrap")
	if err != nil {
		res.note = "Not measured: " + err.Error()
		return res
	}
	starts, warm := 7, 300
	if b.s.quick {
		starts, warm = 3, 50
	}
	prompt := fmt.Sprintf("Say hello to the benchmark. words:%d", b.s.words)
	event := []byte(`{"prompt":"` + prompt + `"}`)
	env := append(credEnv(b.caller, b.sbc.url, sandbox.SeedRegion),
		"TARGET_ROLE_ARN="+sandbox.TargetRoleARN(benchAccounts[0]), "BEDROCK_REGION="+sandbox.SeedRegion, "MODEL_ID="+benchModel,
		"AWS_LAMBDA_FUNCTION_NAME=bedrock-relay", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256", "AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_LOG_FORMAT=JSON", "AWS_LAMBDA_LOG_LEVEL=WARN")
	for i := 0; i < starts; i++ {
		api := newRuntimeAPI()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			res.note = err.Error()
			return res
		}
		srv := &http.Server{Handler: api}
		go srv.Serve(ln)
		cmd := exec.Command(bin)
		cmd.Env = append(append(os.Environ(), env...), "AWS_LAMBDA_RUNTIME_API="+ln.Addr().String())
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
		t0 := time.Now()
		if err := cmd.Start(); err != nil {
			srv.Close()
			res.note = "Not measured: start the bootstrap: " + err.Error()
			return res
		}
		ready := false
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Microsecond) {
			api.mu.Lock()
			at := api.firstAsk
			api.mu.Unlock()
			if !at.IsZero() {
				res.starts = append(res.starts, at.Sub(t0))
				ready = true
				break
			}
		}
		if ready && i == starts-1 {
			res.lambda, res.direct = b.warmInvocations(ctx, api, event, warm, &res)
		}
		cmd.Process.Kill()
		cmd.Wait()
		srv.Close()
		if !ready {
			res.note = "The bootstrap never asked for an event within 10 s."
			return res
		}
	}
	b.logf("lambda   start→ready p50 %v; warm p50 %v vs direct p50 %v (%d errors)", pct(res.starts, .5), pct(res.lambda, .5), pct(res.direct, .5), res.errors)
	b.underRIE(ctx, bin, env, event, warm, &res)
	return res
}

// underRIE runs the bootstrap under aws-lambda-rie (.ci/install-rie), when it is installed, and invokes it as
// a caller would.
func (b *bench) underRIE(ctx context.Context, bin string, env []string, event []byte, n int, res *lambdaResult) {
	rie, err := exec.LookPath("aws-lambda-rie")
	if err != nil {
		gopath, _ := exec.Command("go", "env", "GOPATH").Output()
		rie = filepath.Join(strings.TrimSpace(string(gopath)), "bin", "aws-lambda-rie")
		if _, err := os.Stat(rie); err != nil {
			res.rieNote = "aws-lambda-rie is not installed (bash .ci/install-rie): not measured under the emulator."
			return
		}
	}
	addr, err := freePort()
	if err != nil {
		res.rieNote = err.Error()
		return
	}
	api, err := freePort()
	if err != nil {
		res.rieNote = err.Error()
		return
	}
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", addr, "--runtime-api-address", api, bin)
	cmd.Env = append(append(os.Environ(), env...), "AWS_LAMBDA_FUNCTION_TIMEOUT=30")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		res.rieNote = "aws-lambda-rie: " + err.Error()
		return
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			res.rieNote = "aws-lambda-rie did not listen within 10 s"
			return
		}
	}
	url := "http://" + addr + "/2015-03-31/functions/function/invocations"
	hc := &http.Client{Timeout: 30 * time.Second}
	invoke := func() (time.Duration, error) {
		t0 := time.Now()
		resp, err := hc.Post(url, "application/json", strings.NewReader(string(event)))
		if err != nil {
			return 0, err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), `"statusCode":200`) {
			return 0, fmt.Errorf("HTTP %d: %s", resp.StatusCode, truncate(body, 300))
		}
		return time.Since(t0), nil
	}
	if res.rieCold, err = invoke(); err != nil {
		res.rieNote = "under aws-lambda-rie the first invocation failed: " + err.Error()
		return
	}
	o := ops(b.s.words)["InvokeModel"]
	o.body = []byte(`{"anthropic_version":"bedrock-2023-05-31","max_tokens":1000,"messages":[{"role":"user","content":[{"type":"text","text":"Say hello to the benchmark. words:` + strconv.Itoa(b.s.words) + `"}]}]}`)
	for i := 0; i < n+5 && ctx.Err() == nil; i++ {
		d, err := invoke()
		if err != nil {
			res.rieNote = "under aws-lambda-rie an invocation failed: " + err.Error()
			return
		}
		t0 := time.Now()
		_, derr := b.cl.do(ctx, b.direct, o)
		dd := time.Since(t0)
		if i < 5 {
			continue
		}
		res.rieWarm = append(res.rieWarm, d)
		if derr == nil {
			res.rieDirect = append(res.rieDirect, dd)
		}
	}
	b.logf("lambda   under RIE: first invocation %v; warm p50 %v vs direct p50 %v", res.rieCold, pct(res.rieWarm, .5), pct(res.rieDirect, .5))
}

// warmInvocations sends n events one after the other, alternating with the same InvokeModel sent directly
// to the sandbox, so both see the same machine.
func (b *bench) warmInvocations(ctx context.Context, api *runtimeAPI, event []byte, n int, res *lambdaResult) (lam, dir []time.Duration) {
	o := ops(b.s.words)["InvokeModel"]
	// The function sends max_tokens 1000 (its default) and the prompt as one user message.
	o.body = []byte(`{"anthropic_version":"bedrock-2023-05-31","max_tokens":1000,"messages":[{"role":"user","content":[{"type":"text","text":"Say hello to the benchmark. words:` + strconv.Itoa(b.s.words) + `"}]}]}`)
	for i := 0; i < n+5 && ctx.Err() == nil; i++ {
		select {
		case api.events <- event:
		case <-time.After(10 * time.Second):
			res.errors++
			res.firstErr = "the runtime stopped asking for events"
			return
		}
		var a answer
		select {
		case a = <-api.answers:
		case <-time.After(30 * time.Second):
			res.errors++
			res.firstErr = "no answer within 30 s"
			return
		}
		bad := a.errorish || !strings.Contains(string(a.body), `"statusCode":200`)
		if bad {
			res.errors++
			if res.firstErr == "" {
				res.firstErr = string(truncate(a.body, 300))
			}
		}
		t0 := time.Now()
		_, err := b.cl.do(ctx, b.direct, o)
		d := time.Since(t0)
		if i < 5 { // the first invocations warm connections and caches
			continue
		}
		if !bad {
			lam = append(lam, a.took)
		}
		if err == nil {
			dir = append(dir, d)
		}
	}
	return lam, dir
}
