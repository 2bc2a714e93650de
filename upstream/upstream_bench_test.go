package upstream_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/bedrock-relay/bedrock-relay/upstream"
)

// cannedTransport answers every request with the same 200 and no network: what is left is building,
// signing and sending the request through net/http's client.
type cannedTransport struct{ body []byte }

func (t cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(t.body)), ContentLength: int64(len(t.body)), Request: r}, nil
}

func benchCreds() aws.CredentialsProvider {
	return aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider("ASIABENCHEXAMPLE0001", "benchSecretKeyBenchSecretKeyBenchSecret0", "bench-session-token"))
}

func requestBody(n int) []byte {
	prefix := `{"anthropic_version":"bedrock-2023-05-31","max_tokens":1024,"messages":[{"role":"user","content":"`
	return []byte(prefix + strings.Repeat("a", max(0, n-len(prefix)-4)) + `"}]}`)
}

// BenchmarkSignAndSend is the forwarding cost of one request without a network: credentials from the cache,
// URL building, SHA-256 of the body, SigV4 and the client round trip to a canned answer.
func BenchmarkSignAndSend(b *testing.B) {
	for _, size := range []int{200, 10 << 10, 100 << 10} {
		b.Run(fmt.Sprintf("body=%d", size), func(b *testing.B) {
			c, err := upstream.New(context.Background(), upstream.Options{Region: "ap-northeast-1", BaseEndpoint: "http://127.0.0.1:1",
				Credentials: benchCreds(), HTTPClient: &http.Client{Transport: cannedTransport{body: []byte(`{"content":[]}`)}}})
			if err != nil {
				b.Fatal(err)
			}
			req := &upstream.Request{Op: upstream.OpInvoke, ModelID: "jp.anthropic.claude-sonnet-4-5-20250929-v1:0", Body: requestBody(size),
				Header: http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}}}
			ctx := context.Background()
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				resp, err := c.Do(ctx, req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}

// BenchmarkLoopback adds a real HTTP/1.1 exchange over 127.0.0.1 to a server that answers at once; the
// server's own work is in the numbers too, so compare sizes, not with BenchmarkSignAndSend.
func BenchmarkLoopback(b *testing.B) {
	answer := bytes.Repeat([]byte("x"), 2<<10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(answer)
	}))
	defer srv.Close()
	c, err := upstream.New(context.Background(), upstream.Options{Region: "ap-northeast-1", BaseEndpoint: srv.URL, Credentials: benchCreds()})
	if err != nil {
		b.Fatal(err)
	}
	req := &upstream.Request{Op: upstream.OpInvoke, ModelID: "jp.anthropic.claude-sonnet-4-5-20250929-v1:0", Body: requestBody(1 << 10)}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := c.Do(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
