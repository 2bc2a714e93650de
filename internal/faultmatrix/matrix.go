package faultmatrix

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go"

	"github.com/bedrock-relay/bedrock-relay/internal/awsenv"
)

// Kinds of row.
const (
	KindRequests = ""          // Converse and ConverseStream calls through the relay
	KindSlowBody = "slow-body" // a request whose body stalls; the relay must answer 408 and close
	KindKeyless  = "keyless"   // a keyless request whose body stalls, to a relay with auth keys: 403 at once
)

// Row is one fault and what the relay must keep under it.
type Row struct {
	Name string
	Kind string
	// Faults are installed through POST /_sandbox/faults before the row's traffic, as the admin API takes them.
	Faults []map[string]any
	// Fresh: the relay is started after the faults are installed, so that its first AssumeRole meets them.
	Fresh bool
	// Relay settings for the row (zero: the relay's defaults).
	RequestTimeout time.Duration
	BodyTimeout    time.Duration
	KeyedAuth      bool
	// Streams is the share of the row's requests that are ConverseStream (the rest are Converse).
	Streams float64
	// MinOK is the least share of the requests that must succeed.
	MinOK float64
	// FaultFor is how long the faults last (their for_ms); with RecoverWithin, every request begun
	// RecoverWithin after the fault ended must succeed.
	FaultFor, RecoverWithin time.Duration
	// NoBackoff: at the end the relay's metrics must count no cooldown and no backoff.
	NoBackoff bool
	// Baseline also measures one plain attempt per request against one account, with the same faults.
	Baseline bool
	// Pace is each worker's pause between requests in a timed row (one with FaultFor), which would otherwise
	// send as fast as failures come back; default 10ms.
	Pace time.Duration
}

// Rows is the matrix: every fault the resilience issue names.
func Rows() []Row {
	return []Row{
		{Name: "5% throttles, every target", Faults: []map[string]any{{"code": "ThrottlingException", "rate": 0.05}},
			Streams: 0.2, MinOK: 0.97, Baseline: true},
		{Name: "30% ServiceUnavailable, every target", Faults: []map[string]any{{"code": "ServiceUnavailableException", "rate": 0.3}},
			Streams: 0.2, MinOK: 0.90, Baseline: true},
		{Name: "STS unreachable for 2s, fresh relay", Fresh: true,
			Faults:   []map[string]any{{"service": "sts", "drop": true, "rate": 1.0, "for_ms": 2000}},
			FaultFor: 2 * time.Second, RecoverWithin: 5 * time.Second},
		{Name: "20% answers 2s late, request_timeout 1s", RequestTimeout: time.Second,
			Faults: []map[string]any{{"delay_ms": 2000, "rate": 0.2}}, MinOK: 0.70, NoBackoff: true},
		{Name: "streams end cleanly early (30%)", Streams: 1, MinOK: 0.5,
			Faults: []map[string]any{{"end_early": true, "after_events": 2, "rate": 0.3, "operation": "ConverseStream"}}},
		{Name: "streams dropped mid-way (30%)", Streams: 1, MinOK: 0.5,
			Faults: []map[string]any{{"code": "ModelStreamErrorException", "drop": true, "after_events": 2, "rate": 0.3, "operation": "ConverseStream"}}},
		{Name: "mixed: 5% throttles, 10% 503, 10% dropped streams", Streams: 0.3, MinOK: 0.95,
			Faults: []map[string]any{{"code": "ThrottlingException", "rate": 0.05}, {"code": "ServiceUnavailableException", "rate": 0.1},
				{"code": "ModelStreamErrorException", "drop": true, "after_events": 2, "rate": 0.1, "operation": "ConverseStream"}}},
		{Name: "body slower than body_timeout", Kind: KindSlowBody, BodyTimeout: time.Second},
		{Name: "keyless request, stalled body, auth keys", Kind: KindKeyless, KeyedAuth: true},
	}
}

// Env is where a row runs: a sandbox, and a relay in front of it started for the row.
type Env interface {
	// Sandbox is the sandbox's URL (its admin API and its Bedrock endpoint).
	Sandbox() string
	// Relay starts a relay in front of the sandbox, configured as row says, and returns its Bedrock Runtime
	// endpoint, its admin URL and how to stop it.
	Relay(row Row) (endpoint, admin string, stop func(), err error)
	// Baseline is an SDK configuration that calls one Bedrock account of the sandbox directly (its assumed
	// role's credentials), for the single-attempt baseline.
	Baseline() aws.Config
	// Model is the model id to call.
	Model() string
}

