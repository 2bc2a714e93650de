package credcache_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bedrock-relay/bedrock-relay/credcache"
	"github.com/bedrock-relay/bedrock-relay/iampolicy"
	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

var relayTagKeys = []string{"relay-key", "relay-group"}

// allowTags gives the seed's caller sts:TagSession on role's trust policy and its own policy, as `bedrock-relay
// policy` with attribution.session_per_key writes them.
func allowTags(t *testing.T, sb *sandbox.Sandbox, role string) {
	t.Helper()
	trust, err := iampolicy.TrustTagged(sandbox.CallerRoleARN, "", relayTagKeys).MarshalIndent()
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.SetTrustPolicy(role, string(trust)); err != nil {
		t.Fatal(err)
	}
	caller, err := iampolicy.CallerTagged(relayTagKeys, role).MarshalIndent()
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.SetRolePolicy(sandbox.CallerRoleARN, "AssumeBedrockRoles", string(caller)); err != nil {
		t.Fatal(err)
	}
}

func keyedOpts(max int) credcache.KeyedOptions {
	return credcache.KeyedOptions{MaxSessions: max, TagKey: "relay-key", TagGroup: "relay-group"}
}

// assumeRoles are the AssumeRole calls in the sandbox's log: session name → tags of each, in order.
func assumeRoles(sb *sandbox.Sandbox) (sessions []string, tags []map[string]string) {
	for _, c := range sb.Calls() {
		if c.Operation == "AssumeRole" {
			sessions = append(sessions, c.Session+" "+c.Outcome)
			tags = append(tags, c.Tags)
		}
	}
	return sessions, tags
}

