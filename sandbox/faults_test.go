package sandbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	brtypes "github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

func TestFailNextTypedErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		code   string
		status int
		typed  func(error) bool
	}{
		{"ServiceUnavailableException", 503, func(err error) bool { var e *brtypes.ServiceUnavailableException; return errors.As(err, &e) }},
		{"InternalServerException", 500, func(err error) bool { var e *brtypes.InternalServerException; return errors.As(err, &e) }},
		{"ModelNotReadyException", 429, func(err error) bool { var e *brtypes.ModelNotReadyException; return errors.As(err, &e) }},
		{"ModelTimeoutException", 408, func(err error) bool { var e *brtypes.ModelTimeoutException; return errors.As(err, &e) }},
		{"ThrottlingException", 429, func(err error) bool { var e *brtypes.ThrottlingException; return errors.As(err, &e) }},
		{"ModelErrorException", 424, func(err error) bool { var e *brtypes.ModelErrorException; return errors.As(err, &e) }},
		{"ServiceQuotaExceededException", 400, func(err error) bool { var e *brtypes.ServiceQuotaExceededException; return errors.As(err, &e) }},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			_, client, _ := bedrockEnv(t)
			e := sandbox.Fault{Code: tt.code, Operation: "InvokeModel"}
			envSB(t, client).FailNext(e)
			_, err := client.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(sandbox.SeedProfile), Body: []byte(seedBody)})
			if !tt.typed(err) {
				t.Fatalf("got %v (%T), want the SDK's typed %s", err, errors.Unwrap(err), tt.code)
			}
			if got := httpStatus(err); got != tt.status {
				t.Errorf("status: got %d, want %d", got, tt.status)
			}
			if _, err := client.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(sandbox.SeedProfile), Body: []byte(seedBody)}); err != nil {
				t.Errorf("next call: got %v, want success (FailNext fails one call)", err)
			}
		})
	}
}

// envSB finds the sandbox behind a client made by bedrockEnv.
var (
	sandboxesMu sync.Mutex
	sandboxes   = map[*bedrockruntime.Client]*sandbox.Sandbox{}
)

func envSB(t *testing.T, c *bedrockruntime.Client) *sandbox.Sandbox {
	t.Helper()
	sandboxesMu.Lock()
	sb := sandboxes[c]
	sandboxesMu.Unlock()
	if sb == nil {
		t.Fatal("no sandbox for client")
	}
	return sb
}

// TestSDKRetriesInjectedFaults: with the SDK's standard retryer, a 503 is retried and a ModelNotReady is not
// (aws-sdk-go-v2 standard mode).
func TestSDKRetriesInjectedFaults(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	cfg := e.session(t, sandbox.TargetRoleARN(sandbox.LargeAccount))
	cfg.RetryMaxAttempts = 3
	client := bedrockruntime.NewFromConfig(cfg)
	e.sb.FailNext(sandbox.Fault{Code: "ServiceUnavailableException", Count: 2})
	if _, err := client.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(sandbox.SeedProfile), Body: []byte(seedBody)}); err != nil {
		t.Errorf("two 503s then success: got %v, want the SDK to retry through", err)
	}
	if got, want := e.sb.Stats().BedrockCalls(sandbox.LargeAccount, "ServiceUnavailableException"), 2; got != want {
		t.Errorf("503s served: got %d, want %d", got, want)
	}
}

func TestFaultRateAndDelay(t *testing.T) {
	ctx := context.Background()
	t.Run("rate", func(t *testing.T) {
		_, client, _ := bedrockEnv(t)
		must(t, envSB(t, client).AddFault(sandbox.Fault{Code: "InternalServerException", Rate: 0.5}))
		failed := 0
		for i := 0; i < 40; i++ {
			if _, err := client.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(sandbox.SeedProfile), Body: []byte(seedBody)}); apiCode(err) == "InternalServerException" {
				failed++
			} else if err != nil {
				t.Fatal(err)
			}
		}
		if failed < 8 || failed > 32 {
			t.Errorf("%d of 40 failed at rate 0.5, want roughly half", failed)
		}
	})
	t.Run("filters", func(t *testing.T) {
		_, client, _ := bedrockEnv(t)
		must(t, envSB(t, client).AddFault(sandbox.Fault{Code: "InternalServerException", Operation: "Converse"}))
		if _, err := client.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(sandbox.SeedProfile), Body: []byte(seedBody)}); err != nil {
			t.Errorf("InvokeModel with a Converse fault: got %v, want success", err)
		}
		for i := 0; i < 2; i++ {
			if _, err := client.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: aws.String(sandbox.SeedProfile), Messages: userText("hi")}); apiCode(err) != "InternalServerException" {
				t.Errorf("Converse %d: got %v, want InternalServerException until ClearFaults", i, err)
			}
		}
		envSB(t, client).ClearFaults()
		if _, err := client.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: aws.String(sandbox.SeedProfile), Messages: userText("hi")}); err != nil {
			t.Errorf("after ClearFaults: %v", err)
		}
	})
	t.Run("delay", func(t *testing.T) {
		_, client, _ := bedrockEnv(t)
		must(t, envSB(t, client).AddFault(sandbox.Fault{Delay: 200 * time.Millisecond, Count: 1}))
		start := time.Now()
		if _, err := client.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(sandbox.SeedProfile), Body: []byte(seedBody)}); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 200*time.Millisecond {
			t.Errorf("call took %v, want at least 200ms", d)
		}
	})
	t.Run("invalid faults", func(t *testing.T) {
		sb, _ := sandbox.New(nil)
		for _, f := range []sandbox.Fault{{}, {Code: "Throttling"}, {Code: "ThrottlingException", Drop: true}, {Code: "ThrottlingException", Rate: 2}} {
			if err := sb.AddFault(f); err == nil {
				t.Errorf("AddFault(%+v): got nil, want an error", f)
			}
		}
	})
}

