package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

// The sandbox accounts the relay pools, in order; the proxies and direct calls use the first.
var benchAccounts = []string{sandbox.LargeAccount, sandbox.SmallAccount}

type bench struct {
	s      settings
	log    io.Writer
	root   string
	tmp    string
	bin    string // the bedrock-relay binary (sandbox and serve)
	self   string // this program, re-executed as the reference proxy
	sb     *child
	sbc    *sandboxCtl
	caller aws.Credentials
	cl     *client

	direct, proxy, assume, relay *sut
	children                     []*child
	relayChild                   *child
	relayAdmin                   string
	relayNote                    string // why the relay was not measured, if it was not
	openai                       bool   // the relay serves /v1/chat/completions
	openaiNote                   string
	win                          *stsWindow   // the running relay process's STS accounting
	windows                      []*stsWindow // finished ones
	profiles                     int          // CPU profiles asked for so far (-cpuprofile)
}

// profileArgs are the flags that make a process write its CPU profile into -cpuprofile's directory.
func (b *bench) profileArgs(flag, name string) []string {
	if b.s.profDir == "" {
		return nil
	}
	b.profiles++
	path := filepath.Join(b.s.profDir, fmt.Sprintf("%s-%d.cpu", name, b.profiles))
	b.logf("%s writes its CPU profile to %s", name, path)
	return []string{flag, path}
}

func newBench(ctx context.Context, s settings, log io.Writer) (_ *bench, err error) {
	b := &bench{s: s, log: log, cl: newClient()}
	defer func() {
		if err != nil {
			b.close()
		}
	}()
	if b.root, err = moduleRoot(); err != nil {
		return nil, err
	}
	if b.tmp, err = os.MkdirTemp("", "bedrock-relay-bench-"); err != nil {
		return nil, err
	}
	if b.self, err = os.Executable(); err != nil {
		return nil, err
	}
	b.logf("building bedrock-relay")
	if b.bin, err = buildBinary(ctx, b.root, "./cmd/bedrock-relay", b.tmp, "bedrock-relay"); err != nil {
		return nil, err
	}
	// The sandbox: its own process, so that verifying signatures and making answers is not billed to the
	// relay.
	addr := s.sbAddr
	if addr == "" {
		if addr, err = freePort(); err != nil {
			return nil, err
		}
	}
	sbURL := "http://" + addr
	if b.sb, err = startChild(ctx, "sandbox", sbURL+"/_sandbox/stats", nil, b.bin, "sandbox", "--addr", addr); err != nil {
		return nil, err
	}
	b.children = append(b.children, b.sb)
	b.sbc = &sandboxCtl{url: sbURL, hc: &http.Client{Timeout: 10 * time.Second}}
	for _, a := range benchAccounts {
		if err := b.sbc.unlimit(ctx, a, benchModel); err != nil {
			return nil, err
		}
	}
	if b.caller, err = b.sbc.callerCredentials(ctx); err != nil {
		return nil, err
	}
	// Direct calls sign with the first target's session, as a relay would.
	stsClient := sts.New(sts.Options{Region: sandbox.SeedRegion, BaseEndpoint: aws.String(sbURL), RetryMaxAttempts: 1,
		Credentials: credentials.StaticCredentialsProvider{Value: b.caller}})
	ar, err := stsClient.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(sandbox.TargetRoleARN(benchAccounts[0])), RoleSessionName: aws.String("bench-direct")})
	if err != nil {
		return nil, fmt.Errorf("assume the target role for direct calls: %w", err)
	}
	c := ar.Credentials
	b.direct = &sut{name: "direct", url: sbURL, signer: &presigner{region: sandbox.SeedRegion, signer: v4.NewSigner(),
		creds: aws.Credentials{AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretAccessKey, SessionToken: *c.SessionToken}}}

	if b.proxy, err = b.startProxy(ctx, "proxy"); err != nil {
		return nil, err
	}
	if b.assume, err = b.startProxy(ctx, "assume-each", "-assume-each"); err != nil {
		return nil, err
	}
	if err := b.startRelay(ctx); err != nil {
		b.relayNote = err.Error()
		b.logf("relay not measured: %v", err)
	}
	return b, nil
}

// startProxy runs the reference proxy (this program re-executed with serve-proxy) in front of the sandbox.
func (b *bench) startProxy(ctx context.Context, name string, extra ...string) (*sut, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	args := append([]string{"serve-proxy", "-addr", addr, "-endpoint", b.sbc.url, "-region", sandbox.SeedRegion,
		"-role", sandbox.TargetRoleARN(benchAccounts[0])}, extra...)
	if len(extra) == 0 {
		args = append(args, b.profileArgs("-cpuprofile", name)...)
	}
	ch, err := startChild(ctx, name, "http://"+addr+"/ready", credEnv(b.caller, b.sbc.url, sandbox.SeedRegion), b.self, args...)
	if err != nil {
		return nil, err
	}
	b.children = append(b.children, ch)
	return &sut{name: name, url: "http://" + addr, pid: ch.pid(), child: ch, extra: extra}, nil
}

