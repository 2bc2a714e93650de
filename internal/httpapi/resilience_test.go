package httpapi_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go"

	"github.com/bedrock-relay/bedrock-relay/config"
	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

// newOpenEnv is the test relay with its budgets lifted and the sandbox's quotas raised, so that only the
// faults a test installs refuse requests.
func newOpenEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t, func(c *config.Config) {
		for i := range c.Targets {
			c.Targets[i].Budgets = config.Budgets{}
		}
	})
	for _, a := range poolAccounts {
		e.sb.SetQuota(a.id, sandbox.SeedProfile, sandbox.Quota{RequestsPerMinute: 100_000, TokensPerMinute: 100_000_000})
	}
	return e
}

func converse(ctx context.Context, c *bedrockruntime.Client) (*bedrockruntime.ConverseOutput, error) {
	return c.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: aws.String(sandbox.SeedProfile),
		Messages: []types.Message{{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: "hello"}}}}})
}

// A sandbox restarted (every session it issued forgotten) answers UnrecognizedClientException to the cached
// credentials: the relay assumes the roles again instead of taking the targets out as a setup problem.
func TestForgottenSessionsAreAssumedAgain(t *testing.T) {
	e := newOpenEnv(t)
	c := e.client(keyAll)
	ctx := context.Background()
	if _, err := converse(ctx, c); err != nil {
		t.Fatal(err)
	}
	assumed := func() int {
		n := 0
		for _, c := range e.sb.Stats().STS {
			if c.Operation == "AssumeRole" && c.Outcome == "ok" {
				n += c.Count
			}
		}
		return n
	}
	before := assumed()
	e.sb.ForgetSessions()
	for i := 0; i < 5; i++ {
		if _, err := converse(ctx, c); err != nil {
			t.Fatalf("request %d after the sessions were forgotten: %v", i, err)
		}
	}
	if after := assumed(); after == before {
		t.Errorf("no AssumeRole after the sessions were forgotten (%d before, %d after)", before, after)
	}
}