// TestStreamCuts: a stream fault with AfterEvents sends that many events, then an exception frame the SDK
// returns from Err() as the typed exception, or drops the connection.
func TestStreamCuts(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		fault sandbox.Fault
		check func(error) bool
	}{
		{"ConverseStream modelStreamErrorException", sandbox.Fault{Code: "ModelStreamErrorException", AfterEvents: 2, Operation: "ConverseStream"},
			func(err error) bool { var e *brtypes.ModelStreamErrorException; return errors.As(err, &e) }},
		{"ConverseStream throttlingException", sandbox.Fault{Code: "ThrottlingException", AfterEvents: 3, Operation: "ConverseStream"},
			func(err error) bool { var e *brtypes.ThrottlingException; return errors.As(err, &e) }},
		// smithy-go (internal/eventstream isEOF) reads io.ErrUnexpectedEOF from a cut connection as a clean end
		// of stream, so Err() is nil; the cut shows as a stream without messageStop/metadata (checked below)
		// and, on the wire, as a chunked body that ends without its terminator (TestStreamDropOnTheWire).
		{"ConverseStream dropped", sandbox.Fault{Code: "InternalServerException", AfterEvents: 2, Drop: true, Operation: "ConverseStream"},
			func(err error) bool { return true }},
		{"InvokeModelWithResponseStream modelStreamErrorException", sandbox.Fault{Code: "ModelStreamErrorException", AfterEvents: 2, Operation: "InvokeModelWithResponseStream"},
			func(err error) bool { var e *brtypes.ModelStreamErrorException; return errors.As(err, &e) }},
		{"InvokeModelWithResponseStream internalServerException", sandbox.Fault{Code: "InternalServerException", AfterEvents: 1, Operation: "InvokeModelWithResponseStream"},
			func(err error) bool { var e *brtypes.InternalServerException; return errors.As(err, &e) }},
		{"InvokeModelWithResponseStream dropped", sandbox.Fault{Code: "InternalServerException", AfterEvents: 1, Drop: true, Operation: "InvokeModelWithResponseStream"},
			func(err error) bool { return true }},
		{"cut after more events than the stream has", sandbox.Fault{Code: "ModelStreamErrorException", AfterEvents: 10000, Operation: "ConverseStream"},
			func(err error) bool { var e *brtypes.ModelStreamErrorException; return errors.As(err, &e) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, client, _ := bedrockEnv(t)
			envSB(t, client).FailNext(tt.fault)
			var n int
			var err error
			if tt.fault.Operation == "ConverseStream" {
				out, cerr := client.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{ModelId: aws.String(sandbox.SeedProfile), Messages: userText("hello")})
				if cerr != nil {
					t.Fatalf("ConverseStream: got %v, want the stream to start (HTTP 200)", cerr)
				}
				for ev := range out.GetStream().Events() {
					n++
					_, stop := ev.(*brtypes.ConverseStreamOutputMemberMessageStop)
					_, meta := ev.(*brtypes.ConverseStreamOutputMemberMetadata)
					if meta || stop && tt.fault.AfterEvents < 100 {
						t.Errorf("got %T in a cut stream, want the stream to end before it", ev)
					}
				}
				err = out.GetStream().Err()
				out.GetStream().Close()
			} else {
				out, cerr := client.InvokeModelWithResponseStream(ctx, &bedrockruntime.InvokeModelWithResponseStreamInput{ModelId: aws.String(sandbox.SeedProfile), Body: []byte(seedBody)})
				if cerr != nil {
					t.Fatalf("InvokeModelWithResponseStream: got %v, want the stream to start", cerr)
				}
				for range out.GetStream().Events() {
					n++
				}
				err = out.GetStream().Err()
				out.GetStream().Close()
			}
			if !tt.check(err) {
				t.Errorf("stream Err(): got %v (%T), want %s", err, err, tt.fault.Code)
			}
			if tt.fault.AfterEvents < 100 && n != tt.fault.AfterEvents {
				t.Errorf("events before the cut: got %d, want %d", n, tt.fault.AfterEvents)
			}
		})
	}
}

// TestLatencyPacing: time to first token and output pace hold responses back (checked as lower bounds only).
func TestLatencyPacing(t *testing.T) {
	ctx := context.Background()
	_, client, _ := bedrockEnv(t)
	envSB(t, client).SetLatency(seedFM, sandbox.Latency{FirstTokenMillis: 300, TokensPerSecond: 200})
	start := time.Now()
	out, err := client.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{ModelId: aws.String(sandbox.SeedProfile), Messages: userText("hello")})
	if err != nil {
		t.Fatal(err)
	}
	var first time.Duration
	var latencyMs int64
	for ev := range out.GetStream().Events() {
		if first == 0 {
			first = time.Since(start)
		}
		if md, ok := ev.(*brtypes.ConverseStreamOutputMemberMetadata); ok {
			latencyMs = aws.ToInt64(md.Value.Metrics.LatencyMs)
		}
	}
	if err := out.GetStream().Err(); err != nil {
		t.Fatal(err)
	}
	total := time.Since(start)
	if first < 300*time.Millisecond {
		t.Errorf("first event after %v, want at least 300ms", first)
	}
	if latencyMs < 300 {
		t.Errorf("metadata latencyMs = %d, want at least 300", latencyMs)
	}
	if total < time.Duration(latencyMs)*time.Millisecond {
		t.Errorf("stream took %v, want at least the reported %dms", total, latencyMs)
	}
	start = time.Now()
	if _, err := client.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(sandbox.SeedProfile), Body: []byte(seedBody)}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("InvokeModel took %v, want at least 300ms", d)
	}
}

