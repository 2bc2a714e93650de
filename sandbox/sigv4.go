package sandbox

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// sigv4Auth is the parsed Authorization header of a SigV4-signed request.
type sigv4Auth struct {
	AccessKeyID   string
	Date          string // yyyymmdd from the scope
	Region        string
	Service       string
	SignedHeaders []string
	Signature     string
}

// parseSigV4 parses "AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/sts/aws4_request, SignedHeaders=a;b, Signature=hex".
func parseSigV4(h string) (sigv4Auth, bool) {
	const algo = "AWS4-HMAC-SHA256 "
	if !strings.HasPrefix(h, algo) {
		return sigv4Auth{}, false
	}
	var a sigv4Auth
	for _, part := range strings.Split(h[len(algo):], ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return sigv4Auth{}, false
		}
		switch k {
		case "Credential":
			f := strings.Split(v, "/")
			if len(f) != 5 || f[4] != "aws4_request" {
				return sigv4Auth{}, false
			}
			a.AccessKeyID, a.Date, a.Region, a.Service = f[0], f[1], f[2], f[3]
		case "SignedHeaders":
			a.SignedHeaders = strings.Split(v, ";")
		case "Signature":
			a.Signature = v
		}
	}
	if a.AccessKeyID == "" || a.Signature == "" || len(a.SignedHeaders) == 0 {
		return sigv4Auth{}, false
	}
	return a, true
}

var sandboxSigner = v4.NewSigner()

// verifySigV4 recomputes the request's signature with the SDK's own signer and compares it with the one sent.
// body is the full request body (already read). It returns false when they differ.
func verifySigV4(r *http.Request, body []byte, a sigv4Auth, secret, token string) (bool, *awsError) {
	amzDate := r.Header.Get("X-Amz-Date")
	if amzDate == "" {
		amzDate = r.Header.Get("Date")
	}
	signingTime, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil {
		return false, nil
	}
	// Rebuild the request as the client had it when it signed: same method, raw path and query, host, and only
	// the headers it said it signed.
	u := &url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	req := &http.Request{Method: r.Method, URL: u, Host: r.Host, Header: http.Header{}}
	for _, name := range a.SignedHeaders {
		switch name {
		case "host", "x-amz-date", "authorization":
			continue
		case "content-length":
			req.ContentLength = r.ContentLength
			if req.ContentLength < 0 {
				req.ContentLength = int64(len(body))
			}
			continue
		}
		for _, v := range r.Header.Values(name) {
			req.Header.Add(name, v)
		}
	}
	payloadHash := r.Header.Get("X-Amz-Content-Sha256")
	if payloadHash == "" {
		sum := sha256.Sum256(body)
		payloadHash = hex.EncodeToString(sum[:])
	}
	creds := aws.Credentials{AccessKeyID: a.AccessKeyID, SecretAccessKey: secret, SessionToken: token}
	if err := sandboxSigner.SignHTTP(context.Background(), creds, req, payloadHash, a.Service, a.Region, signingTime); err != nil {
		return false, nil
	}
	got, ok := parseSigV4(req.Header.Get("Authorization"))
	if !ok {
		return false, nil
	}
	return subtle.ConstantTimeCompare([]byte(got.Signature), []byte(a.Signature)) == 1, nil
}
