package sandbox_test

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	brtypes "github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

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