// TestStreamDropOnTheWire: a dropped stream ends its chunked body without the terminating chunk, which
// net/http reports as io.ErrUnexpectedEOF (an error, not a clean end).
func TestStreamDropOnTheWire(t *testing.T) {
	e := newEnv(t, nil)
	e.sb.FailNext(sandbox.Fault{Code: "InternalServerException", AfterEvents: 2, Drop: true})
	c, err := e.sb.SessionFor(sandbox.TargetRoleARN(sandbox.LargeAccount), "drop", time.Hour)
	must(t, err)
	resp := signedPost(t, e.url, "/model/"+sandbox.SeedProfile+"/converse-stream", "bedrock", c, []byte(`{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	_, err = io.ReadAll(resp.Body)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("reading the body: got %v, want io.ErrUnexpectedEOF", err)
	}
	calls := e.sb.Calls()
	if got := calls[len(calls)-1].Outcome; got != "dropped" {
		t.Errorf("recorded outcome %q, want dropped", got)
	}
}

// TestStreamEndsEarly: a stream fault with EndEarly sends AfterEvents events and ends the response cleanly,
// without the stream's terminal events and without an error, so only a client that checks for them notices.
func TestStreamEndsEarly(t *testing.T) {
	ctx := context.Background()
	// stream runs one stream and counts its events, and whether it carried its terminal events.
	stream := func(t *testing.T, client *bedrockruntime.Client, op string) (n int, terminal bool, err error) {
		t.Helper()
		if op == "ConverseStream" {
			out, err := client.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{ModelId: aws.String(sandbox.SeedProfile), Messages: userText("hello")})
			if err != nil {
				t.Fatalf("ConverseStream: got %v, want the stream to start (HTTP 200)", err)
			}
			defer out.GetStream().Close()
			for ev := range out.GetStream().Events() {
				n++
				switch ev.(type) {
				case *brtypes.ConverseStreamOutputMemberMessageStop, *brtypes.ConverseStreamOutputMemberMetadata:
					terminal = true
				}
			}
			return n, terminal, out.GetStream().Err()
		}
		out, err := client.InvokeModelWithResponseStream(ctx, &bedrockruntime.InvokeModelWithResponseStreamInput{ModelId: aws.String(sandbox.SeedProfile), Body: []byte(seedBody)})
		if err != nil {
			t.Fatalf("InvokeModelWithResponseStream: got %v, want the stream to start", err)
		}
		defer out.GetStream().Close()
		for ev := range out.GetStream().Events() {
			n++
			if c, ok := ev.(*brtypes.ResponseStreamMemberChunk); ok && bytes.Contains(c.Value.Bytes, []byte("amazon-bedrock-invocationMetrics")) {
				terminal = true
			}
		}
		return n, terminal, out.GetStream().Err()
	}
	tests := []struct {
		op          string
		afterEvents int
		terminal    int // terminal events the stream loses when AfterEvents is past its end
	}{
		{"ConverseStream", 2, 2},
		{"ConverseStream", 10000, 2},
		{"InvokeModelWithResponseStream", 3, 1},
		{"InvokeModelWithResponseStream", 10000, 1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s after %d", tt.op, tt.afterEvents), func(t *testing.T) {
			_, client, _ := bedrockEnv(t)
			full, terminal, err := stream(t, client, tt.op)
			if err != nil || !terminal {
				t.Fatalf("unfaulted stream: got err %v, terminal events %v; want a complete stream", err, terminal)
			}
			sb := envSB(t, client)
			sb.FailNext(sandbox.Fault{EndEarly: true, AfterEvents: tt.afterEvents, Operation: tt.op})
			n, terminal, err := stream(t, client, tt.op)
			if err != nil {
				t.Errorf("stream Err(): got %v, want nil (a clean end)", err)
			}
			if terminal {
				t.Errorf("got the stream's terminal events, want the stream to end before them")
			}
			if want := min(tt.afterEvents, full-tt.terminal); n != want {
				t.Errorf("events: got %d, want %d (of %d in a complete stream)", n, want, full)
			}
			calls := sb.Calls()
			if got := calls[len(calls)-1].Outcome; got != "ended-early" {
				t.Errorf("recorded outcome %q, want ended-early", got)
			}
			if n, _, err := stream(t, client, tt.op); err != nil || n != full {
				t.Errorf("next stream: got %d events, err %v; want %d and nil (FailNext ends one stream)", n, err, full)
			}
		})
	}
}

// TestStreamEndEarlyOnTheWire: a stream that ends early ends its chunked body properly, after whole frames,
// none of them an exception.
func TestStreamEndEarlyOnTheWire(t *testing.T) {
	e := newEnv(t, nil)
	if code, out := adminDo(t, e.url, "POST", "/_sandbox/faults", `{"end_early":true,"after_events":2,"operation":"ConverseStream","count":1}`); code != 200 {
		t.Fatalf("POST /_sandbox/faults: got %d %s, want 200", code, out)
	}
	c, err := e.sb.SessionFor(sandbox.TargetRoleARN(sandbox.LargeAccount), "early", time.Hour)
	must(t, err)
	resp := signedPost(t, e.url, "/model/"+sandbox.SeedProfile+"/converse-stream", "bedrock", c, []byte(`{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the body: got %v, want a clean end", err)
	}
	dec := eventstream.NewDecoder()
	r := bytes.NewReader(body)
	var types []string
	for r.Len() > 0 {
		m, err := dec.Decode(r, nil)
		if err != nil {
			t.Fatalf("frame %d: %v (want whole frames only)", len(types), err)
		}
		if mt := m.Headers.Get(":message-type"); mt == nil || mt.String() != "event" {
			t.Errorf("frame %d: :message-type %v, want event", len(types), mt)
		}
		types = append(types, m.Headers.Get(":event-type").String())
	}
	if want := []string{"messageStart", "contentBlockDelta"}; !slices.Equal(types, want) {
		t.Errorf("frames: got %v, want %v", types, want)
	}
}

// adminDo sends an admin API request and returns its status and body.
func adminDo(t *testing.T, base, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// unanswered reports whether err is the SDK's error for a request that got no HTTP answer at all.
func unanswered(err error) bool {
	var se *smithyhttp.RequestSendError
	return errors.As(err, &se) && apiCode(err) == "" && httpStatus(err) == 0
}

// TestSTSFaults: STS faults answer in STS's XML error shape with STS's status, which the Go SDK parses into
// the code; drop closes the connection unanswered.
func TestSTSFaults(t *testing.T) {
	ctx := context.Background()
	role := sandbox.TargetRoleARN(sandbox.LargeAccount)
	assumeRole := func(c *sts.Client) error {
		_, err := c.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("faults")})
		return err
	}
	getCallerIdentity := func(c *sts.Client) error {
		_, err := c.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		return err
	}
	tests := []struct {
		code, op string
		status   int
		message  string
	}{
		{"Throttling", "GetCallerIdentity", 400, "Rate exceeded"},
		{"Throttling", "AssumeRole", 400, "Rate exceeded"},
		{"ServiceUnavailable", "AssumeRole", 503, "temporary failure"},
		{"InternalFailure", "GetCallerIdentity", 500, "unknown error"},
	}
	for _, tt := range tests {
		t.Run(tt.code+" "+tt.op, func(t *testing.T) {
			e := newEnv(t, nil)
			client := sts.NewFromConfig(e.cfg)
			call, other := getCallerIdentity, assumeRole
			if tt.op == "AssumeRole" {
				call, other = assumeRole, getCallerIdentity
			}
			e.sb.FailNext(sandbox.Fault{Service: "sts", Code: tt.code, Operation: tt.op})
			if err := other(client); err != nil {
				t.Errorf("the other STS operation: got %v, want success (the fault filters %s)", err, tt.op)
			}
			err := call(client)
			if got := apiCode(err); got != tt.code {
				t.Fatalf("got %v, want %s", err, tt.code)
			}
			if got := httpStatus(err); got != tt.status {
				t.Errorf("status: got %d, want %d", got, tt.status)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("message %q: want it to contain %q", err, tt.message)
			}
			if err := call(client); err != nil {
				t.Errorf("next call: got %v, want success (FailNext fails one call)", err)
			}
			// The failed call and the one after it; the other operation is counted apart.
			if got := e.sb.Stats().STSCalls(tt.op); got != 2 {
				t.Errorf("%s calls counted: got %d, want 2", tt.op, got)
			}
		})
	}

	t.Run("account filter", func(t *testing.T) {
		e := newEnv(t, nil)
		must(t, e.sb.AddFault(sandbox.Fault{Service: "sts", Code: "Throttling", Account: sandbox.LargeAccount}))
		if err := getCallerIdentity(sts.NewFromConfig(e.cfg)); err != nil {
			t.Errorf("caller in %s: got %v, want success", sandbox.CallerAccount, err)
		}
		if err := getCallerIdentity(sts.NewFromConfig(e.session(t, role))); apiCode(err) != "Throttling" {
			t.Errorf("session in %s: got %v, want Throttling", sandbox.LargeAccount, err)
		}
	})
	t.Run("services apart", func(t *testing.T) {
		e := newEnv(t, nil)
		must(t, e.sb.AddFault(sandbox.Fault{Service: "sts", Code: "ServiceUnavailable"}))
		must(t, e.sb.AddFault(sandbox.Fault{Code: "InternalServerException", Operation: "Converse"}))
		if _, err := invoke(ctx, e.session(t, role), sandbox.SeedProfile); err != nil {
			t.Errorf("InvokeModel under an STS fault: got %v, want success", err)
		}
		if err := getCallerIdentity(sts.NewFromConfig(e.cfg)); apiCode(err) != "ServiceUnavailable" {
			t.Errorf("GetCallerIdentity: got %v, want ServiceUnavailable (and not the Bedrock fault)", err)
		}
	})
	t.Run("drop", func(t *testing.T) {
		e := newEnv(t, nil)
		e.sb.FailNext(sandbox.Fault{Service: "sts", Drop: true, Count: 2})
		client := sts.NewFromConfig(e.cfg)
		for _, call := range []func(*sts.Client) error{getCallerIdentity, assumeRole} {
			if err := call(client); !unanswered(err) {
				t.Errorf("got %v (code %q, status %d), want a transport error and no answer", err, apiCode(err), httpStatus(err))
			}
		}
		if err := assumeRole(client); err != nil {
			t.Errorf("after the dropped calls: %v", err)
		}
		calls := e.sb.Calls()
		if got := calls[0].Outcome; got != "dropped" {
			t.Errorf("recorded outcome %q, want dropped", got)
		}
	})
	t.Run("delay", func(t *testing.T) {
		e := newEnv(t, nil)
		e.sb.FailNext(sandbox.Fault{Service: "sts", Delay: 150 * time.Millisecond})
		start := time.Now()
		if err := getCallerIdentity(sts.NewFromConfig(e.cfg)); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 150*time.Millisecond {
			t.Errorf("call took %v, want at least 150ms", d)
		}
	})
}

// TestBedrockDrop: drop without after_events closes the connection of any Bedrock operation unanswered.
func TestBedrockDrop(t *testing.T) {
	ctx := context.Background()
	_, client, _ := bedrockEnv(t)
	sb := envSB(t, client)
	calls := map[string]func() error{
		"InvokeModel": func() error {
			_, err := client.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(sandbox.SeedProfile), Body: []byte(seedBody)})
			return err
		},
		"Converse": func() error {
			_, err := client.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: aws.String(sandbox.SeedProfile), Messages: userText("hi")})
			return err
		},
		"ConverseStream": func() error {
			out, err := client.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{ModelId: aws.String(sandbox.SeedProfile), Messages: userText("hi")})
			if err == nil {
				out.GetStream().Close()
			}
			return err
		},
	}
	for _, op := range []string{"InvokeModel", "Converse", "ConverseStream"} {
		t.Run(op, func(t *testing.T) {
			sb.FailNext(sandbox.Fault{Drop: true, Operation: op})
			if err := calls[op](); !unanswered(err) {
				t.Errorf("got %v (code %q, status %d), want a transport error and no answer", err, apiCode(err), httpStatus(err))
			}
			rec := sb.Calls()
			if got := rec[len(rec)-1]; got.Operation != op || got.Outcome != "dropped" {
				t.Errorf("recorded %s %q, want %s dropped", got.Operation, got.Outcome, op)
			}
			if err := calls[op](); err != nil {
				t.Errorf("next call: got %v, want success", err)
			}
		})
	}
}

