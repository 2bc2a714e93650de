package iampolicy

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var relayTagKeys = []string{"relay-key", "relay-group"}

// TestSessionTagDocuments: with the per-key sessions' tag keys the trust policy and the caller's policy gain an
// sts:TagSession statement limited to them (golden files); without, they are Trust's and Caller's byte for byte.
func TestSessionTagDocuments(t *testing.T) {
	for _, tt := range []struct {
		file string
		doc  *Document
	}{
		{"trust-session-tags.json", TrustTagged(seedCaller, "", relayTagKeys)},
		{"trust-session-tags-external-id.json", TrustTagged(seedCaller, "relay-7f3a", relayTagKeys)},
		{"caller-session-tags.json", CallerTagged(relayTagKeys, seedTarget, "arn:aws:iam::333333333333:role/BedrockAccessRole")},
	} {
		t.Run(tt.file, func(t *testing.T) {
			got, err := tt.doc.MarshalIndent()
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tt.file)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tt.file, diff)
			}
		})
	}
	for _, tt := range []struct {
		name      string
		got, want *Document
	}{
		{"trust", TrustTagged(seedCaller, "", nil), Trust(seedCaller, "")},
		{"trust with external id", TrustTagged(seedCaller, "x-1", nil), Trust(seedCaller, "x-1")},
		{"caller", CallerTagged(nil, seedTarget), Caller(seedTarget)},
	} {
		got, _ := tt.got.MarshalIndent()
		want, _ := tt.want.MarshalIndent()
		if string(got) != string(want) {
			t.Errorf("%s without tag keys:\n%s\nwant\n%s", tt.name, got, want)
		}
	}
	if got, _ := Trust(seedCaller, "").MarshalIndent(); string(got) != seedTrustJSON {
		t.Errorf("the seed's trust policy changed:\n%s", got)
	}
}

// TestSessionTagEvaluation: the generated trust policy allows the relay's tagged AssumeRole, and no other tag.
func TestSessionTagEvaluation(t *testing.T) {
	trust := TrustTagged(seedCaller, "", relayTagKeys)
	caller := CallerTagged(relayTagKeys, seedTarget)
	req := func(action string, keys ...string) Request {
		ctx := map[string][]string{}
		if len(keys) > 0 {
			ctx["aws:TagKeys"] = keys
		}
		return Request{Principal: lambdaSession, PrincipalAccount: "111111111111", Action: action, Resource: seedTarget, Context: ctx}
	}
	p := Policies{Identity: []*Document{caller}, Resource: trust}
	for _, tt := range []struct {
		name string
		req  Request
		ok   bool
	}{
		{"assume role", req(ActionAssumeRole), true},
		{"tag session, key and group", req(ActionTagSession, "relay-key", "relay-group"), true},
		{"tag session, key alone", req(ActionTagSession, "relay-key"), true},
		{"tag session, another key too", req(ActionTagSession, "relay-key", "team"), false},
	} {
		if got := Evaluate(tt.req, p).Allowed(); got != tt.ok {
			t.Errorf("%s: allowed %v, want %v", tt.name, got, tt.ok)
		}
	}
	// Without the statement (Trust alone), no tag passes.
	if Evaluate(req(ActionTagSession, "relay-key"), Policies{Identity: []*Document{caller}, Resource: Trust(seedCaller, "")}).Allowed() {
		t.Errorf("Trust alone allows sts:TagSession")
	}
}
