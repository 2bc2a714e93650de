package upstream_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	relay "github.com/bedrock-relay/bedrock-relay"
	"github.com/bedrock-relay/bedrock-relay/credcache"
	"github.com/bedrock-relay/bedrock-relay/iampolicy"
	"github.com/bedrock-relay/bedrock-relay/sandbox"
	"github.com/bedrock-relay/bedrock-relay/upstream"
)

// keyedSetup is a client of LargeAccount's role with per-key sessions (credcache.Keyed), the role's trust and
// the caller's policy allowing the relay's session tags.
func keyedSetup(t *testing.T) (*sandbox.Sandbox, *upstream.Client, *credcache.Keyed) {
	t.Helper()
	sb, err := sandbox.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(sb)
	t.Cleanup(ts.Close)
	role := sandbox.TargetRoleARN(sandbox.LargeAccount)
	keys := []string{"relay-key", "relay-group"}
	trust, _ := iampolicy.TrustTagged(sandbox.CallerRoleARN, "", keys).MarshalIndent()
	caller, _ := iampolicy.CallerTagged(keys, role).MarshalIndent()
	if err := sb.SetTrustPolicy(role, string(trust)); err != nil {
		t.Fatal(err)
	}
	if err := sb.SetRolePolicy(sandbox.CallerRoleARN, "AssumeBedrockRoles", string(caller)); err != nil {
		t.Fatal(err)
	}
	src := aws.Config{Region: sandbox.SeedRegion, BaseEndpoint: aws.String(ts.URL), Credentials: credentials.StaticCredentialsProvider{Value: sb.CallerCredentials()}}
	target := relay.Target{RoleARN: role, Region: sandbox.SeedRegion}.WithDefaults()
	shared, err := credcache.New(sts.NewFromConfig(src), target, credcache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	keyed, err := credcache.NewKeyed(sts.NewFromConfig(src), target, credcache.KeyedOptions{TagKey: "relay-key", TagGroup: "relay-group"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := upstream.New(context.Background(), upstream.Options{Region: sandbox.SeedRegion, BaseEndpoint: ts.URL, Credentials: shared, KeyCredentials: keyed})
	if err != nil {
		t.Fatal(err)
	}
	return sb, c, keyed
}

// TestKeyCredentials: a request naming a key is signed with that key's session, one without with the shared
// session; an expired key session is refreshed for that key alone.
func TestKeyCredentials(t *testing.T) {
	sb, c, _ := keyedSetup(t)
	ctx := context.Background()
	do := func(key, group string) {
		t.Helper()
		resp, err := c.Do(ctx, &upstream.Request{Op: upstream.OpInvoke, ModelID: sandbox.SeedProfile, Body: []byte(body), Key: key, Group: group})
		if err != nil {
			t.Fatalf("key %q: %v", key, err)
		}
		resp.Body.Close()
	}
	do("alice", "chat")
	do("", "")
	do("alice", "chat")
	var sessions []string
	for _, call := range sb.Calls() {
		if call.Service == "bedrock" {
			sessions = append(sessions, call.Session+":"+call.Tags["relay-group"])
		}
	}
	if want := []string{"brk-alice:chat", "bedrock-relay:", "brk-alice:chat"}; len(sessions) != 3 || sessions[0] != want[0] || sessions[1] != want[1] || sessions[2] != want[2] {
		t.Errorf("Bedrock calls by %v, want %v", sessions, want)
	}
	if n := sb.Stats().STSCalls("AssumeRole"); n != 2 {
		t.Errorf("AssumeRole calls = %d, want 2 (alice's, the shared one)", n)
	}
	sb.ExpireSessions(sandbox.TargetRoleARN(sandbox.LargeAccount))
	do("alice", "chat")
	if n := sb.Stats().STSCalls("AssumeRole"); n != 3 {
		t.Errorf("AssumeRole calls = %d after alice's session expired, want 3 (her refresh alone)", n)
	}
}

// TestKeyCredentialsErrors: a key that cannot have a session, and a key whose AssumeRole STS refuses, fail as
// CredentialsError (which the router classifies like the shared session's).
func TestKeyCredentialsErrors(t *testing.T) {
	sb, c, _ := keyedSetup(t)
	ctx := context.Background()
	_, err := c.Do(ctx, &upstream.Request{Op: upstream.OpInvoke, ModelID: sandbox.SeedProfile, Body: []byte(body), Key: "no spaces allowed"})
	var ce *upstream.CredentialsError
	if !errors.As(err, &ce) {
		t.Errorf("bad key: got %v, want a CredentialsError", err)
	}
	if err := sb.SetTrustPolicy(sandbox.TargetRoleARN(sandbox.LargeAccount), `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"`+sandbox.CallerRoleARN+`"},"Action":"sts:AssumeRole"}]}`); err != nil {
		t.Fatal(err)
	}
	_, err = c.Do(ctx, &upstream.Request{Op: upstream.OpInvoke, ModelID: sandbox.SeedProfile, Body: []byte(body), Key: "bob"})
	var cc *credcache.Error
	if !errors.As(err, &ce) || !errors.As(err, &cc) || !cc.TagSessionDenied() || cc.Key != "bob" {
		t.Errorf("refused tags: got %v, want a CredentialsError wrapping credcache.Error of bob refusing sts:TagSession", err)
	}
	// The shared session is not touched by it.
	resp, err := c.Do(ctx, &upstream.Request{Op: upstream.OpInvoke, ModelID: sandbox.SeedProfile, Body: []byte(body)})
	if err != nil {
		t.Fatalf("without a key: %v", err)
	}
	resp.Body.Close()
}