// TestFaultFor: a fault with For is removed that long after it was installed, by the sandbox's clock.
func TestFaultFor(t *testing.T) {
	ctx := context.Background()
	// testClock is a clock each subtest moves by hand (within SigV4's 15 minute skew window).
	testClock := func() (clock func() time.Time, advance func(time.Duration)) {
		var (
			mu  sync.Mutex
			now = time.Now()
		)
		return func() time.Time { mu.Lock(); defer mu.Unlock(); return now },
			func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	}

	t.Run("STS down for 2 s", func(t *testing.T) {
		clock, advance := testClock()
		e := newEnvWith(t, nil, sandbox.WithClock(clock))
		if code, out := adminDo(t, e.url, "POST", "/_sandbox/faults", `{"service":"sts","drop":true,"rate":1,"for_ms":2000}`); code != 200 {
			t.Fatalf("POST /_sandbox/faults: got %d %s, want 200", code, out)
		}
		client := sts.NewFromConfig(e.cfg)
		installed := clock()
		for _, step := range []struct {
			advance time.Duration
			down    bool
		}{{0, true}, {time.Second, true}, {999 * time.Millisecond, true}, {time.Millisecond, false}, {time.Minute, false}} {
			advance(step.advance)
			_, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
			if step.down && !unanswered(err) {
				t.Errorf("%v after install: got %v, want the connection dropped", clock().Sub(installed), err)
			}
			if !step.down && err != nil {
				t.Errorf("%v after install: got %v, want success (past for_ms)", clock().Sub(installed), err)
			}
		}
		// Removed, not only past its time: a clock set back to within for_ms does not bring it back.
		advance(-time.Minute - time.Second)
		if _, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
			t.Errorf("clock set back after expiry: got %v, want success (the fault is gone)", err)
		}
	})
	t.Run("with count", func(t *testing.T) {
		clock, advance := testClock()
		e := newEnvWith(t, nil, sandbox.WithClock(clock))
		cfg := e.session(t, sandbox.TargetRoleARN(sandbox.LargeAccount))
		must(t, e.sb.AddFault(sandbox.Fault{Code: "ServiceUnavailableException", Count: 3, For: 2 * time.Second}))
		if _, err := invoke(ctx, cfg, sandbox.SeedProfile); apiCode(err) != "ServiceUnavailableException" {
			t.Fatalf("first call: got %v, want ServiceUnavailableException", err)
		}
		advance(2 * time.Second)
		if _, err := invoke(ctx, cfg, sandbox.SeedProfile); err != nil {
			t.Errorf("after for, two uses left: got %v, want success", err)
		}
	})
	t.Run("every request", func(t *testing.T) {
		clock, advance := testClock()
		e := newEnvWith(t, nil, sandbox.WithClock(clock))
		cfg := e.session(t, sandbox.TargetRoleARN(sandbox.LargeAccount))
		must(t, e.sb.AddFault(sandbox.Fault{Code: "ThrottlingException", ForMillis: 500}))
		for i := 0; i < 3; i++ {
			if _, err := invoke(ctx, cfg, sandbox.SeedProfile); apiCode(err) != "ThrottlingException" {
				t.Errorf("call %d within for_ms: got %v, want ThrottlingException", i, err)
			}
		}
		advance(500 * time.Millisecond)
		if _, err := invoke(ctx, cfg, sandbox.SeedProfile); err != nil {
			t.Errorf("after for_ms: got %v, want success", err)
		}
	})
}

