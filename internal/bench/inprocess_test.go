package bench

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go/encoding/httpbinding"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bedrock-relay/bedrock-relay/config"
	"github.com/bedrock-relay/bedrock-relay/internal/httpapi"
	"github.com/bedrock-relay/bedrock-relay/router"
	"github.com/bedrock-relay/bedrock-relay/upstream"
)

// The in-process benchmarks put the relay's handler (httpapi over router over upstream) and the reference
// proxy side by side with the same canned upstream and no network, so that ns/op and allocs/op are the
// relay's own code. Profile the relay's hot path with
//
//	go test ./bench -run XXX -bench 'InProcess/relay' -cpuprofile /tmp/relay.cpu && go tool pprof -top /tmp/relay.cpu

const fm = "anthropic.claude-sonnet-4-5-20250929-v1:0"

// canned answers every upstream request from memory.
type canned struct {
	header http.Header
	body   []byte
}

func (c canned) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	h := make(http.Header, len(c.header))
	for k, v := range c.header {
		h[k] = v
	}
	return &http.Response{StatusCode: 200, Header: h, Body: io.NopCloser(bytes.NewReader(c.body)), ContentLength: int64(len(c.body)), Request: r}, nil
}

func invokeCanned() canned {
	return canned{header: http.Header{"Content-Type": {"application/json"}, "X-Amzn-Bedrock-Input-Token-Count": {"12"},
		"X-Amzn-Bedrock-Output-Token-Count": {"50"}, "X-Amzn-Requestid": {"bench"}},
		body: []byte(`{"id":"msg_bench","type":"message","role":"assistant","model":"claude","content":[{"type":"text","text":"hello hello hello hello hello hello hello hello hello hello"}],"stop_reason":"end_turn","usage":{"input_tokens":12,"output_tokens":50}}`)}
}

func converseCanned() canned {
	return canned{header: http.Header{"Content-Type": {"application/json"}, "X-Amzn-Requestid": {"bench"}},
		body: []byte(`{"output":{"message":{"role":"assistant","content":[{"text":"hello hello hello hello hello hello hello hello hello hello"}]}},"stopReason":"end_turn","usage":{"inputTokens":12,"outputTokens":50,"totalTokens":62},"metrics":{"latencyMs":100}}`)}
}

// streamCanned is a ConverseStream of n text deltas, framed as Bedrock frames it.
func streamCanned(tb testing.TB, n int) canned {
	var buf bytes.Buffer
	enc := eventstream.NewEncoder()
	frame := func(typ, payload string) {
		var m eventstream.Message
		m.Headers.Set(":message-type", eventstream.StringValue("event"))
		m.Headers.Set(":event-type", eventstream.StringValue(typ))
		m.Headers.Set(":content-type", eventstream.StringValue("application/json"))
		m.Payload = []byte(payload)
		if err := enc.Encode(&buf, m); err != nil {
			tb.Fatal(err)
		}
	}
	frame("messageStart", `{"role":"assistant","p":"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"}`)
	for i := 0; i < n; i++ {
		frame("contentBlockDelta", `{"contentBlockIndex":0,"delta":{"text":" hello hello hello hello"},"p":"abcdefghijklmnopqrstuvwxyzABCDEF"}`)
	}
	frame("contentBlockStop", `{"contentBlockIndex":0}`)
	frame("messageStop", `{"stopReason":"end_turn"}`)
	frame("metadata", `{"usage":{"inputTokens":12,"outputTokens":`+strconv.Itoa(4*n)+`,"totalTokens":`+strconv.Itoa(12+4*n)+`},"metrics":{"latencyMs":100}}`)
	return canned{header: http.Header{"Content-Type": {"application/vnd.amazon.eventstream"}, "X-Amzn-Requestid": {"bench"}}, body: buf.Bytes()}
}

