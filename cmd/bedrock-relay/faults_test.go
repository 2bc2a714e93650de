package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/bedrock-relay/bedrock-relay/config"
	"github.com/bedrock-relay/bedrock-relay/internal/awsenv"
	"github.com/bedrock-relay/bedrock-relay/internal/faultmatrix"
	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

// matrixEnv runs the fault matrix's relays in-process as `bedrock-relay serve --config`, in front of one
// sandbox of two Bedrock accounts with quotas high enough that only the injected faults refuse requests.
type matrixEnv struct {
	t  *testing.T
	sb *sandbox.Sandbox
	ts *httptest.Server
}

var matrixAccounts = []string{sandbox.SmallAccount, sandbox.LargeAccount}

func newMatrixEnv(t *testing.T) *matrixEnv {
	rpm := map[string]int{}
	for _, a := range matrixAccounts {
		rpm[a] = 1_000_000
	}
	sb, err := sandbox.New(sandbox.PoolScenario(rpm))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range matrixAccounts {
		sb.SetQuota(a, sandbox.SeedProfile, sandbox.Quota{RequestsPerMinute: 1_000_000, TokensPerMinute: 1_000_000_000})
	}
	ts := httptest.NewServer(sb)
	t.Cleanup(ts.Close)
	return &matrixEnv{t: t, sb: sb, ts: ts}
}

func (e *matrixEnv) Sandbox() string { return e.ts.URL }
func (e *matrixEnv) Model() string   { return sandbox.SeedProfile }

func (e *matrixEnv) Relay(row faultmatrix.Row) (endpoint, admin string, stop func(), err error) {
	yaml := fmt.Sprintf("server:\n  addr: 127.0.0.1:0\n  admin_addr: 127.0.0.1:0\n")
	if row.BodyTimeout > 0 {
		yaml += fmt.Sprintf("  body_timeout: %s\n", row.BodyTimeout)
	}
	if row.KeyedAuth {
		yaml += fmt.Sprintf("auth:\n  mode: keys\n  keys:\n    - name: matrix\n      sha256: %s\n      models: [\"*\"]\n", config.HashKey("brk-matrix-0123456789abcdef"))
	} else {
		yaml += "auth:\n  mode: none\n"
	}
	yaml += fmt.Sprintf("source:\n  region: %s\n  endpoint: %s\n", sandbox.SeedRegion, e.ts.URL)
	if row.RequestTimeout > 0 {
		yaml += fmt.Sprintf("routing:\n  request_timeout: %s\n", row.RequestTimeout)
	}
	yaml += "targets:\n"
	for _, a := range matrixAccounts {
		yaml += fmt.Sprintf("  - name: acct-%s\n    role_arn: %s\n    region: %s\n    models: [%s]\n", a[:3], sandbox.TargetRoleARN(a), sandbox.SeedRegion, sandbox.SeedProfile)
	}
	path := filepath.Join(e.t.TempDir(), "relay.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		return "", "", nil, err
	}
	creds := e.sb.CallerCredentials()
	env := map[string]string{"AWS_ACCESS_KEY_ID": creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY": creds.SecretAccessKey, "AWS_SESSION_TOKEN": creds.SessionToken}
	endpoint, admin, _, stopServe := startServe(e.t, []string{"serve", "--config", path}, func(k string) string { return env[k] })
	return endpoint, admin, func() { stopServe() }, nil
}

func (e *matrixEnv) Baseline() aws.Config {
	src := aws.Config{Region: sandbox.SeedRegion, BaseEndpoint: aws.String(e.ts.URL), HTTPClient: awsenv.LoopbackHTTPClient(nil),
		Credentials: credentials.StaticCredentialsProvider{Value: e.sb.CallerCredentials()}}
	cfg := src.Copy()
	cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(src), sandbox.TargetRoleARN(sandbox.LargeAccount)))
	return cfg
}

// TestFaultMatrix is the resilience promise, row by row: under each fault Bedrock and STS really produce,
// the pool answers more requests than one account would, and every request is either answered or refused
// with an error in Bedrock's shape: none lost, no stream silently truncated. `go run ./bench -phases faults`
// runs the same rows at scale.
func TestFaultMatrix(t *testing.T) {
	e := newMatrixEnv(t)
	var results []faultmatrix.Result
	for _, row := range faultmatrix.Rows() {
		t.Run(row.Name, func(t *testing.T) {
			e.t = t
			ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
			defer cancel()
			res := faultmatrix.Run(ctx, e, row, faultmatrix.Options{Requests: 200, Concurrency: 8})
			results = append(results, res)
			for _, p := range res.Problems {
				t.Error(p)
			}
		})
	}
	t.Logf("fault matrix:\n%s", faultmatrix.Table(results))
}