// TestFaultValidation: a fault that makes no sense is refused, by AddFault and with 400 by the admin API,
// naming what is wrong.
func TestFaultValidation(t *testing.T) {
	tests := []struct {
		name  string
		fault sandbox.Fault
		json  string
		want  []string
	}{
		{"nothing", sandbox.Fault{}, `{}`, []string{"needs a code, a delay, drop, end_early or corrupt"}},
		{"drop and end_early", sandbox.Fault{Drop: true, EndEarly: true, AfterEvents: 2}, `{"drop":true,"end_early":true,"after_events":2}`, []string{"drop and end_early"}},
		{"end_early without after_events", sandbox.Fault{EndEarly: true}, `{"end_early":true}`, []string{"end_early needs after_events"}},
		{"corrupt without after_events", sandbox.Fault{Corrupt: true, Drop: true}, `{"corrupt":true,"drop":true}`, []string{"corrupt damages the event after_events names"}},
		{"end_early with a code", sandbox.Fault{EndEarly: true, AfterEvents: 2, Code: "ModelStreamErrorException"}, `{"end_early":true,"after_events":2,"code":"ModelStreamErrorException"}`, []string{"end_early sends no exception frame"}},
		{"STS code on bedrock", sandbox.Fault{Code: "Throttling"}, `{"code":"Throttling"}`, []string{`is an STS error code: set service "sts"`}},
		{"not a code", sandbox.Fault{Code: "Nope"}, `{"code":"Nope"}`, []string{"end in Exception"}},
		{"Bedrock code on sts", sandbox.Fault{Service: "sts", Code: "ThrottlingException"}, `{"service":"sts","code":"ThrottlingException"}`, []string{"STS faults take Throttling, ServiceUnavailable or InternalFailure"}},
		{"other STS code", sandbox.Fault{Service: "sts", Code: "RequestExpired"}, `{"service":"sts","code":"RequestExpired"}`, []string{"STS faults take"}},
		{"unknown service", sandbox.Fault{Service: "s3", Code: "SlowDown"}, `{"service":"s3","code":"SlowDown"}`, []string{`service "s3"`}},
		{"STS stream cut", sandbox.Fault{Service: "sts", Drop: true, AfterEvents: 1}, `{"service":"sts","drop":true,"after_events":1}`, []string{"STS answers are not streams"}},
		{"STS model", sandbox.Fault{Service: "sts", Code: "Throttling", Model: sandbox.SeedProfile}, `{"service":"sts","code":"Throttling","model":"x"}`, []string{"STS requests name no model"}},
		{"STS operation", sandbox.Fault{Service: "sts", Code: "Throttling", Operation: "Converse"}, `{"service":"sts","code":"Throttling","operation":"Converse"}`, []string{"sts faults apply to AssumeRole, GetCallerIdentity"}},
		{"Bedrock operation", sandbox.Fault{Code: "ThrottlingException", Operation: "AssumeRole"}, `{"code":"ThrottlingException","operation":"AssumeRole"}`, []string{"bedrock faults apply to InvokeModel"}},
		{"drop before an answer with a code", sandbox.Fault{Drop: true, Code: "InternalServerException"}, `{"drop":true,"code":"InternalServerException"}`, []string{"drop without after_events", "never sent"}},
		{"after_events on a non-stream", sandbox.Fault{Code: "ModelStreamErrorException", AfterEvents: 2, Operation: "InvokeModel"}, `{"code":"ModelStreamErrorException","after_events":2,"operation":"InvokeModel"}`, []string{"not a stream"}},
		{"a code the operation does not declare", sandbox.Fault{Code: "ServiceQuotaExceededException", Operation: "Converse"},
			`{"code":"ServiceQuotaExceededException","operation":"Converse"}`,
			[]string{`code "ServiceQuotaExceededException": operation Converse does not declare it`, "it declares AccessDeniedException, InternalServerException, ModelErrorException, ModelNotReadyException, ModelTimeoutException, ResourceNotFoundException, ServiceUnavailableException, ThrottlingException, ValidationException"}},
		{"a stream error before the stream", sandbox.Fault{Code: "ModelStreamErrorException", Operation: "ConverseStream"},
			`{"code":"ModelStreamErrorException","operation":"ConverseStream"}`, []string{"operation ConverseStream does not declare it"}},
		{"CountTokens timeout", sandbox.Fault{Code: "ModelTimeoutException", Operation: "CountTokens"},
			`{"code":"ModelTimeoutException","operation":"CountTokens"}`, []string{"operation CountTokens does not declare it", "it declares AccessDeniedException"}},
		{"a mid-stream code the stream does not declare", sandbox.Fault{Code: "ModelTimeoutException", AfterEvents: 2, Operation: "ConverseStream"},
			`{"code":"ModelTimeoutException","after_events":2,"operation":"ConverseStream"}`,
			[]string{`code "ModelTimeoutException" with after_events`, "operation ConverseStream's stream does not declare it", "its exception events: InternalServerException, ModelStreamErrorException, ServiceUnavailableException, ThrottlingException, ValidationException"}},
		{"a mid-stream code no stream declares", sandbox.Fault{Code: "ModelErrorException", AfterEvents: 2},
			`{"code":"ModelErrorException","after_events":2}`,
			[]string{"no stream declares it as an exception event", "InvokeModelWithResponseStream's: InternalServerException, ModelStreamErrorException, ModelTimeoutException"}},
		{"not a Bedrock Runtime error", sandbox.Fault{Code: "UnrecognizedClientException"}, `{"code":"UnrecognizedClientException"}`,
			[]string{"no Bedrock Runtime operation declares it", "the service model declares AccessDeniedException, ConflictException"}},
		{"after_events on CountTokens", sandbox.Fault{Code: "ThrottlingException", AfterEvents: 2, Operation: "CountTokens"},
			`{"code":"ThrottlingException","after_events":2,"operation":"CountTokens"}`, []string{"operation CountTokens is not a stream"}},
		{"count and rate", sandbox.Fault{Code: "ThrottlingException", Count: 2, Rate: 0.5}, `{"code":"ThrottlingException","count":2,"rate":0.5}`, []string{"count and rate are alternatives"}},
		{"negative count", sandbox.Fault{Code: "ThrottlingException", Count: -1}, `{"code":"ThrottlingException","count":-1}`, []string{"count -1 is negative"}},
		{"negative for", sandbox.Fault{Code: "ThrottlingException", ForMillis: -5}, `{"code":"ThrottlingException","for_ms":-5}`, []string{"for_ms is negative"}},
		{"rate", sandbox.Fault{Code: "ThrottlingException", Rate: 2}, `{"code":"ThrottlingException","rate":2}`, []string{"rate 2 is outside 0..1"}},
		{"every problem at once", sandbox.Fault{Service: "sts", Code: "ThrottlingException", Model: "m", EndEarly: true},
			`{"service":"sts","code":"ThrottlingException","model":"m","end_early":true}`,
			[]string{"STS faults take", "STS requests name no model", "STS answers are not streams", "end_early needs after_events"}},
	}
	e := newEnv(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := e.sb.AddFault(tt.fault)
			if err == nil {
				t.Fatalf("AddFault(%+v): got nil, want an error", tt.fault)
			}
			code, body := adminDo(t, e.url, "POST", "/_sandbox/faults", tt.json)
			if code != 400 {
				t.Errorf("POST /_sandbox/faults %s: got %d %s, want 400", tt.json, code, body)
			}
			var out struct{ Error string }
			must(t, json.Unmarshal([]byte(body), &out))
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("AddFault: got %q, want it to say %q", err, want)
				}
				if !strings.Contains(out.Error, want) {
					t.Errorf("admin API: got %q, want it to say %q", out.Error, want)
				}
			}
		})
	}
	t.Run("valid", func(t *testing.T) {
		for _, f := range []sandbox.Fault{
			{Service: "sts", Drop: true, Rate: 1, ForMillis: 2000},
			{Service: "sts", Code: "InternalFailure", Operation: "AssumeRole", Account: sandbox.CallerAccount, Count: 2, For: time.Second},
			{Service: "bedrock", Drop: true, Operation: "InvokeModel"},
			{EndEarly: true, AfterEvents: 2, Operation: "InvokeModelWithResponseStream"},
			{Code: "ModelStreamErrorException", AfterEvents: 2, Drop: true, Count: 3},
			{Drop: true, AfterEvents: 1},
			{Code: "ModelTimeoutException", AfterEvents: 2},                            // InvokeModelWithResponseStream's stream
			{Code: "ServiceQuotaExceededException"},                                    // InvokeModel, ApplyGuardrail, ...
			{Code: "ConflictException", Operation: "StartAsyncInvoke"},                 // its one operation
			{Code: "ResourceNotFoundException", Operation: "ApplyGuardrail", Count: 1}, // state-dependent, faultable all the same
			{Code: "ServiceUnavailableException", Account: sandbox.SmallAccount, Region: "ap-northeast-3"},
			{Delay: time.Millisecond, Operation: "ListAsyncInvokes"},
		} {
			if err := e.sb.AddFault(f); err != nil {
				t.Errorf("AddFault(%+v): %v", f, err)
			}
		}
		e.sb.ClearFaults()
	})
}

