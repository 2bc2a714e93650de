package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// refProxy is the floor any relay is measured against: it takes a Bedrock Runtime request, signs it again
// with SigV4 (the SDK's signer) for one target and streams the answer back. No routing, budgets, metrics,
// auth or parsing. With assumeEach it calls sts:AssumeRole before every request instead of caching the
// session, which is what the usual "Lambda assumes a role, then invokes" sample does.
type refProxy struct {
	base       *url.URL
	region     string
	creds      aws.CredentialsProvider // cached assumed-role session
	assumeEach bool
	sts        *sts.Client
	roleARN    string
	signer     *v4.Signer
	hc         *http.Client
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

var forwardHeaders = []string{"Content-Type", "Accept", "X-Amzn-Bedrock-Accept", "X-Amzn-Bedrock-Trace",
	"X-Amzn-Bedrock-GuardrailIdentifier", "X-Amzn-Bedrock-GuardrailVersion",
	"X-Amzn-Bedrock-PerformanceConfig-Latency", "X-Amzn-Bedrock-Service-Tier"}

func (p *refProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/ready" {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 25_000_001))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var creds aws.Credentials
	if p.assumeEach {
		out, err := p.sts.AssumeRole(r.Context(), &sts.AssumeRoleInput{RoleArn: &p.roleARN, RoleSessionName: aws.String("bench-per-request")})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		c := out.Credentials
		creds = aws.Credentials{AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretAccessKey, SessionToken: *c.SessionToken}
	} else if creds, err = p.creds.Retrieve(r.Context()); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	u := *p.base
	u.Path, u.RawPath = r.URL.Path, r.URL.RawPath
	out, err := http.NewRequestWithContext(r.Context(), http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	for _, h := range forwardHeaders {
		if v := r.Header.Get(h); v != "" {
			out.Header.Set(h, v)
		}
	}
	sum := sha256.Sum256(body)
	if err := p.signer.SignHTTP(r.Context(), creds, out, hex.EncodeToString(sum[:]), "bedrock", p.region, time.Now()); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	resp, err := p.hc.Do(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	flusher, _ := w.(http.Flusher)
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	for {
		n, err := resp.Body.Read(*bp)
		if n > 0 {
			if _, werr := w.Write((*bp)[:n]); werr != nil {
				return
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
		if err != nil {
			return
		}
	}
}

// runProxy is the proxy's own process (the bench re-executes itself with -serve-proxy), so that its CPU and
// memory are measured apart from the load generator's.
func runProxy(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve-proxy", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address (loopback)")
	endpoint := fs.String("endpoint", "", "Bedrock Runtime and STS endpoint (the sandbox)")
	region := fs.String("region", "ap-northeast-1", "region to sign for")
	role := fs.String("role", "", "role to assume")
	assumeEach := fs.Bool("assume-each", false, "call AssumeRole on every request")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	if *endpoint == "" || *role == "" {
		return errors.New("serve-proxy: -endpoint and -role are required")
	}
	base, err := url.Parse(*endpoint)
	if err != nil {
		return err
	}
	// Source credentials from the environment (the caller session), the same way the relay gets them.
	src := credentials.NewStaticCredentialsProvider(os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), os.Getenv("AWS_SESSION_TOKEN"))
	stsClient := sts.New(sts.Options{Region: *region, Credentials: src, BaseEndpoint: endpoint, RetryMaxAttempts: 1})
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns, t.MaxIdleConnsPerHost = 2048, 2048
	p := &refProxy{base: base, region: *region, assumeEach: *assumeEach, sts: stsClient, roleARN: *role,
		signer: v4.NewSigner(), hc: &http.Client{Transport: t},
		creds: aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsClient, *role), func(o *aws.CredentialsCacheOptions) {
			o.ExpiryWindow = 5 * time.Minute
		})}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("serve-proxy: shutdown: %w", err)
	}
	return nil
}