// Result is what callers saw under one row.
type Result struct {
	Row                   string
	Requests, OK, Clear   int
	Lost, Truncated       int
	Codes                 map[string]int // clear errors by code
	BaselineOK            float64        // share of plain single attempts that succeeded; -1: not measured
	RecoveredAfter        time.Duration  // for a timed fault: from its end to the last failed request's start
	Backoffs              float64        // cooldowns + backoffs in the relay's metrics
	Problems              []string       // what the row required and did not get
	LostExamples          []string
	SlowStatus            int
	SlowHeaders           http.Header
	SlowClosed            bool // the answer closed the connection
	SlowElapsed           time.Duration
	faultEnd, lastFailure time.Time
	lock                  *sync.Mutex
}

// Options size a run.
type Options struct {
	Requests    int // per row (requests rows); default 300
	Concurrency int // default 16
}

// Run runs one row.
func Run(ctx context.Context, env Env, row Row, o Options) Result {
	if o.Requests <= 0 {
		o.Requests = 300
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 16
	}
	res := Result{Row: row.Name, Codes: map[string]int{}, BaselineOK: -1, lock: &sync.Mutex{}}
	fail := func(format string, args ...any) { res.Problems = append(res.Problems, fmt.Sprintf(format, args...)) }
	if err := clearFaults(ctx, env.Sandbox()); err != nil {
		fail("clear faults: %v", err)
		return res
	}
	defer clearFaults(context.WithoutCancel(ctx), env.Sandbox())
	var endpoint, admin string
	var stop func()
	var err error
	if !row.Fresh {
		if endpoint, admin, stop, err = env.Relay(row); err != nil {
			fail("start the relay: %v", err)
			return res
		}
		defer stop()
	}
	installed := time.Now()
	for _, f := range row.Faults {
		if err := addFault(ctx, env.Sandbox(), f); err != nil {
			fail("install fault %v: %v", f, err)
			return res
		}
	}
	res.faultEnd = installed.Add(row.FaultFor)
	if row.Fresh {
		if endpoint, admin, stop, err = env.Relay(row); err != nil {
			fail("start the relay: %v", err)
			return res
		}
		defer stop()
	}
	switch row.Kind {
	case KindSlowBody, KindKeyless:
		runSlowBody(ctx, endpoint, env.Model(), row, &res)
		return res
	}
	client := relayClient(endpoint)
	if row.FaultFor > 0 {
		// Traffic through the fault and past the recovery window.
		until := res.faultEnd.Add(row.RecoverWithin + 2*time.Second)
		pace := row.Pace
		if pace <= 0 {
			pace = 10 * time.Millisecond
		}
		drive(ctx, o.Concurrency, func(i int) bool { return time.Now().Before(until) }, func(i int) {
			time.Sleep(pace)
			start := time.Now()
			ok := call(ctx, client, env.Model(), i, row.Streams, &res)
			if !ok {
				res.mu().Lock()
				if start.After(res.lastFailure) {
					res.lastFailure = start
				}
				res.mu().Unlock()
			}
		})
		if !res.lastFailure.IsZero() && res.lastFailure.After(res.faultEnd) {
			res.RecoveredAfter = res.lastFailure.Sub(res.faultEnd)
		}
		if res.RecoveredAfter > row.RecoverWithin {
			fail("a request begun %s after the fault ended still failed (want every request to succeed within %s)", res.RecoveredAfter.Round(10*time.Millisecond), row.RecoverWithin)
		}
	} else {
		drive(ctx, o.Concurrency, func(i int) bool { return i < o.Requests }, func(i int) {
			call(ctx, client, env.Model(), i, row.Streams, &res)
		})
	}
	if row.Baseline {
		base := bedrockruntime.NewFromConfig(env.Baseline(), func(bo *bedrockruntime.Options) { bo.Retryer = aws.NopRetryer{} })
		var ok, n int
		var mu sync.Mutex
		drive(ctx, o.Concurrency, func(i int) bool { return i < o.Requests }, func(i int) {
			_, err := base.Converse(ctx, converseInput(env.Model(), i))
			mu.Lock()
			n++
			if err == nil {
				ok++
			}
			mu.Unlock()
		})
		if n > 0 {
			res.BaselineOK = float64(ok) / float64(n)
		}
	}
	if admin != "" {
		res.Backoffs = backoffs(ctx, admin)
	}
	if row.NoBackoff && res.Backoffs > 0 {
		fail("the relay's metrics count %v cooldowns or backoffs; a deadline of the relay's own must cool no target", res.Backoffs)
	}
	if res.Requests > 0 && float64(res.OK)/float64(res.Requests) < row.MinOK {
		fail("%d of %d requests succeeded (%.1f%%), want at least %.0f%%", res.OK, res.Requests, 100*float64(res.OK)/float64(res.Requests), 100*row.MinOK)
	}
	if res.Lost > 0 {
		fail("%d requests lost (no answer and no error in Bedrock's shape), e.g. %s", res.Lost, strings.Join(res.LostExamples, "; "))
	}
	if res.Truncated > 0 {
		fail("%d streams silently truncated", res.Truncated)
	}
	return res
}