// invokeStreamCanned is an InvokeModelWithResponseStream of a Claude model with n text deltas: each chunk
// frame carries one Anthropic event, base64 in {"bytes": ...}, the last with Bedrock's invocation metrics.
func invokeStreamCanned(tb testing.TB, n int) canned {
	var buf bytes.Buffer
	enc := eventstream.NewEncoder()
	chunk := func(event string) {
		var m eventstream.Message
		m.Headers.Set(":message-type", eventstream.StringValue("event"))
		m.Headers.Set(":event-type", eventstream.StringValue("chunk"))
		m.Headers.Set(":content-type", eventstream.StringValue("application/json"))
		m.Payload = []byte(`{"bytes":"` + base64.StdEncoding.EncodeToString([]byte(event)) + `","p":"abcdefghijklmnopqrstuvwxyzABCDEF"}`)
		if err := enc.Encode(&buf, m); err != nil {
			tb.Fatal(err)
		}
	}
	chunk(`{"type":"message_start","message":{"id":"msg_bench","type":"message","role":"assistant","model":"claude","content":[],"stop_reason":null,"usage":{"input_tokens":12,"output_tokens":1}}}`)
	chunk(`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)
	for i := 0; i < n; i++ {
		chunk(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" hello hello hello hello"}}`)
	}
	chunk(`{"type":"content_block_stop","index":0}`)
	chunk(`{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":` + strconv.Itoa(4*n) + `}}`)
	chunk(`{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":12,"outputTokenCount":` + strconv.Itoa(4*n) + `,"invocationLatency":100,"firstByteLatency":10}}`)
	return canned{header: http.Header{"Content-Type": {"application/vnd.amazon.eventstream"}, "X-Amzn-Requestid": {"bench"},
		"X-Amzn-Bedrock-Content-Type": {"application/json"}}, body: buf.Bytes()}
}

var benchCreds = aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider("ASIABENCHEXAMPLE0001", "benchSecretKeyBenchSecretKeyBenchSecret0", "bench-session-token"))

// relayHandler is the relay's API handler over targets whose upstream answers with rt.
func relayHandler(tb testing.TB, targets int, rt http.RoundTripper) http.Handler {
	var ts []*router.Member
	for i := 0; i < targets; i++ {
		c, err := upstream.New(context.Background(), upstream.Options{Region: "ap-northeast-1", BaseEndpoint: "http://127.0.0.1:1",
			Credentials: benchCreds, HTTPClient: &http.Client{Transport: rt}})
		if err != nil {
			tb.Fatal(err)
		}
		ts = append(ts, &router.Member{Name: fmt.Sprintf("t%d", i), Account: fmt.Sprintf("%012d", i+2), Region: "ap-northeast-1",
			Models: map[string]string{fm: benchModel}, Client: c})
	}
	// Metrics on, as `serve` has them.
	reg := prometheus.NewRegistry()
	r, err := router.New(ts, router.Options{Metrics: router.NewMetrics(reg)})
	if err != nil {
		tb.Fatal(err)
	}
	return httpapi.NewHandler(httpapi.Deps{Router: r, Auth: config.Auth{Mode: "none"}, Metrics: httpapi.NewMetrics(reg)})
}

func proxyHandler(rt http.RoundTripper) http.Handler {
	base, _ := url.Parse("http://127.0.0.1:1")
	return &refProxy{base: base, region: "ap-northeast-1", creds: benchCreds, signer: v4.NewSigner(), hc: &http.Client{Transport: rt}}
}

// discardWriter is a ResponseWriter that keeps nothing, so the benchmark measures the handler alone.
type discardWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.status = code }
func (w *discardWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }
func (w *discardWriter) Flush()                      {}

func serveOnce(tb testing.TB, h http.Handler, path string, body []byte, hdr http.Header) int {
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	for k, v := range hdr {
		req.Header[k] = v
	}
	w := &discardWriter{h: http.Header{}}
	h.ServeHTTP(w, req)
	if w.status != 0 && w.status != 200 {
		tb.Fatalf("status %d", w.status)
	}
	return w.n
}