// STS throttling the relay's AssumeRole is a transient fault: the caller is told 503 (not a setup problem,
// not a throttle of Bedrock's), and the relay serves again as soon as STS answers.
func TestSTSThrottlingIsATransientFault(t *testing.T) {
	e := newOpenEnv(t)
	if err := e.sb.AddFault(sandbox.Fault{Service: "sts", Code: "Throttling", Rate: 1, For: time.Second}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c := e.client(keyAll)
	ctx := context.Background()
	_, err := converse(ctx, c)
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ServiceUnavailableException" || strings.Contains(ae.ErrorMessage(), "setup problem") {
		t.Fatalf("while STS throttles: got %v, want a 503 ServiceUnavailableException that is no setup problem", err)
	}
	for {
		_, err := converse(ctx, c)
		if err == nil {
			break
		}
		if time.Since(start) > 6*time.Second {
			t.Fatalf("still failing %s after STS stopped throttling: %v", time.Since(start)-time.Second, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// When no target can be reached, the answer names the targets and their codes, never the upstream's URL or
// address.
func TestUnreachableUpstreamNamesNoAddress(t *testing.T) {
	e := newOpenEnv(t)
	if err := e.sb.AddFault(sandbox.Fault{Drop: true, Rate: 1}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/model/"+sandbox.SeedProfile+"/converse",
		strings.NewReader(`{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`))
	req.Header.Set("Authorization", "Bearer "+keyAll)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode < 500 || resp.Header.Get("X-Amzn-Errortype") == "" {
		t.Fatalf("got %d %s, want a 5xx in Bedrock's shape", resp.StatusCode, body)
	}
	for _, leak := range []string{"127.0.0.1", "http://", "dial", "EOF"} {
		if strings.Contains(string(body), leak) {
			t.Errorf("the body %s carries %q", body, leak)
		}
	}
}

// An upstream stream that ends cleanly before its last event reaches an OpenAI client as an error event, with
// no [DONE]; a Bedrock client gets modelStreamErrorException.
func TestStreamEndingEarlyIsAnError(t *testing.T) {
	e := newOpenEnv(t)
	if err := e.sb.AddFault(sandbox.Fault{EndEarly: true, AfterEvents: 2, Rate: 1, Operation: "ConverseStream"}); err != nil {
		t.Fatal(err)
	}
	out, err := e.client(keyAll).ConverseStream(context.Background(), &bedrockruntime.ConverseStreamInput{ModelId: aws.String(sandbox.SeedProfile),
		Messages: []types.Message{{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: "hello words:30"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	s := out.GetStream()
	for range s.Events() {
	}
	var mse *types.ModelStreamErrorException
	if err := s.Err(); !errors.As(err, &mse) {
		t.Errorf("Bedrock API: the stream ended with %v, want a ModelStreamErrorException", err)
	}
	s.Close()

	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/v1/chat/completions",
		strings.NewReader(`{"model":"sonnet","stream":true,"messages":[{"role":"user","content":"hello words:30"}]}`))
	req.Header.Set("Authorization", "Bearer "+keyAll)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var events []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			events = append(events, line)
		}
	}
	if len(events) == 0 {
		t.Fatal("no events")
	}
	last := events[len(events)-1]
	if last == "[DONE]" || !strings.HasPrefix(last, `{"error":`) {
		t.Errorf("OpenAI API: the stream ended with %q, want an error event and no [DONE]", last)
	}
}

// A stream whose upstream goes quiet for longer than routing.stream_idle_timeout ends with
// modelStreamErrorException rather than hanging or ending as if complete.
func TestStalledStreamEnds(t *testing.T) {
	e := newEnv(t, func(c *config.Config) {
		c.Routing.StreamIdleTimeout = config.Duration(300 * time.Millisecond)
		for i := range c.Targets {
			c.Targets[i].Budgets = config.Budgets{}
		}
	})
	e.sb.SetLatency(sonnet, sandbox.Latency{TokensPerSecond: 1}) // a token a second: the stream stalls
	out, err := e.client(keyAll).ConverseStream(context.Background(), &bedrockruntime.ConverseStreamInput{ModelId: aws.String(sandbox.SeedProfile),
		Messages: []types.Message{{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: "hello words:30"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	s := out.GetStream()
	defer s.Close()
	start := time.Now()
	for range s.Events() {
	}
	var mse *types.ModelStreamErrorException
	if err := s.Err(); !errors.As(err, &mse) || !strings.Contains(mse.ErrorMessage(), "sent nothing") {
		t.Errorf("got %v, want a ModelStreamErrorException saying the upstream went quiet", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the stall was noticed after %s", d)
	}
}

// Bodies held at once are capped: a request that would go over the cap is answered 503 with Retry-After in
// Bedrock's shape, and the next one, once there is room, is served.
func TestBodiesInFlightAreCapped(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.Server.MaxBodyBytesInFlight = 110 })
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/model/"+sandbox.SeedProfile+"/invoke", strings.NewReader(invokeReq))
	req.Header.Set("Authorization", "Bearer "+keyAll)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
		resp.Header.Get("X-Amzn-Errortype") != "ServiceUnavailableException" || !strings.Contains(string(body), "max_body_bytes_in_flight") {
		t.Errorf("a body over the cap: got %d %v %s, want 503 ServiceUnavailableException with Retry-After", resp.StatusCode, resp.Header, body)
	}
	small := `{"anthropic_version":"bedrock-2023-05-31","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`
	if len(small) > 110 {
		t.Fatalf("the small body is %d bytes", len(small))
	}
	if _, err := e.client(keyAll).InvokeModel(context.Background(), &bedrockruntime.InvokeModelInput{ModelId: aws.String(sandbox.SeedProfile),
		Body: []byte(small), ContentType: aws.String("application/json")}); err != nil {
		t.Errorf("a body within the cap: %v", err)
	}
}

// A caller-supplied model id is cut in the access log: a megabyte of it does not make a megabyte of log.
func TestAccessLogCutsLongModelIDs(t *testing.T) {
	e := newEnv(t, nil)
	long := strings.Repeat("m", 1<<20)
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/model/"+long+"/invoke", strings.NewReader(invokeReq))
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	waitFor(t, func() bool { return strings.Contains(e.log.String(), `"model":`) })
	if n := len(e.log.String()); n > 4096 {
		t.Errorf("one keyless request with a 1 MiB model id wrote %d bytes of access log", n)
	}
}

// /readyz says unavailable, naming the model, while no target can serve it, and draining once shutdown has
// begun.
func TestReadyzFollowsTheTargets(t *testing.T) {
	e := newOpenEnv(t)
	get := func() (int, string) {
		resp, err := http.Get(e.admin.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if s, b := get(); s != http.StatusOK || !strings.Contains(b, `"ready"`) {
		t.Fatalf("at start: %d %s, want ready", s, b)
	}
	e.sb.FailNext(sandbox.Fault{Code: "AccessDeniedException", Count: len(poolAccounts)})
	if _, err := converse(context.Background(), e.client(keyAll)); err == nil {
		t.Fatal("every target denied access, yet the request succeeded")
	}
	if s, b := get(); s != http.StatusServiceUnavailable || !strings.Contains(b, `"unavailable"`) || !strings.Contains(b, sonnet) {
		t.Errorf("with every target out: %d %s, want 503 unavailable naming %s", s, b, sonnet)
	}
	e.relay.Draining.Store(true)
	if s, b := get(); s != http.StatusServiceUnavailable || !strings.Contains(b, `"draining"`) {
		t.Errorf("draining: %d %s, want 503 draining", s, b)
	}
}

// A body of unknown length (chunked) is counted against the cap as it arrives, and refused alike.
func TestChunkedBodyOverTheCap(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.Server.MaxBodyBytesInFlight = 110 })
	// A reader with no length makes the client send the body chunked.
	body := io.MultiReader(strings.NewReader(invokeReq))
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/model/"+sandbox.SeedProfile+"/invoke", body)
	req.Header.Set("Authorization", "Bearer "+keyAll)
	req.Header.Set("Content-Type", "application/json")
	if req.ContentLength > 0 {
		t.Fatalf("the request has a Content-Length (%d); the test needs a chunked body", req.ContentLength)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || resp.Header.Get("X-Amzn-Errortype") != "ServiceUnavailableException" {
		t.Errorf("a chunked body over the cap: got %d %v %s, want 503 ServiceUnavailableException with Retry-After", resp.StatusCode, resp.Header, b)
	}
}