func (r *Result) mu() *sync.Mutex { return r.lock }

// drive runs f(i) for i = 0, 1, ... while more(i), on n workers.
func drive(ctx context.Context, n int, more func(i int) bool, f func(i int)) {
	var mu sync.Mutex
	next := 0
	var wg sync.WaitGroup
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				mu.Lock()
				i := next
				if !more(i) {
					mu.Unlock()
					return
				}
				next++
				mu.Unlock()
				f(i)
			}
		}()
	}
	wg.Wait()
}

// relayClient is the SDK client for the relay. Streams get a client each: smithy-go's event-stream codec is
// shared by a client's concurrent streams and races under -race (smithy-go v1.28, internal/eventstream).
func relayClient(endpoint string) func() *bedrockruntime.Client {
	cfg := aws.Config{
		Region:       "ap-northeast-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("relay", "relay", ""),
		HTTPClient:   awsenv.LoopbackHTTPClient(nil),
	}
	return func() *bedrockruntime.Client {
		return bedrockruntime.NewFromConfig(cfg, func(o *bedrockruntime.Options) { o.Retryer = aws.NopRetryer{} })
	}
}

func converseInput(model string, i int) *bedrockruntime.ConverseInput {
	return &bedrockruntime.ConverseInput{
		ModelId:         aws.String(model),
		Messages:        []types.Message{{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: "fault matrix request " + strconv.Itoa(i) + " words:20"}}}},
		InferenceConfig: &types.InferenceConfiguration{MaxTokens: aws.Int32(64)},
	}
}

// call makes request i (a stream for the row's share of them) and records what the caller saw.
func call(ctx context.Context, client func() *bedrockruntime.Client, model string, i int, streams float64, res *Result) bool {
	stream := streams > 0 && float64(i%100) < streams*100
	var outcome, code, lost string
	if stream {
		outcome, code, lost = callStream(ctx, client(), model, i)
	} else {
		out, err := client().Converse(ctx, converseInput(model, i))
		switch {
		case err == nil && out != nil && hasText(out.Output):
			outcome = "ok"
		case err == nil:
			outcome, lost = "lost", "a 200 Converse answer with no output"
		default:
			outcome, code, lost = classifyErr(err)
		}
	}
	m := res.mu()
	m.Lock()
	defer m.Unlock()
	res.Requests++
	switch outcome {
	case "ok":
		res.OK++
	case "clear":
		res.Clear++
		res.Codes[code]++
	case "truncated":
		res.Truncated++
	default:
		res.Lost++
		if len(res.LostExamples) < 3 {
			res.LostExamples = append(res.LostExamples, lost)
		}
	}
	return outcome == "ok"
}

func hasText(o types.ConverseOutput) bool {
	m, ok := o.(*types.ConverseOutputMemberMessage)
	if !ok {
		return false
	}
	for _, b := range m.Value.Content {
		if t, ok := b.(*types.ContentBlockMemberText); ok && t.Value != "" {
			return true
		}
	}
	return false
}

func callStream(ctx context.Context, c *bedrockruntime.Client, model string, i int) (outcome, code, lost string) {
	in := converseInput(model, i)
	out, err := c.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{ModelId: in.ModelId, Messages: in.Messages, InferenceConfig: in.InferenceConfig})
	if err != nil {
		return classifyErr(err)
	}
	s := out.GetStream()
	defer s.Close()
	var stop, meta bool
	for ev := range s.Events() {
		switch ev.(type) {
		case *types.ConverseStreamOutputMemberMessageStop:
			stop = true
		case *types.ConverseStreamOutputMemberMetadata:
			meta = true
		}
	}
	if err := s.Err(); err != nil {
		return classifyErr(err)
	}
	if !stop || !meta {
		return "truncated", "", ""
	}
	return "ok", "", ""
}

// classifyErr tells an error in Bedrock's shape (the SDK parsed a code) from a lost request.
func classifyErr(err error) (outcome, code, lost string) {
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() != "" {
		return "clear", ae.ErrorCode(), ""
	}
	msg := err.Error()
	if len(msg) > 160 {
		msg = msg[:160]
	}
	return "lost", "", msg
}