// typedError is the name of the Bedrock Runtime exception type the Go SDK parsed err into, "" when it is not
// one of them (a *smithy.GenericAPIError for a code the operation does not declare, say).
func typedError(err error) string {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return ""
	}
	t := reflect.TypeOf(ae)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.PkgPath() != "github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types" {
		return ""
	}
	return t.Name()
}

// bedrockCalls are one call of each Bedrock Runtime operation the Go SDK makes against bedrockEnv's
// sandbox. A stream operation returns the error of its start, and its stream's Err() after reading it out.
func bedrockCalls(ctx context.Context, client *bedrockruntime.Client) map[string]func() (start, stream error) {
	profile := aws.String(sandbox.SeedProfile)
	return map[string]func() (error, error){
		"InvokeModel": func() (error, error) {
			_, err := client.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: profile, Body: []byte(seedBody)})
			return err, nil
		},
		"InvokeModelWithResponseStream": func() (error, error) {
			out, err := client.InvokeModelWithResponseStream(ctx, &bedrockruntime.InvokeModelWithResponseStreamInput{ModelId: profile, Body: []byte(seedBody)})
			if err != nil {
				return err, nil
			}
			defer out.GetStream().Close()
			for range out.GetStream().Events() {
			}
			return nil, out.GetStream().Err()
		},
		"Converse": func() (error, error) {
			_, err := client.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: profile, Messages: userText("hi")})
			return err, nil
		},
		"ConverseStream": func() (error, error) {
			out, err := client.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{ModelId: profile, Messages: userText("hi")})
			if err != nil {
				return err, nil
			}
			defer out.GetStream().Close()
			for range out.GetStream().Events() {
			}
			return nil, out.GetStream().Err()
		},
		"CountTokens": func() (error, error) {
			_, err := client.CountTokens(ctx, &bedrockruntime.CountTokensInput{ModelId: aws.String(seedFM),
				Input: &brtypes.CountTokensInputMemberInvokeModel{Value: brtypes.InvokeModelTokensRequest{Body: []byte(seedBody)}}})
			return err, nil
		},
	}
}

