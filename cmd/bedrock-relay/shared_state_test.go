package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	brtypes "github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/redis/go-redis/v9"

	"github.com/bedrock-relay/bedrock-relay/internal/testredis"
	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

// The accounts of the shared-state tests: the one with the small quota, and a second for failover.
const (
	sharedAcct  = "222222222222"
	sharedOther = "333333333333"
)

// TestSharedStateAcrossProcesses runs real `bedrock-relay serve` processes (the binary, built once) with
// state.backend redis in front of one sandbox, with a real redis-server, as replicas behind a load balancer
// would run: together they keep to one account's quota, a throttle one sees moves every one off the
// target, and Redis going away mid-burst fails no request.
func TestSharedStateAcrossProcesses(t *testing.T) {
	bin := relayBinary(t)

	// 2 and 3 replicas in front of one account with a quota of 30 requests a minute, each configured with
	// that budget; 60 requests spread over them at once. Alone, each would admit 30.
	for _, n := range []int{2, 3} {
		t.Run(fmt.Sprintf("burst over %d replicas", n), func(t *testing.T) {
			sb, sbURL := sharedSandbox(t, map[string]int{sharedAcct: 30})
			rd := testredis.StartServer(t)
			cfg := sharedConfig(t, sbURL, rd.Addr, 1/float64(n), sharedTarget{sharedAcct, 0, 30})
			relays := startReplicas(t, bin, cfg, sb, n)
			res := burst(t, relays, 60)
			st := sb.Stats()
			if res.ok != 30 || res.throttled != 30 || len(res.other) != 0 {
				t.Errorf("60 requests over %d replicas: %d answered, %d refused with ThrottlingException, other errors %v; want 30 and 30",
					n, res.ok, res.throttled, res.other)
			}
			if got := st.BedrockCalls(sharedAcct, ""); got != res.ok || st.Throttles != 0 {
				t.Errorf("the account was asked %d times and throttled %d times; want %d asks (every answer, nothing else) and 0 throttles",
					got, st.Throttles, res.ok)
			}
			for i, r := range relays {
				if v := r.metric(t, "bedrock_relay_state_fallbacks_total"); v != 0 {
					t.Errorf("replica %d fell back to local budgets %v times during the burst", i, v)
				}
			}
		})
	}

	// Two accounts, the first preferred (priority 0). The first account throttles whatever its budget says
	// (another team is using its quota): the replica that meets the throttle fails over to the second, and
	// tells the other replica, whose requests then go to the second account without asking the first.
	t.Run("a throttle cools the target for every replica", func(t *testing.T) {
		for attempt := 1; ; attempt++ {
			ok, why := throttleSeenByAll(t, bin)
			if ok {
				return
			}
			if attempt == 3 {
				t.Fatalf("three runs too slow for the backoff window: %s", why)
			}
			t.Logf("run %d: %s; again", attempt, why)
		}
	})

	// Redis killed mid-burst: no request fails (each replica decides alone at half the budget, which the
	// burst stays under), /readyz says degraded; Redis started again (empty): the replicas share again.
	t.Run("redis killed mid-burst", func(t *testing.T) {
		sb, sbURL := sharedSandbox(t, map[string]int{sharedAcct: 30})
		rd := testredis.StartServer(t)
		cfg := sharedConfig(t, sbURL, rd.Addr, 0.5, sharedTarget{sharedAcct, 0, 30})
		relays := startReplicas(t, bin, cfg, sb, 2)
		first := burst(t, relays, 10)
		rd.Kill()
		second := burst(t, relays, 10)
		for i, res := range []burstResult{first, second} {
			if res.ok != 10 {
				t.Errorf("burst %d (%s): %d of 10 answered, %d throttled, other errors %v; want all 10", i+1,
					[]string{"Redis up", "Redis killed"}[i], res.ok, res.throttled, res.other)
			}
		}
		for i, r := range relays {
			if ready := r.readyz(t); ready.Status != "degraded" || ready.State.Shared {
				t.Errorf("replica %d's /readyz with Redis gone: %+v, want degraded, not shared", i, ready)
			}
			if v := r.metric(t, "bedrock_relay_state_local_reservations_total"); v != 5 {
				t.Errorf("replica %d decided %v reservations locally, want its 5 of the second burst", i, v)
			}
		}

		if err := rd.Restart(); err != nil {
			t.Fatal(err)
		}
		for i, r := range relays {
			deadline := time.Now().Add(10 * time.Second)
			for r.readyz(t).State.Shared == false {
				if time.Now().After(deadline) {
					t.Fatalf("replica %d does not share again within 10s of Redis's restart: %+v", i, r.readyz(t))
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		local := []float64{relays[0].metric(t, "bedrock_relay_state_local_reservations_total"), relays[1].metric(t, "bedrock_relay_state_local_reservations_total")}
		third := burst(t, relays, 4)
		if third.ok != 4 {
			t.Errorf("after Redis's restart: %d of 4 answered (%d throttled, %v)", third.ok, third.throttled, third.other)
		}
		for i, r := range relays {
			if v := r.metric(t, "bedrock_relay_state_local_reservations_total"); v != local[i] {
				t.Errorf("replica %d decided %v reservations locally after Redis came back, want none", i, v-local[i])
			}
		}
		// The 4 are in the restarted Redis's minute window: the replicas share it again.
		c := redis.NewClient(&redis.Options{Addr: rd.Addr})
		defer c.Close()
		keys, err := c.Keys(context.Background(), "bedrock-relay:{tm:*}:m").Result()
		if err != nil || len(keys) != 1 {
			t.Fatalf("minute windows in Redis: %v, %v; want one", keys, err)
		}
		counts, err := c.HGetAll(context.Background(), keys[0]).Result()
		if err != nil {
			t.Fatal(err)
		}
		requests := 0
		for f, v := range counts {
			if strings.HasPrefix(f, "r") {
				n, _ := strconv.Atoi(v)
				requests += n
			}
		}
		if requests != 4 {
			t.Errorf("Redis's minute window holds %d requests (%v), want the 4 made since its restart", requests, counts)
		}
		if st := sb.Stats(); st.Throttles != 0 || st.BedrockCalls(sharedAcct, "") != 24 {
			t.Errorf("the account was asked %d times and throttled %d times, want 24 and 0", st.BedrockCalls(sharedAcct, ""), st.Throttles)
		}
	})
}

// throttleSeenByAll is one run of the throttle case; it reports false with a reason when the machine was
// too slow to finish within the shortest soft backoff (0.5 s: 1 s with ±50 % jitter), after which asking the
// first account again would be right.
func throttleSeenByAll(t *testing.T, bin string) (bool, string) {
	t.Helper()
	sb, sbURL := sharedSandbox(t, map[string]int{sharedAcct: 1000, sharedOther: 1000})
	rd := testredis.StartServer(t)
	cfg := sharedConfig(t, sbURL, rd.Addr, 0.5, sharedTarget{sharedAcct, 0, 100}, sharedTarget{sharedOther, 1, 100})
	relays := startReplicas(t, bin, cfg, sb, 2)
	if err := sb.AddFault(sandbox.Fault{Code: "ThrottlingException", Account: sharedAcct}); err != nil { // until cleared
		t.Fatal(err)
	}
	start := time.Now()
	if err := relays[0].invoke(); err != nil {
		t.Fatalf("replica 0: %v, want the request answered by the second account", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for relays[1].metric(t, "bedrock_relay_state_notices_received_total") < 1 {
		if time.Now().After(deadline) {
			t.Fatal("replica 1 got no notice of replica 0's throttle within 5s")
		}
		time.Sleep(2 * time.Millisecond)
	}
	for i := range 5 {
		if err := relays[1].invoke(); err != nil {
			t.Fatalf("replica 1, request %d: %v", i, err)
		}
	}
	if elapsed := time.Since(start); elapsed > 400*time.Millisecond {
		return false, fmt.Sprintf("the requests took %s", elapsed)
	}
	st := sb.Stats()
	if got := st.BedrockCalls(sharedAcct, ""); got != 1 {
		t.Errorf("the throttling account was asked %d times, want once (replica 0's request; replica 1 knew)", got)
	}
	if got := st.BedrockCalls(sharedOther, "ok"); got != 6 {
		t.Errorf("the second account answered %d requests, want all 6", got)
	}
	return true, ""
}

func sharedSandbox(t *testing.T, rpm map[string]int) (*sandbox.Sandbox, string) {
	t.Helper()
	sb, err := sandbox.New(sandbox.PoolScenario(rpm))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sb) // 127.0.0.1
	t.Cleanup(srv.Close)
	return sb, srv.URL
}

// sharedTarget is one target of sharedConfig: an account's pool role, its priority and its budget.
type sharedTarget struct {
	account  string
	priority int
	rpm      int
}

// sharedConfig writes a relay config for the replicas: the targets, state in Redis at addr, no waiting for
// capacity (a refusal is at once), and a Redis timeout generous enough that a loaded machine does not fall
// back during a burst (the fallback has its own case).
func sharedConfig(t *testing.T, sbURL, addr string, share float64, targets ...sharedTarget) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "auth:\n  mode: none\nsource:\n  region: %s\n  endpoint: %s\nrouting:\n  wait_for_capacity: 0s\n", sandbox.SeedRegion, sbURL)
	fmt.Fprintf(&b, "state:\n  backend: redis\n  redis:\n    addrs: [%q]\n    timeout: 1s\n    fallback_share: %g\n    probe_interval: 50ms\n", addr, share)
	b.WriteString("targets:\n")
	for _, tg := range targets {
		fmt.Fprintf(&b, "  - name: acct-%s\n    role_arn: %s\n    region: %s\n    priority: %d\n    models: [%s]\n    budgets:\n      requests_per_minute: %d\n",
			tg.account, sandbox.TargetRoleARN(tg.account), sandbox.SeedRegion, tg.priority, sandbox.SeedProfile, tg.rpm)
	}
	p := filepath.Join(t.TempDir(), "relay.yaml")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// replica is one running `bedrock-relay serve` process.
type replica struct {
	endpoint, admin string
	client          *bedrockruntime.Client
	stderr          *lockedBuffer
}

// startReplicas starts n serve processes of bin with cfg, with the sandbox's caller credentials as their
// own, and stops them when the test ends.
func startReplicas(t *testing.T, bin, cfg string, sb *sandbox.Sandbox, n int) []*replica {
	t.Helper()
	creds := sb.CallerCredentials()
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "AWS_EC2_METADATA_DISABLED=true",
		"AWS_ACCESS_KEY_ID=" + creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + creds.SecretAccessKey, "AWS_SESSION_TOKEN=" + creds.SessionToken,
		"AWS_CONFIG_FILE=" + filepath.Join(t.TempDir(), "none"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(t.TempDir(), "none")}
	var out []*replica
	for i := range n {
		r := &replica{stderr: &lockedBuffer{}}
		cmd := exec.Command(bin, "serve", "--config", cfg, "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0")
		cmd.Env, cmd.Stderr = env, r.stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Signal(os.Interrupt)
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-done
			}
			if t.Failed() {
				t.Logf("replica %d's stderr:\n%s", i, r.stderr.String())
			}
		})
		endpointRe := regexp.MustCompile(`^export AWS_ENDPOINT_URL_BEDROCK_RUNTIME=(\S+)$`)
		adminRe := regexp.MustCompile(`^# admin: (\S+)/metrics`)
		lines := make(chan string)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
			io.Copy(io.Discard, stdout)
		}()
		timeout := time.After(20 * time.Second)
		for r.endpoint == "" {
			select {
			case line, ok := <-lines:
				if !ok {
					t.Fatalf("replica %d exited before serving:\n%s", i, r.stderr.String())
				}
				if m := adminRe.FindStringSubmatch(line); m != nil {
					r.admin = m[1]
				}
				if m := endpointRe.FindStringSubmatch(line); m != nil {
					r.endpoint = m[1]
				}
			case <-timeout:
				t.Fatalf("replica %d printed no endpoint within 20s:\n%s", i, r.stderr.String())
			}
		}
		go func() {
			for range lines {
			}
		}()
		r.client = bedrockruntime.New(bedrockruntime.Options{Region: sandbox.SeedRegion, BaseEndpoint: aws.String(r.endpoint),
			Credentials: credentials.NewStaticCredentialsProvider("relay", "relay", ""), RetryMaxAttempts: 1})
		out = append(out, r)
	}
	return out
}

