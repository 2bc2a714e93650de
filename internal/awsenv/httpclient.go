package awsenv

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/url"
)

// LoopbackHTTPClient returns an HTTP client for AWS SDK clients pointed at a server on this machine (the
// sandbox, a relay).
//
// The SDK closes a request's body as soon as the response arrives, while net/http's write loop may still
// make its final end-of-body read; a server on loopback answers fast enough for the two to race, and the
// transport then closes the connection under a response that is still being read ("use of closed network
// connection", aws/aws-sdk-go-v2#2737). Event streams are read after the call returns, so they break most.
// This client gives the transport its own copy of the body, which the SDK's early close cannot touch. Real
// AWS, a network away, rarely loses the race; tests here would, at random.
//
// base supplies the transport (an httptest TLS server's Client(), say); nil uses a clone of the default one.
func LoopbackHTTPClient(base *http.Client) *http.Client {
	var rt http.RoundTripper = http.DefaultTransport.(*http.Transport).Clone()
	if base != nil && base.Transport != nil {
		rt = base.Transport
	}
	return &http.Client{Transport: ownBodyTransport{rt}}
}

type ownBodyTransport struct{ base http.RoundTripper }

func (t ownBodyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return t.base.RoundTrip(r)
	}
	body, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		return nil, err
	}
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(bytes.NewReader(body))
	r2.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return t.base.RoundTrip(r2)
}

// IsLoopback reports whether an endpoint URL points at this machine (localhost, 127.0.0.0/8, ::1).
func IsLoopback(endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return false
	}
	if u.Hostname() == "localhost" {
		return true
	}
	ip := net.ParseIP(u.Hostname())
	return ip != nil && ip.IsLoopback()
}