// TestKeyedSessionPerKey: each key gets its own session, named brk-KEY and tagged with the key and its group
// (the group tag only when there is a group); the same key's later requests reuse it.
func TestKeyedSessionPerKey(t *testing.T) {
	sb, client := newSandbox(t)
	role := sandbox.TargetRoleARN(sandbox.LargeAccount)
	allowTags(t, sb, role)
	var mu sync.Mutex
	var refreshed []string
	o := keyedOpts(0)
	o.OnRefresh = func(r credcache.Refresh) {
		mu.Lock()
		refreshed = append(refreshed, r.Key+"@"+r.Target.SessionName)
		mu.Unlock()
	}
	k, err := credcache.NewKeyed(client, seedTarget(sandbox.LargeAccount), o)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ids := map[string]string{}
	for _, kg := range [][2]string{{"alice", "chat"}, {"bob", ""}, {"alice", "chat"}, {"bob", ""}} {
		c, err := k.For(kg[0], kg[1])
		if err != nil {
			t.Fatal(err)
		}
		creds, err := c.Retrieve(ctx)
		if err != nil {
			t.Fatalf("%s: %v", kg[0], err)
		}
		if prev, ok := ids[kg[0]]; ok && prev != creds.AccessKeyID {
			t.Errorf("%s: a second request got new credentials", kg[0])
		}
		ids[kg[0]] = creds.AccessKeyID
	}
	if ids["alice"] == ids["bob"] {
		t.Errorf("alice and bob share credentials")
	}
	sessions, tags := assumeRoles(sb)
	if diff := cmp.Diff([]string{"brk-alice ok", "brk-bob ok"}, sessions); diff != "" {
		t.Errorf("AssumeRole calls (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]map[string]string{{"relay-key": "alice", "relay-group": "chat"}, {"relay-key": "bob"}}, tags); diff != "" {
		t.Errorf("session tags (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"alice@brk-alice", "bob@brk-bob"}, refreshed); diff != "" {
		t.Errorf("OnRefresh (-want +got):\n%s", diff)
	}
	if n := k.Len(); n != 2 {
		t.Errorf("Len = %d, want 2", n)
	}
	if ok, failed := k.Refreshes(); ok != 2 || failed != 0 {
		t.Errorf("Refreshes = %d, %d; want 2, 0", ok, failed)
	}
}

// TestKeyedMaxSessions: past MaxSessions the least recently used key's session is dropped; it assumes the
// role anew when it comes back, while a recently used key keeps its own.
func TestKeyedMaxSessions(t *testing.T) {
	sb, client := newSandbox(t)
	allowTags(t, sb, sandbox.TargetRoleARN(sandbox.LargeAccount))
	k, err := credcache.NewKeyed(client, seedTarget(sandbox.LargeAccount), keyedOpts(2))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	use := func(key string) {
		t.Helper()
		c, err := k.For(key, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Retrieve(ctx); err != nil {
			t.Fatal(err)
		}
	}
	use("a")
	use("b")
	use("a") // a is now the most recent: c evicts b
	use("c")
	if k.Len() != 2 || k.Evictions() != 1 {
		t.Errorf("Len, Evictions = %d, %d; want 2, 1", k.Len(), k.Evictions())
	}
	use("a") // still kept: no STS call
	use("b") // evicted: assumes anew, and evicts c
	sessions, _ := assumeRoles(sb)
	if diff := cmp.Diff([]string{"brk-a ok", "brk-b ok", "brk-c ok", "brk-b ok"}, sessions); diff != "" {
		t.Errorf("AssumeRole calls (-want +got):\n%s", diff)
	}
}

// TestKeyedOneKeyFailing: STS refusing one key's session leaves another key's alone; the refusal of session
// tags is recognisable (TagSessionDenied) and says what to do (Hint).
func TestKeyedOneKeyFailing(t *testing.T) {
	sb, client := newSandbox(t)
	role := sandbox.TargetRoleARN(sandbox.LargeAccount)
	// The trust policy lets every key but "mallory" tag its session.
	if err := sb.SetTrustPolicy(role, `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":{"AWS":"`+sandbox.CallerRoleARN+`"},"Action":"sts:AssumeRole"},
		{"Effect":"Allow","Principal":{"AWS":"`+sandbox.CallerRoleARN+`"},"Action":"sts:TagSession","Condition":{"StringNotEquals":{"aws:RequestTag/relay-key":"mallory"}}}]}`); err != nil {
		t.Fatal(err)
	}
	caller, _ := iampolicy.CallerTagged(relayTagKeys, role).MarshalIndent()
	if err := sb.SetRolePolicy(sandbox.CallerRoleARN, "AssumeBedrockRoles", string(caller)); err != nil {
		t.Fatal(err)
	}
	k, err := credcache.NewKeyed(client, seedTarget(sandbox.LargeAccount), keyedOpts(0))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	good, _ := k.For("alice", "")
	first, err := good.Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bad, _ := k.For("mallory", "")
	_, err = bad.Retrieve(ctx)
	var ce *credcache.Error
	if !errors.As(err, &ce) || ce.Key != "mallory" || !ce.TagSessionDenied() {
		t.Fatalf("mallory: got %v, want a *credcache.Error of key mallory refusing sts:TagSession", err)
	}
	if h := ce.Hint(); !strings.Contains(h, "sts:TagSession") || !strings.Contains(h, "bedrock-relay policy") {
		t.Errorf("Hint %q: want it to name sts:TagSession and `bedrock-relay policy`", h)
	}
	if !strings.Contains(err.Error(), "for key mallory") {
		t.Errorf("error %q: want it to name the key", err)
	}
	again, err := good.Retrieve(ctx)
	if err != nil || again.AccessKeyID != first.AccessKeyID {
		t.Errorf("alice after mallory's failure: %v, same credentials %v; want her cached session", err, again.AccessKeyID == first.AccessKeyID)
	}
	if ok, failed := k.Refreshes(); ok != 1 || failed != 1 {
		t.Errorf("Refreshes = %d, %d; want 1, 1", ok, failed)
	}
	// The shared session's error has no key and no hint.
	plain := &credcache.Error{RoleARN: role, Err: errors.New("boom")}
	if plain.TagSessionDenied() || plain.Hint() != "" {
		t.Errorf("a plain error: TagSessionDenied %v, Hint %q", plain.TagSessionDenied(), plain.Hint())
	}
}

// TestKeyedBadKeys: a key that cannot name a session is refused before STS is asked (the config's
// validation of key names with attribution.session_per_key keeps such keys out).
func TestKeyedBadKeys(t *testing.T) {
	sb, client := newSandbox(t)
	k, err := credcache.NewKeyed(client, seedTarget(sandbox.LargeAccount), keyedOpts(0))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"", "has space", "slash/y", strings.Repeat("k", 61)} {
		if _, err := k.For(key, ""); err == nil {
			t.Errorf("For(%q): want an error", key)
		}
	}
	if _, err := k.For(strings.Repeat("k", 60), "g"); err != nil {
		t.Errorf("a 60-character key (a 64-character session name): %v", err)
	}
	if n := sb.Stats().STSCalls(""); n != 0 {
		t.Errorf("%d STS calls, want none", n)
	}
	if _, err := credcache.NewKeyed(client, seedTarget(sandbox.LargeAccount), credcache.KeyedOptions{}); err == nil {
		t.Errorf("NewKeyed without tag names: want an error")
	}
	if got := credcache.SessionName("alice"); got != "brk-alice" {
		t.Errorf("SessionName = %q", got)
	}
}

// TestKeyedRefreshAheadOfExpiry: a key's session is refreshed before it expires, as the shared one is.
func TestKeyedRefreshAheadOfExpiry(t *testing.T) {
	clk := newClock()
	sb, client := newSandbox(t, sandbox.WithClock(clk.Now))
	allowTags(t, sb, sandbox.TargetRoleARN(sandbox.LargeAccount))
	o := keyedOpts(0)
	o.Clock, o.ExpiryWindowJitterFrac = clk.Now, -1
	k, err := credcache.NewKeyed(client, seedTarget(sandbox.LargeAccount), o)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := k.For("alice", "")
	if _, err := c.Retrieve(context.Background()); err != nil {
		t.Fatal(err)
	}
	clk.Advance(11 * time.Minute) // 15-minute session, 5-minute window
	if _, err := c.Retrieve(context.Background()); err != nil {
		t.Fatal(err)
	}
	if sessions, _ := assumeRoles(sb); len(sessions) != 2 {
		t.Errorf("AssumeRole calls %v, want 2 (one refresh ahead of expiry)", sessions)
	}
}