func (r *replica) invoke() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := r.client.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(sandbox.SeedProfile), ContentType: aws.String("application/json"),
		Body: []byte(`{"anthropic_version":"bedrock-2023-05-31","max_tokens":20,"messages":[{"role":"user","content":"shared"}]}`)})
	return err
}

// metric is the sum of a metric's series on the replica's /metrics.
func (r *replica) metric(t *testing.T, name string) float64 {
	t.Helper()
	resp, err := http.Get(r.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sum, found := 0.0, false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, name); ok && (strings.HasPrefix(rest, " ") || strings.HasPrefix(rest, "{")) {
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			sum, found = sum+v, true
		}
	}
	if !found {
		t.Fatalf("no metric %s on %s/metrics", name, r.admin)
	}
	return sum
}

// readiness is the part of /readyz these tests read.
type readiness struct {
	Status string
	State  struct {
		Backend string
		Shared  bool
		Reason  string
	}
}

func (r *replica) readyz(t *testing.T) readiness {
	t.Helper()
	resp, err := http.Get(r.admin + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got readiness
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	return got
}

// burstResult counts a burst's answers.
type burstResult struct {
	ok, throttled int
	other         []string
}

// burst sends n requests at once, spread round-robin over the replicas, and counts the answers: answered,
// refused with ThrottlingException (the relay's own, when the budget is spent), anything else.
func burst(t *testing.T, relays []*replica, n int) burstResult {
	t.Helper()
	var (
		mu  sync.Mutex
		res burstResult
		wg  sync.WaitGroup
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := relays[i%len(relays)].invoke()
			var te *brtypes.ThrottlingException
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				res.ok++
			case errors.As(err, &te):
				res.throttled++
			default:
				res.other = append(res.other, err.Error())
			}
		}()
	}
	wg.Wait()
	return res
}
