package router_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"

	"github.com/bedrock-relay/bedrock-relay/ratelimit"
	"github.com/bedrock-relay/bedrock-relay/router"
	"github.com/bedrock-relay/bedrock-relay/upstream"
)

const benchFM = "anthropic.claude-sonnet-4-5-20250929-v1:0"
const benchProfile = "jp." + benchFM

// cannedSender answers every request from memory, so the benchmarks measure the router alone.
type cannedSender struct {
	header http.Header
	body   []byte
}

func (s cannedSender) Do(ctx context.Context, r *upstream.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Header: s.header, Body: io.NopCloser(bytes.NewReader(s.body)), ContentLength: int64(len(s.body))}, nil
}

// benchRouter is a router over n targets serving the bench model, each answering with s.
func benchRouter(b *testing.B, n int, budgets bool, s router.Sender) *router.Router {
	b.Helper()
	var ts []*router.Member
	for i := 0; i < n; i++ {
		t := &router.Member{Name: fmt.Sprintf("t%d", i), Account: fmt.Sprintf("%012d", i+2), Region: "ap-northeast-1",
			Models: map[string]string{benchFM: benchProfile}, Budgets: map[string]ratelimit.Budget{}}
		if budgets {
			t.Budgets[benchFM] = ratelimit.Budget{RequestsPerMinute: 1 << 30, TokensPerMinute: 1 << 40}
		}
		ts = append(ts, t)
	}
	r, err := router.New(ts, router.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, t := range ts {
		r.SetSender(t, s)
	}
	return r
}

var invokeAnswer = cannedSender{
	header: http.Header{"Content-Type": {"application/json"}, "X-Amzn-Bedrock-Input-Token-Count": {"12"}, "X-Amzn-Bedrock-Output-Token-Count": {"50"}},
	body:   []byte(`{"id":"msg_bench","type":"message","role":"assistant","model":"claude","content":[{"type":"text","text":"hello"}],"stop_reason":"end_turn","usage":{"input_tokens":12,"output_tokens":50}}`),
}

// BenchmarkDoInvoke is routing one InvokeModel: resolve the model, scan max_tokens, pick a target by
// headroom, reserve and settle its budget, read the answer.
func BenchmarkDoInvoke(b *testing.B) {
	for _, tc := range []struct {
		targets int
		budgets bool
	}{{1, false}, {2, false}, {2, true}, {8, true}} {
		b.Run(fmt.Sprintf("targets=%d/budgets=%v", tc.targets, tc.budgets), func(b *testing.B) {
			r := benchRouter(b, tc.targets, tc.budgets, invokeAnswer)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				// A fresh Request each time: Do fills in MaxTokens and InputTokens.
				res, err := r.Do(ctx, &router.Request{Op: upstream.OpInvoke, Model: benchProfile, Body: []byte(body)})
				if err != nil {
					b.Fatal(err)
				}
				_ = res
			}
		})
	}
}

// BenchmarkDoInvokeParallel is the same under contention (the router's mutex and the budget table).
func BenchmarkDoInvokeParallel(b *testing.B) {
	r := benchRouter(b, 2, true, invokeAnswer)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if _, err := r.Do(ctx, &router.Request{Op: upstream.OpInvoke, Model: benchProfile, Body: []byte(body)}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkResolve(b *testing.B) {
	r := benchRouter(b, 2, false, invokeAnswer)
	for _, m := range []string{benchFM, benchProfile, "us." + benchFM} {
		b.Run(m[:3], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Resolve(m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkScanMaxTokens(b *testing.B) {
	in := []byte(body)
	b.ReportAllocs()
	for b.Loop() {
		if router.ScanMaxTokens(in) != 100 {
			b.Fatal("max_tokens not found")
		}
	}
}

// converseStreamBody is a ConverseStream answer of n text deltas, encoded as Bedrock sends it.
func converseStreamBody(b *testing.B, n int) []byte {
	var buf bytes.Buffer
	enc := eventstream.NewEncoder()
	frame := func(typ, payload string) {
		var m eventstream.Message
		m.Headers.Set(":message-type", eventstream.StringValue("event"))
		m.Headers.Set(":event-type", eventstream.StringValue(typ))
		m.Headers.Set(":content-type", eventstream.StringValue("application/json"))
		m.Payload = []byte(payload)
		if err := enc.Encode(&buf, m); err != nil {
			b.Fatal(err)
		}
	}
	frame("messageStart", `{"role":"assistant","p":"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"}`)
	for i := 0; i < n; i++ {
		frame("contentBlockDelta", `{"contentBlockIndex":0,"delta":{"text":" word word word word"},"p":"abcdefghijklmnopqrstuvwxyzABCDEF"}`)
	}
	frame("contentBlockStop", `{"contentBlockIndex":0}`)
	frame("messageStop", `{"stopReason":"end_turn"}`)
	frame("metadata", `{"usage":{"inputTokens":12,"outputTokens":`+strconv.Itoa(4*n)+`,"totalTokens":`+strconv.Itoa(12+4*n)+`},"metrics":{"latencyMs":100}}`)
	return buf.Bytes()
}

// BenchmarkStreamPassthrough routes a ConverseStream and passes every frame on: the per-frame cost is
// reading the prelude, copying the frame, decoding its headers for exceptions and usage.
func BenchmarkStreamPassthrough(b *testing.B) {
	for _, n := range []int{10, 100} {
		b.Run(fmt.Sprintf("deltas=%d", n), func(b *testing.B) {
			payload := converseStreamBody(b, n)
			r := benchRouter(b, 2, true, cannedSender{header: http.Header{"Content-Type": {"application/vnd.amazon.eventstream"}}, body: payload})
			ctx := context.Background()
			in := []byte(`{"messages":[{"role":"user","content":[{"text":"hi"}]}],"inferenceConfig":{"maxTokens":1024}}`)
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			for b.Loop() {
				res, err := r.Do(ctx, &router.Request{Op: upstream.OpConverseStream, Model: benchProfile, Body: in})
				if err != nil {
					b.Fatal(err)
				}
				frames := 0
				for {
					_, err := res.Stream.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					frames++
				}
				res.Stream.Close()
				if frames != n+4 {
					b.Fatalf("got %d frames, want %d", frames, n+4)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n+4), "ns/frame")
		})
	}
}