// TestFaultsDeclaredErrors: every error an operation declares, injected into it, reaches the Go SDK as the
// operation's typed exception with the status of the service model; every exception event a stream union
// declares, injected mid-stream, comes out of the stream's Err() typed.
func TestFaultsDeclaredErrors(t *testing.T) {
	ctx := context.Background()
	_, client, _ := bedrockEnv(t)
	sb := envSB(t, client)
	calls := bedrockCalls(ctx, client)
	for _, op := range slices.Sorted(maps.Keys(calls)) {
		errs, streamErrs := sandbox.DeclaredErrors(op)
		if len(errs) == 0 {
			t.Fatalf("%s declares no errors", op)
		}
		for _, code := range errs {
			t.Run(op+" "+code, func(t *testing.T) {
				sb.FailNext(sandbox.Fault{Code: code, Operation: op})
				err, _ := calls[op]()
				if got := typedError(err); got != code {
					t.Errorf("got %v (%T), want the SDK's typed %s", err, errors.Unwrap(err), code)
				}
				if got, want := httpStatus(err), sandbox.DeclaredStatus(code); got != want {
					t.Errorf("status: got %d, want %d", got, want)
				}
			})
		}
		for _, code := range streamErrs {
			t.Run(op+" stream "+code, func(t *testing.T) {
				sb.FailNext(sandbox.Fault{Code: code, Operation: op, AfterEvents: 1})
				start, err := calls[op]()
				if start != nil {
					t.Fatalf("start: got %v, want the stream to start", start)
				}
				if got := typedError(err); got != code {
					t.Errorf("Err(): got %v (%T), want the SDK's typed %s", err, err, code)
				}
			})
		}
	}
	// The case of issue #13: InvokeModelWithResponseStream's stream declares modelTimeoutException, and the
	// SDK types it; ConverseStream's does not, and the fault is refused.
	sb.FailNext(sandbox.Fault{Code: "ModelTimeoutException", Operation: "InvokeModelWithResponseStream", AfterEvents: 2})
	var mte *brtypes.ModelTimeoutException
	if _, err := calls["InvokeModelWithResponseStream"](); !errors.As(err, &mte) {
		t.Errorf("InvokeModelWithResponseStream mid-stream ModelTimeoutException: got %v (%T), want *types.ModelTimeoutException", err, err)
	}
	err := sb.AddFault(sandbox.Fault{Code: "ModelTimeoutException", Operation: "ConverseStream", AfterEvents: 2})
	if err == nil || !strings.Contains(err.Error(), "ConverseStream's stream does not declare it") || !strings.Contains(err.Error(), "its exception events: InternalServerException, ModelStreamErrorException") {
		t.Errorf("ConverseStream mid-stream ModelTimeoutException: got %v, want it refused naming the stream's exception events", err)
	}
}