// stsWindow counts the AssumeRole calls of one relay process over its life: every call the sandbox saw
// from just before it started until it stopped, less those made meanwhile by the other systems' cells.
type stsWindow struct {
	start, other, calls, reqs int
}

func (b *bench) closeWindow(ctx context.Context) {
	if b.win == nil {
		return
	}
	b.win.calls = b.stsCalls(ctx) - b.win.start - b.win.other
	b.windows = append(b.windows, b.win)
	b.win = nil
}

// fresh replaces a system's process with a new one, so that a memory or goroutine reading starts from a
// clean process rather than from what earlier phases left (idle connections, a grown heap).
func (b *bench) fresh(ctx context.Context, s *sut) (*sut, error) {
	s.child.stop()
	if s == b.relay {
		b.closeWindow(ctx)
		if err := b.startRelay(ctx); err != nil {
			return nil, err
		}
		return b.relay, nil
	}
	return b.startProxy(ctx, s.name, s.extra...)
}

// startRelay runs `bedrock-relay serve --config relay.yaml` over the sandbox, auth off (loopback only).
func (b *bench) startRelay(ctx context.Context) error {
	help, _ := exec.CommandContext(ctx, b.bin, "serve", "-h").CombinedOutput()
	if strings.Contains(string(help), "unknown command") {
		return fmt.Errorf("this tree's bedrock-relay has no serve command yet")
	}
	addr, err := freePort()
	if err != nil {
		return err
	}
	admin, err := freePort()
	if err != nil {
		return err
	}
	b.win = &stsWindow{start: b.stsCalls(ctx)}
	cfg := fmt.Sprintf("server:\n  addr: %s\n  admin_addr: %s\nauth:\n  mode: none\nsource:\n  region: %s\n  endpoint: %s\ntargets:\n%s",
		addr, admin, sandbox.SeedRegion, b.sbc.url, b.targetsYAML(""))
	path := filepath.Join(b.tmp, "relay.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return err
	}
	env := append(credEnv(b.caller, b.sbc.url, sandbox.SeedRegion), b.s.relayEnv...)
	ch, err := startChild(ctx, "relay", "http://"+admin+"/metrics", env, b.bin, append([]string{"serve", "--config", path}, b.profileArgs("--cpuprofile", "relay")...)...)
	if err != nil {
		return err
	}
	b.children = append(b.children, ch)
	b.relayChild, b.relayAdmin = ch, "http://"+admin
	b.relay = &sut{name: "relay", url: "http://" + addr, pid: ch.pid(), child: ch}
	// Does it serve the OpenAI API? A 404 says no.
	resp, err := http.Post(b.relay.url+"/v1/chat/completions", "application/json", strings.NewReader(string(ops(5)["OpenAI"].body)))
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		b.openai = resp.StatusCode == 200
		if !b.openai {
			b.openaiNote = fmt.Sprintf("POST /v1/chat/completions answered HTTP %d: the OpenAI rows are left out", resp.StatusCode)
			b.logf("relay: %s", b.openaiNote)
		}
	}
	return nil
}

// targetsYAML is the relay config's list of targets, each with the budgets block given (indented for a
// target's keys, or empty for none).
func (b *bench) targetsYAML(budgets string) string {
	var targets strings.Builder
	for i := 0; i < b.s.targets && i < len(benchAccounts); i++ {
		fmt.Fprintf(&targets, "  - name: acct-%s\n    role_arn: %s\n    region: %s\n    models: [%q]\n%s",
			benchAccounts[i], sandbox.TargetRoleARN(benchAccounts[i]), sandbox.SeedRegion, benchModel, budgets)
	}
	return targets.String()
}

func (b *bench) close() {
	for i := len(b.children) - 1; i >= 0; i-- {
		b.children[i].stop()
	}
	if b.tmp != "" {
		os.RemoveAll(b.tmp)
	}
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("run the bench from inside the bedrock-relay module")
	}
	return filepath.Dir(mod), nil
}

// stsCalls is the sandbox's AssumeRole count so far.
func (b *bench) stsCalls(ctx context.Context) int {
	st, err := b.sbc.stats(ctx)
	if err != nil {
		return -1
	}
	return st.STSCalls("AssumeRole")
}

// scrape reads one unlabelled gauge from the relay's admin /metrics.
func (b *bench) scrape(name string) (float64, error) { return scrapeAt(b.relayAdmin, name) }

// scrapeAt reads one unlabelled gauge or counter from the /metrics of the relay whose admin URL is admin.
func scrapeAt(admin, name string) (float64, error) {
	resp, err := http.Get(admin + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("no %s in the relay's /metrics", name)
}
