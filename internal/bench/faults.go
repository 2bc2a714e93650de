package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/bedrock-relay/bedrock-relay/internal/faultmatrix"
	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

// faultEnv runs the fault matrix against the bench's sandbox process, with a relay process of its own per
// row (`bedrock-relay serve --config`, configured as the row says).
type faultEnv struct {
	b   *bench
	ctx context.Context
	n   int
}

func (e *faultEnv) Sandbox() string { return e.b.sbc.url }
func (e *faultEnv) Model() string   { return benchModel }

func (e *faultEnv) Relay(row faultmatrix.Row) (endpoint, admin string, stop func(), err error) {
	addr, err := freePort()
	if err != nil {
		return "", "", nil, err
	}
	adminAddr, err := freePort()
	if err != nil {
		return "", "", nil, err
	}
	cfg := fmt.Sprintf("server:\n  addr: %s\n  admin_addr: %s\n", addr, adminAddr)
	if row.BodyTimeout > 0 {
		cfg += fmt.Sprintf("  body_timeout: %s\n", row.BodyTimeout)
	}
	if row.KeyedAuth {
		// The key's hash only: the row sends no key.
		cfg += "auth:\n  mode: keys\n  keys:\n    - name: matrix\n      sha256: " + fmt.Sprintf("%064x", 1) + "\n      models: [\"*\"]\n"
	} else {
		cfg += "auth:\n  mode: none\n"
	}
	cfg += fmt.Sprintf("source:\n  region: %s\n  endpoint: %s\n", sandbox.SeedRegion, e.b.sbc.url)
	if row.RequestTimeout > 0 {
		cfg += fmt.Sprintf("routing:\n  request_timeout: %s\n", row.RequestTimeout)
	}
	cfg += "targets:\n"
	for i := 0; i < e.b.s.targets && i < len(benchAccounts); i++ {
		cfg += fmt.Sprintf("  - name: acct-%s\n    role_arn: %s\n    region: %s\n    models: [%q]\n",
			benchAccounts[i], sandbox.TargetRoleARN(benchAccounts[i]), sandbox.SeedRegion, benchModel)
	}
	e.n++
	path := filepath.Join(e.b.tmp, fmt.Sprintf("relay-faults-%d.yaml", e.n))
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return "", "", nil, err
	}
	env := append(credEnv(e.b.caller, e.b.sbc.url, sandbox.SeedRegion), e.b.s.relayEnv...)
	ch, err := startChild(e.ctx, "relay (faults)", "http://"+adminAddr+"/metrics", env, e.b.bin, "serve", "--config", path)
	if err != nil {
		return "", "", nil, err
	}
	return "http://" + addr, "http://" + adminAddr, ch.stop, nil
}

func (e *faultEnv) Baseline() aws.Config {
	src := aws.Config{Region: sandbox.SeedRegion, BaseEndpoint: aws.String(e.b.sbc.url),
		Credentials: credentials.StaticCredentialsProvider{Value: e.b.caller}}
	cfg := src.Copy()
	cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(src), sandbox.TargetRoleARN(benchAccounts[0])))
	return cfg
}

// measureFaults runs every row of the fault matrix at the bench's scale.
func (b *bench) measureFaults(ctx context.Context) []faultmatrix.Result {
	n, conc := 5000, 64
	if b.s.quick {
		n, conc = 500, 16
	}
	env := &faultEnv{b: b, ctx: ctx}
	var out []faultmatrix.Result
	for _, row := range faultmatrix.Rows() {
		b.logf("faults: %s", row.Name)
		rctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		out = append(out, faultmatrix.Run(rctx, env, row, faultmatrix.Options{Requests: n, Concurrency: conc}))
		cancel()
	}
	return out
}