// runSlowBody sends a request whose body stalls after a few bytes and reads the answer.
func runSlowBody(ctx context.Context, endpoint, model string, row Row, res *Result) {
	fail := func(format string, args ...any) { res.Problems = append(res.Problems, fmt.Sprintf(format, args...)) }
	u, err := url.Parse(endpoint)
	if err != nil {
		fail("endpoint %q: %v", endpoint, err)
		return
	}
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", u.Host)
	if err != nil {
		fail("dial: %v", err)
		return
	}
	defer conn.Close()
	start := time.Now()
	fmt.Fprintf(conn, "POST /model/%s/converse HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"messages\":", url.PathEscape(model), u.Host)
	wait := row.BodyTimeout + 10*time.Second
	if row.Kind == KindKeyless {
		wait = 5 * time.Second
	}
	conn.SetReadDeadline(time.Now().Add(wait))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	res.SlowElapsed = time.Since(start)
	res.Requests = 1
	if err != nil {
		res.Lost = 1
		fail("no answer within %s: %v", wait, err)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	res.SlowStatus, res.SlowHeaders, res.SlowClosed = resp.StatusCode, resp.Header, resp.Close
	want, wantCode := http.StatusRequestTimeout, "RequestTimeoutException"
	if row.Kind == KindKeyless {
		want, wantCode = http.StatusForbidden, "UnrecognizedClientException"
	}
	var b struct {
		Message string `json:"message"`
	}
	switch {
	case resp.StatusCode != want:
		fail("got %d %s, want %d", resp.StatusCode, body, want)
	case resp.Header.Get("X-Amzn-Errortype") != wantCode:
		fail("X-Amzn-ErrorType %q, want %q", resp.Header.Get("X-Amzn-Errortype"), wantCode)
	case json.Unmarshal(body, &b) != nil || b.Message == "":
		fail("body %q is not Bedrock's error shape", body)
	case !resp.Close:
		fail("the connection was kept open (want Connection: close)")
	default:
		res.Clear = 1
		res.Codes[wantCode] = 1
	}
	if row.Kind == KindKeyless && res.SlowElapsed > 2*time.Second {
		fail("the 403 took %s; want it at once", res.SlowElapsed.Round(time.Millisecond))
	}
}

func clearFaults(ctx context.Context, sandbox string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, sandbox+"/_sandbox/faults", nil)
	return do(req)
}

func addFault(ctx context.Context, sandbox string, f map[string]any) error {
	b, _ := json.Marshal(f)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, sandbox+"/_sandbox/faults", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	return do(req)
}

func do(req *http.Request) error {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("%s %s: %d %s", req.Method, req.URL.Path, resp.StatusCode, b)
	}
	return nil
}

// backoffs sums the relay's cooldown and backoff counters.
func backoffs(ctx context.Context, admin string) float64 {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, admin+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "bedrock_relay_cooldowns_total{") && !strings.HasPrefix(line, "bedrock_relay_backoffs_total{") {
			continue
		}
		if i := strings.LastIndexByte(line, ' '); i > 0 {
			v, _ := strconv.ParseFloat(line[i+1:], 64)
			sum += v
		}
	}
	return sum
}

// Table renders results as a markdown table.
func Table(results []Result) string {
	var b strings.Builder
	b.WriteString("| fault | requests | ok | clear error | lost | truncated | single attempt ok | notes |\n|---|---|---|---|---|---|---|---|\n")
	for _, r := range results {
		pct := func(n int) string {
			if r.Requests == 0 {
				return "–"
			}
			return fmt.Sprintf("%d (%.1f%%)", n, 100*float64(n)/float64(r.Requests))
		}
		base := "–"
		if r.BaselineOK >= 0 {
			base = fmt.Sprintf("%.1f%%", 100*r.BaselineOK)
		}
		var notes []string
		if r.SlowStatus != 0 {
			closed := "kept open"
			if r.SlowClosed {
				closed = "connection closed"
			}
			notes = append(notes, fmt.Sprintf("%d %s in %s, %s", r.SlowStatus, r.SlowHeaders.Get("X-Amzn-Errortype"), r.SlowElapsed.Round(time.Millisecond), closed))
		}
		if r.RecoveredAfter > 0 {
			notes = append(notes, "last failure "+r.RecoveredAfter.Round(10*time.Millisecond).String()+" after the fault ended")
		}
		codes := make([]string, 0, len(r.Codes))
		for c, n := range r.Codes {
			codes = append(codes, fmt.Sprintf("%s ×%d", c, n))
		}
		sort.Strings(codes)
		if len(codes) > 0 {
			notes = append(notes, strings.Join(codes, ", "))
		}
		if len(r.Problems) > 0 {
			notes = append(notes, "FAILED: "+strings.Join(r.Problems, "; "))
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s | %s | %s |\n", r.Row, r.Requests, pct(r.OK), pct(r.Clear), pct(r.Lost), pct(r.Truncated), base, strings.Join(notes, "; "))
	}
	return b.String()
}