// inProcessCase is one API path through the relay's handler (and the proxy's, where the proxy speaks it).
type inProcessCase struct {
	name string
	op   op
	rt   http.RoundTripper
}

// inProcessCases are the paths measured in-process. The translated APIs are compared with the Bedrock
// operation the relay answers them with, through the proxy.
func inProcessCases(tb testing.TB) []inProcessCase {
	o := ops(50)
	return []inProcessCase{
		{"InvokeModel", o["InvokeModel"], invokeCanned()},
		{"Converse", o["Converse"], converseCanned()},
		{"OpenAI", o["OpenAI"], converseCanned()},
		{"ConverseStream-100deltas", o["ConverseStream"], streamCanned(tb, 100)},
		{"OpenAIStream-100deltas", o["OpenAIStream"], streamCanned(tb, 100)},
		{"InvokeModelWithResponseStream-100deltas", o["InvokeModelWithResponseStream"], invokeStreamCanned(tb, 100)},
		{"Anthropic", o["Anthropic"], invokeCanned()},
		{"AnthropicStream-100deltas", o["AnthropicStream"], invokeStreamCanned(tb, 100)},
	}
}

// inProcessPath is the URL path of an op on the relay (and the proxy).
func inProcessPath(o op) string {
	if o.relayOnly() {
		return o.path
	}
	return "/model/" + httpbinding.EscapePath(benchModel, true) + "/" + o.path
}

func inProcessHeader(o op) http.Header {
	hdr := http.Header{"Content-Type": {"application/json"}}
	if o.anthropic {
		hdr.Set("Anthropic-Version", "2023-06-01")
	}
	return hdr
}

type inProcessSystem struct {
	name string
	h    http.Handler
}

// inProcessSystems are the proxy (for a path it speaks) and the relay, over the case's canned upstream.
func inProcessSystems(tb testing.TB, c inProcessCase) []inProcessSystem {
	systems := []inProcessSystem{{"proxy", proxyHandler(c.rt)}, {"relay", relayHandler(tb, 2, c.rt)}}
	if c.op.relayOnly() {
		systems = systems[1:]
	}
	return systems
}

func BenchmarkInProcess(b *testing.B) {
	for _, c := range inProcessCases(b) {
		hdr := inProcessHeader(c.op)
		for _, sys := range inProcessSystems(b, c) {
			b.Run(c.name+"/"+sys.name, func(b *testing.B) {
				if n := serveOnce(b, sys.h, inProcessPath(c.op), c.op.body, hdr); n == 0 {
					b.Fatal("empty answer")
				}
				b.ReportAllocs()
				for b.Loop() {
					serveOnce(b, sys.h, inProcessPath(c.op), c.op.body, hdr)
				}
			})
		}
	}
}

// TestInProcessAnswersMatch checks that the relay and the proxy pass the canned answers through whole.
func TestInProcessAnswersMatch(t *testing.T) {
	o := ops(50)
	for _, c := range []struct {
		op op
		rt canned
	}{{o["InvokeModel"], invokeCanned()}, {o["ConverseStream"], streamCanned(t, 10)}} {
		path := "/model/" + httpbinding.EscapePath(benchModel, true) + "/" + c.op.path
		hdr := http.Header{"Content-Type": {"application/json"}}
		if got := serveOnce(t, proxyHandler(c.rt), path, c.op.body, hdr); got != len(c.rt.body) {
			t.Errorf("%s proxy: got %d bytes, want %d", c.op.name, got, len(c.rt.body))
		}
		if got := serveOnce(t, relayHandler(t, 2, c.rt), path, c.op.body, hdr); got != len(c.rt.body) {
			t.Errorf("%s relay: got %d bytes, want %d", c.op.name, got, len(c.rt.body))
		}
	}
}