// TestFaultsOnlyWhereDeclared: a fault without an operation fails only the operations that declare its code
// (mid-stream: whose stream union declares it); the others are served.
func TestFaultsOnlyWhereDeclared(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		fault   sandbox.Fault
		failed  []string // the operations that fail, with the typed code
		stream  bool     // failed mid-stream, from Err()
		skipped []string // the operations that are served
	}{
		{sandbox.Fault{Code: "ServiceQuotaExceededException"}, []string{"InvokeModel", "InvokeModelWithResponseStream"}, false,
			[]string{"Converse", "ConverseStream", "CountTokens"}},
		{sandbox.Fault{Code: "ModelStreamErrorException"}, []string{"InvokeModelWithResponseStream"}, false,
			[]string{"InvokeModel", "Converse", "ConverseStream", "CountTokens"}},
		{sandbox.Fault{Code: "ModelTimeoutException"}, []string{"InvokeModel", "InvokeModelWithResponseStream", "Converse", "ConverseStream"}, false,
			[]string{"CountTokens"}},
		{sandbox.Fault{Code: "ModelTimeoutException", AfterEvents: 2}, []string{"InvokeModelWithResponseStream"}, true,
			[]string{"InvokeModel", "Converse", "ConverseStream", "CountTokens"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s after %d", tt.fault.Code, tt.fault.AfterEvents), func(t *testing.T) {
			_, client, _ := bedrockEnv(t)
			must(t, envSB(t, client).AddFault(tt.fault)) // until cleared
			calls := bedrockCalls(ctx, client)
			for _, op := range tt.skipped {
				if start, stream := calls[op](); start != nil || stream != nil {
					t.Errorf("%s: got %v, %v; want it served (it does not declare %s)", op, start, stream, tt.fault.Code)
				}
			}
			for _, op := range tt.failed {
				start, stream := calls[op]()
				err := start
				if tt.stream {
					err = stream
				}
				if got := typedError(err); got != tt.fault.Code {
					t.Errorf("%s: got %v, %v; want the typed %s", op, start, stream, tt.fault.Code)
				}
			}
		})
	}
}

// TestFaultScopes: a fault scoped to an account, a region or both fails only the requests of that account
// signed for that region.
func TestFaultScopes(t *testing.T) {
	ctx := context.Background()
	const other = "ap-northeast-3"
	tests := []struct {
		name  string
		fault sandbox.Fault
		fails map[[2]string]bool // account, region → fails
	}{
		{"account", sandbox.Fault{Code: "ThrottlingException", Account: sandbox.SmallAccount},
			map[[2]string]bool{{sandbox.SmallAccount, sandbox.SeedRegion}: true, {sandbox.SmallAccount, other}: true}},
		{"region", sandbox.Fault{Code: "ThrottlingException", Region: other},
			map[[2]string]bool{{sandbox.SmallAccount, other}: true, {sandbox.LargeAccount, other}: true}},
		{"account and region", sandbox.Fault{Code: "ThrottlingException", Account: sandbox.LargeAccount, Region: other},
			map[[2]string]bool{{sandbox.LargeAccount, other}: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			must(t, e.sb.AddFault(tt.fault))
			for _, acct := range []string{sandbox.SmallAccount, sandbox.LargeAccount} {
				role := sandbox.TargetRoleARN(acct)
				e.allowAllBedrock(t, role)
				e.sb.SetQuota(acct, sandbox.SeedProfile, sandbox.Quota{})
				for _, region := range []string{sandbox.SeedRegion, other} {
					cfg := e.session(t, role)
					cfg.Region = region
					_, err := invoke(ctx, cfg, sandbox.SeedProfile)
					if tt.fails[[2]string{acct, region}] {
						if typedError(err) != "ThrottlingException" {
							t.Errorf("%s in %s: got %v, want ThrottlingException", acct, region, err)
						}
					} else if err != nil {
						t.Errorf("%s in %s: got %v, want success (the fault is scoped to account %q, region %q)", acct, region, err, tt.fault.Account, tt.fault.Region)
					}
				}
			}
		})
	}
}
