package mainlib_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/google/go-cmp/cmp"

	"github.com/bedrock-relay/bedrock-relay/config"
	"github.com/bedrock-relay/bedrock-relay/internal/mainlib"
	"github.com/bedrock-relay/bedrock-relay/sandbox"
	"github.com/bedrock-relay/bedrock-relay/setup"
)

// Per-key sessions (attribution.session_per_key, issue #15 point 4): each caller key assumes each target's role
// in its own session, named brk-KEY and tagged relay-key / relay-group, so that the Bedrock account's bill and
// CloudTrail, which name the calling session, split by caller.

// attributionRelay is a relay built by Build in front of a sandbox whose one Bedrock account has room to
// spare, with its STS request bodies kept as sent.
type attributionRelay struct {
	*keyedRelay
	sb  *sandbox.Sandbox
	log *syncBuffer

	mu       sync.Mutex
	stsForms []string // the form of every STS request, as sent
}

// newAttributionRelay builds the relay of cfg (mutate edits the default: keys alice in group chat and bob in
// none, per-key sessions on); allowTags puts the documents `bedrock-relay policy --config` prints for that
// config on the sandbox's roles first.
func newAttributionRelay(t *testing.T, allowTags bool, mutate func(*config.Config)) *attributionRelay {
	t.Helper()
	sb, err := sandbox.New(sandbox.PoolScenario(map[string]int{"222222222222": 1000}))
	if err != nil {
		t.Fatal(err)
	}
	a := &attributionRelay{sb: sb, log: &syncBuffer{}}
	sbSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && !strings.HasPrefix(r.URL.Path, "/model/") {
			b, _ := io.ReadAll(r.Body)
			if v, err := url.ParseQuery(string(b)); err == nil && v.Get("Version") == "2011-06-15" {
				a.mu.Lock()
				a.stsForms = append(a.stsForms, string(b))
				a.mu.Unlock()
			}
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
		sb.ServeHTTP(w, r)
	}))
	t.Cleanup(sbSrv.Close)
	cfg := config.Default()
	cfg.Auth.Mode = "keys"
	cfg.Source.Endpoint = sbSrv.URL
	cfg.Targets = []config.TargetSpec{{Name: "acct-222", RoleARN: sandbox.TargetRoleARN("222222222222"), Region: sandbox.SeedRegion,
		Models: []string{sandbox.SeedProfile}}}
	cfg.Groups = []config.Group{{Name: "chat"}}
	cfg.Auth.Keys = []config.Key{keyStanza("alice", "chat", config.KeyBudgets{}), keyStanza("bob", "", config.KeyBudgets{})}
	cfg.Attribution.SessionPerKey = true
	mutate(&cfg)
	cfg.FillDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if allowTags {
		plan, err := setup.New(setup.Options{CallerRoleARN: sandbox.CallerRoleARN, Targets: setup.GrantsFromConfig(&cfg), Stream: true,
			SessionTags: setup.SessionTagKeys(&cfg)})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range plan.Roles {
			b, _ := r.Trust.MarshalIndent()
			must(t, sb.SetTrustPolicy(r.ARN, string(b)))
		}
		b, _ := plan.Caller.Assume.MarshalIndent()
		must(t, sb.SetRolePolicy(sandbox.CallerRoleARN, setup.PolicyAssume, string(b)))
	}
	base := aws.Config{Region: sandbox.SeedRegion, BaseEndpoint: aws.String(sbSrv.URL),
		Credentials: credentials.StaticCredentialsProvider{Value: sb.CallerCredentials()}, RetryMaxAttempts: 1}
	rl, err := mainlib.Build(context.Background(), &cfg, base, mainlib.BuildOptions{Logger: slog.New(slog.NewTextHandler(a.log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rl.Close() })
	a.keyedRelay = &keyedRelay{api: httptest.NewServer(rl.Handler), admin: httptest.NewServer(rl.Admin), rl: rl}
	t.Cleanup(a.api.Close)
	t.Cleanup(a.admin.Close)
	return a
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// sessions sums up the sandbox's calls log: each AssumeRole as "session outcome tags", each Bedrock call as
// "session tags".
func (a *attributionRelay) sessions() (assumed, bedrock []string) {
	tags := func(m map[string]string) string {
		if len(m) == 0 {
			return "-"
		}
		return "key=" + m["relay-key"] + ",group=" + m["relay-group"]
	}
	for _, c := range a.sb.Calls() {
		switch {
		case c.Operation == "AssumeRole":
			assumed = append(assumed, c.Session+" "+c.Outcome+" "+tags(c.Tags))
		case c.Service == "bedrock":
			bedrock = append(bedrock, c.Session+" "+tags(c.Tags))
		}
	}
	return assumed, bedrock
}

func (a *attributionRelay) ok(t *testing.T, api, key string) {
	t.Helper()
	if got := a.call(t, api, key, 10); got.status != http.StatusOK {
		t.Fatalf("%s as %s: %d %s", api, key, got.status, got.body)
	}
}

// TestSessionPerKey: two keys through the relay's three APIs make one session each, named after the key and
// tagged with it and its group (the group tag only for a key in one); a key's second request reuses its
// session; the target's shared session is never assumed.
func TestSessionPerKey(t *testing.T) {
	a := newAttributionRelay(t, true, func(*config.Config) {})
	a.ok(t, "bedrock", "alice")
	a.ok(t, "openai", "bob")
	a.ok(t, "anthropic", "alice")
	a.ok(t, "bedrock", "bob")
	assumed, bedrock := a.sessions()
	if diff := cmp.Diff([]string{"brk-alice ok key=alice,group=chat", "brk-bob ok key=bob,group="}, assumed); diff != "" {
		t.Errorf("AssumeRole calls (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"brk-alice key=alice,group=chat", "brk-bob key=bob,group=", "brk-alice key=alice,group=chat", "brk-bob key=bob,group="}, bedrock); diff != "" {
		t.Errorf("Bedrock calls by session (-want +got):\n%s", diff)
	}
	for _, c := range a.sb.Calls() {
		if c.Service == "bedrock" && !strings.HasPrefix(c.Principal, "arn:aws:sts::222222222222:assumed-role/BedrockAccessRole/brk-") {
			t.Errorf("Bedrock call by %s, want a per-key session", c.Principal)
		}
	}
	// The tagged AssumeRole as sent: the SDK's AssumeRoleProvider with Tags, no TransitiveTagKeys.
	a.mu.Lock()
	forms := append([]string(nil), a.stsForms...)
	a.mu.Unlock()
	want := "Action=AssumeRole&DurationSeconds=3600&RoleArn=arn%3Aaws%3Aiam%3A%3A222222222222%3Arole%2FBedrockAccessRole&RoleSessionName=brk-alice" +
		"&Tags.member.1.Key=relay-key&Tags.member.1.Value=alice&Tags.member.2.Key=relay-group&Tags.member.2.Value=chat&Version=2011-06-15"
	if len(forms) == 0 || forms[0] != want {
		t.Errorf("first STS request %q,\nwant %q", forms, want)
	}
}

// TestSessionPerKeyOff: without the option every key's requests share the target's one session, and the
// AssumeRole is the one the relay has always sent.
func TestSessionPerKeyOff(t *testing.T) {
	a := newAttributionRelay(t, false, func(c *config.Config) { c.Attribution.SessionPerKey = false })
	a.ok(t, "bedrock", "alice")
	a.ok(t, "openai", "bob")
	a.ok(t, "anthropic", "alice")
	assumed, bedrock := a.sessions()
	if diff := cmp.Diff([]string{"bedrock-relay ok -"}, assumed); diff != "" {
		t.Errorf("AssumeRole calls (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"bedrock-relay -", "bedrock-relay -", "bedrock-relay -"}, bedrock); diff != "" {
		t.Errorf("Bedrock calls by session (-want +got):\n%s", diff)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	want := []string{"Action=AssumeRole&DurationSeconds=3600&RoleArn=arn%3Aaws%3Aiam%3A%3A222222222222%3Arole%2FBedrockAccessRole&RoleSessionName=bedrock-relay&Version=2011-06-15"}
	if diff := cmp.Diff(want, a.stsForms); diff != "" {
		t.Errorf("STS requests (-want +got):\n%s", diff)
	}
}

// TestSessionPerKeyNoTagSession: a trust policy without sts:TagSession refuses the per-key session with AWS's
// AccessDenied; the relay takes the target out as a setup problem (another key's request makes no AssumeRole
// then) and logs the fix.
func TestSessionPerKeyNoTagSession(t *testing.T) {
	a := newAttributionRelay(t, false, func(*config.Config) {})
	got := a.call(t, "bedrock", "alice", 10)
	if got.status == http.StatusOK {
		t.Fatalf("alice: %d %s, want a refusal", got.status, got.body)
	}
	var denied *sandbox.Call
	for _, c := range a.sb.Calls() {
		if c.Operation == "AssumeRole" {
			denied = &c
		}
	}
	if denied == nil || denied.Outcome != "AccessDenied" || denied.Session != "brk-alice" {
		t.Fatalf("AssumeRole recorded as %+v, want brk-alice refused", denied)
	}
	log := a.log.String()
	for _, want := range []string{
		"target taken out: setup problem",
		"is not authorized to perform: sts:TagSession on resource: arn:aws:iam::222222222222:role/BedrockAccessRole",
		"allow sts:TagSession for the relay's role in the trust policy of arn:aws:iam::222222222222:role/BedrockAccessRole",
		"`bedrock-relay policy --config` prints both",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	n := len(a.sb.Calls())
	if got := a.call(t, "openai", "bob", 10); got.status == http.StatusOK {
		t.Errorf("bob: %d, want the target out", got.status)
	}
	for _, c := range a.sb.Calls()[n:] {
		if c.Service == "sts" || c.Service == "bedrock" {
			t.Errorf("call %+v while the target is out for a setup problem", c)
		}
	}
}

// TestSessionPerKeyMaxSessions: max_sessions bounds the sessions kept per target; the least recently used key
// assumes the role anew when it comes back.
func TestSessionPerKeyMaxSessions(t *testing.T) {
	a := newAttributionRelay(t, true, func(c *config.Config) { c.Attribution.MaxSessions = 1 })
	a.ok(t, "bedrock", "alice")
	a.ok(t, "bedrock", "alice")
	a.ok(t, "bedrock", "bob") // evicts alice
	a.ok(t, "bedrock", "alice")
	assumed, _ := a.sessions()
	want := []string{"brk-alice ok key=alice,group=chat", "brk-bob ok key=bob,group=", "brk-alice ok key=alice,group=chat"}
	if diff := cmp.Diff(want, assumed); diff != "" {
		t.Errorf("AssumeRole calls (-want +got):\n%s", diff)
	}
}

// TestSessionPerKeyOneKeyFailing: STS failing while one key needs a session does not touch another key's:
// bob's request fails, alice's, on her cached session, is served, with no STS call.
func TestSessionPerKeyOneKeyFailing(t *testing.T) {
	a := newAttributionRelay(t, true, func(c *config.Config) { c.Routing.MaxAttempts = 1 })
	a.ok(t, "bedrock", "alice")
	must(t, a.sb.AddFault(sandbox.Fault{Service: "sts", Operation: "AssumeRole", Code: "Throttling"}))
	if got := a.call(t, "bedrock", "bob", 10); got.status == http.StatusOK {
		t.Fatalf("bob while STS fails: %d, want a refusal", got.status)
	}
	a.ok(t, "bedrock", "alice")
	a.ok(t, "openai", "alice")
	assumed, bedrock := a.sessions()
	if diff := cmp.Diff([]string{"brk-alice ok key=alice,group=chat", "brk-bob Throttling key=bob,group="}, assumed); diff != "" {
		t.Errorf("AssumeRole calls (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"brk-alice key=alice,group=chat", "brk-alice key=alice,group=chat", "brk-alice key=alice,group=chat"}, bedrock); diff != "" {
		t.Errorf("Bedrock calls (-want +got):\n%s", diff)
	}
	a.sb.ClearFaults()
	a.ok(t, "bedrock", "bob")
}

// TestSessionPerKeyAuthNone: without keys (auth: none) requests use the target's shared session.
func TestSessionPerKeyAuthNone(t *testing.T) {
	a := newAttributionRelay(t, true, func(c *config.Config) { c.Auth = config.Auth{Mode: "none"}; c.Groups = nil })
	a.ok(t, "bedrock", "")
	a.ok(t, "bedrock", "")
	assumed, bedrock := a.sessions()
	if diff := cmp.Diff([]string{"bedrock-relay ok -"}, assumed); diff != "" {
		t.Errorf("AssumeRole calls (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"bedrock-relay -", "bedrock-relay -"}, bedrock); diff != "" {
		t.Errorf("Bedrock calls (-want +got):\n%s", diff)
	}
}

// TestSessionPerKeyKeyNames: a key name that could not name a session is refused by the config when the
// option is on (and allowed when it is off).
func TestSessionPerKeyKeyNames(t *testing.T) {
	for _, on := range []bool{true, false} {
		cfg := config.Default()
		cfg.Targets = []config.TargetSpec{{Name: "t", RoleARN: sandbox.TargetRoleARN("222222222222"), Region: sandbox.SeedRegion, Models: []string{sandbox.SeedProfile}}}
		cfg.Auth.Keys = []config.Key{keyStanza("has space", "", config.KeyBudgets{}), keyStanza(strings.Repeat("k", 49), "", config.KeyBudgets{})}
		cfg.Attribution.SessionPerKey = on
		cfg.FillDefaults()
		err := cfg.Validate()
		if on && (err == nil || !strings.Contains(err.Error(), `auth.keys[0].name "has space"`) || !strings.Contains(err.Error(), "auth.keys[1].name")) {
			t.Errorf("option on: %v, want both names refused", err)
		}
		if !on && err != nil && strings.Contains(err.Error(), "role session") {
			t.Errorf("option off: %v, want the names accepted", err)
		}
	}
}
