package upstream

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// Call is a Bedrock Runtime request outside /model/{modelId}/{op}: ApplyGuardrail
// (POST /guardrail/{id}/version/{version}/apply) and the async-invoke operations (POST and GET /async-invoke,
// GET /async-invoke/{invocationArn}). The relay passes them on as they came, signed for the target.
type Call struct {
	Method string
	// Path is the escaped path, as it goes on the wire ("/async-invoke/arn%3Aaws%3Abedrock%3A...").
	Path     string
	RawQuery string
	Body     []byte
	// Header carries the caller's headers to pass on (Content-Type, Accept).
	Header http.Header
}

// DoCall sends c as Do sends a model request: a 2xx answer is returned with its body unread (the caller must
// close it), any other answer as *Error; stale credentials are dropped and the call retried once.
func (c *Client) DoCall(ctx context.Context, call *Call) (*http.Response, error) {
	start := c.now()
	resp, err := c.doCall(ctx, call)
	var ue *Error
	if err == nil || !errors.As(err, &ue) || !staleCredentials(ue.Code) || !invalidate(c.creds, start) {
		return resp, err
	}
	return c.doCall(ctx, call)
}

func (c *Client) doCall(ctx context.Context, call *Call) (*http.Response, error) {
	creds, err := c.creds.Retrieve(ctx)
	if err != nil {
		return nil, &CredentialsError{Err: err}
	}
	path, err := url.PathUnescape(call.Path)
	if err != nil {
		return nil, fmt.Errorf("upstream: path %q: %w", call.Path, err)
	}
	u := *c.base
	u.Path = c.base.Path + path
	u.RawPath = c.base.EscapedPath() + call.Path
	u.RawQuery = call.RawQuery
	var body io.Reader
	if call.Body != nil {
		body = bytes.NewReader(call.Body)
	}
	req, err := http.NewRequestWithContext(ctx, call.Method, u.String(), body)
	if err != nil {
		return nil, err
	}
	for _, h := range []string{"Content-Type", "Accept"} {
		if v := call.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	if len(call.Body) > 0 && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	sum := sha256.Sum256(call.Body)
	if err := c.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "bedrock", c.region, c.now()); err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBodyBytes))
	return nil, parseError(resp, b)
}
