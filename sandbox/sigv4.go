package sandbox

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go/encoding/httpbinding"

	relay "github.com/bedrock-relay/bedrock-relay"
	"github.com/bedrock-relay/bedrock-relay/catalog"
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
	if slices.Contains(a.SignedHeaders, ":authority") {
		// The JavaScript SDK signs HTTP/2 requests with the :authority pseudo-header instead of host, which the
		// Go signer cannot reproduce (it always signs host): compute that canonical request here.
		want := signHTTP2(r, body, a, secret, amzDate)
		return subtle.ConstantTimeCompare([]byte(want), []byte(a.Signature)) == 1, nil
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

// signHTTP2 computes a SigV4 signature from the client's own SignedHeaders list, with :authority (and host)
// taken from the request's authority.
func signHTTP2(r *http.Request, body []byte, a sigv4Auth, secret, amzDate string) string {
	var canon strings.Builder
	canon.WriteString(r.Method + "\n")
	canon.WriteString(httpbinding.EscapePath(r.URL.EscapedPath(), false) + "\n")
	q := r.URL.Query()
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var pairs []string
	for _, k := range keys {
		vs := append([]string(nil), q[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			pairs = append(pairs, httpbinding.EscapePath(k, true)+"="+httpbinding.EscapePath(v, true))
		}
	}
	canon.WriteString(strings.Join(pairs, "&") + "\n")
	for _, h := range a.SignedHeaders {
		var v string
		switch h {
		case ":authority", "host":
			v = r.Host
		case "content-length":
			v = r.Header.Get("Content-Length")
			if v == "" {
				v = strconv.Itoa(len(body))
			}
		default:
			vals := r.Header.Values(h)
			for i := range vals {
				vals[i] = strings.Join(strings.Fields(vals[i]), " ")
			}
			v = strings.Join(vals, ",")
		}
		canon.WriteString(h + ":" + v + "\n")
	}
	canon.WriteString("\n" + strings.Join(a.SignedHeaders, ";") + "\n")
	payloadHash := r.Header.Get("X-Amz-Content-Sha256")
	if payloadHash == "" {
		sum := sha256.Sum256(body)
		payloadHash = hex.EncodeToString(sum[:])
	}
	canon.WriteString(payloadHash)
	crHash := sha256.Sum256([]byte(canon.String()))
	scope := a.Date + "/" + a.Region + "/" + a.Service + "/aws4_request"
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(crHash[:])
	mac := func(key []byte, data string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(data))
		return h.Sum(nil)
	}
	key := mac(mac(mac(mac([]byte("AWS4"+secret), a.Date), a.Region), a.Service), "aws4_request")
	return hex.EncodeToString(mac(key, toSign))
}

// partitionKnows reports whether the partition of region (aws, aws-us-gov, aws-cn) knows p's credentials.
// Each partition has its own IAM and STS, so a commercial access key, session or API key used in a us-gov-* or
// cn-* region is one that partition never issued: AWS answers it as any unknown key (STS InvalidClientTokenId,
// Bedrock UnrecognizedClientException, 403 "The security token included in the request is invalid.", as seen
// the other way round with a GovCloud key sent to commercial STS, aws/aws-sdk-java#1879).
func partitionKnows(p *principal, region string) bool {
	return relay.PartitionOf(p.ARN, "aws") == catalog.PartitionOf(region)
}
