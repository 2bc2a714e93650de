package sandbox_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

// newEnvWith is newEnv with sandbox options (a clock, a logger).
func newEnvWith(t *testing.T, sc *sandbox.Scenario, opts ...sandbox.Option) *env {
	t.Helper()
	sb, err := sandbox.New(sc, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(sb)
	t.Cleanup(ts.Close)
	return &env{sb: sb, url: ts.URL, cfg: sdkConfig(ts.URL, credentials.StaticCredentialsProvider{Value: sb.CallerCredentials()})}
}

// static is SDK configuration signing with fixed keys.
func (e *env) static(id, secret, token string) aws.Config {
	return sdkConfig(e.url, credentials.NewStaticCredentialsProvider(id, secret, token))
}

// session is SDK configuration for a session of roleARN issued out of band.
func (e *env) session(t *testing.T, roleARN string) aws.Config {
	t.Helper()
	c, err := e.sb.SessionFor(roleARN, "test-session", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return sdkConfig(e.url, credentials.StaticCredentialsProvider{Value: c})
}

// allowAllBedrock lets roleARN call every Bedrock Runtime action on every resource, so tests of model ids are
// not tests of the seed's narrow permission policy.
func (e *env) allowAllBedrock(t *testing.T, roleARN string) {
	t.Helper()
	if err := e.sb.SetRolePolicy(roleARN, "AllBedrock", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:*","Resource":"*"}]}`); err != nil {
		t.Fatal(err)
	}
}

// httpStatus is the HTTP status of an SDK error, 0 if it has none.
func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// headerRecorder is an HTTP client that keeps the headers of the last response, for checks of what the SDK
// does not surface.
type headerRecorder struct {
	mu   sync.Mutex
	last http.Header
	base *http.Client
}

func (h *headerRecorder) Do(r *http.Request) (*http.Response, error) {
	resp, err := h.base.Do(r)
	if resp != nil {
		h.mu.Lock()
		h.last = resp.Header.Clone()
		h.mu.Unlock()
	}
	return resp, err
}

func (h *headerRecorder) Header() http.Header {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last
}
