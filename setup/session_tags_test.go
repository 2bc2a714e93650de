package setup

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bedrock-relay/bedrock-relay/config"
	"github.com/bedrock-relay/bedrock-relay/iampolicy"
)

// TestSessionTags: with the per-key sessions' tag keys (attribution.session_per_key), every role's trust
// policy and the caller's policy allow sts:TagSession for those keys, in the documents and in both
// templates; without, the plan is as before.
func TestSessionTags(t *testing.T) {
	cfg := &config.Config{}
	if got := SessionTagKeys(cfg); got != nil {
		t.Errorf("SessionTagKeys without the option = %v, want none", got)
	}
	cfg.Attribution.SessionPerKey = true
	keys := SessionTagKeys(cfg)
	if diff := cmp.Diff([]string{config.TagKey, config.TagGroup}, keys); diff != "" {
		t.Errorf("SessionTagKeys (-want +got):\n%s", diff)
	}

	plain, err := New(twoAccounts())
	if err != nil {
		t.Fatal(err)
	}
	o := twoAccounts()
	o.SessionTags = keys
	tagged, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range tagged.Roles {
		want := iampolicy.TrustTagged(seedCaller, r.ExternalID, keys)
		if diff := cmp.Diff(want, r.Trust); diff != "" {
			t.Errorf("%s trust (-want +got):\n%s", r.ARN, diff)
		}
		if diff := cmp.Diff(iampolicy.Trust(seedCaller, r.ExternalID), plain.Roles[i].Trust); diff != "" {
			t.Errorf("%s trust without tags (-want +got):\n%s", r.ARN, diff)
		}
		if diff := cmp.Diff(plain.Roles[i].Permissions, r.Permissions); diff != "" {
			t.Errorf("%s permissions differ with tags:\n%s", r.ARN, diff)
		}
	}
	if diff := cmp.Diff(iampolicy.CallerTagged(keys, seedTarget, "arn:aws:iam::333333333333:role/BedrockAccessRole"), tagged.Caller.Assume); diff != "" {
		t.Errorf("caller policy (-want +got):\n%s", diff)
	}

	var docs strings.Builder
	if err := tagged.WriteDocuments(&docs); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(docs.String(), `"sts:TagSession"`); n != 3 {
		t.Errorf("documents name sts:TagSession %d times, want 3 (two trust policies, the caller's):\n%s", n, docs.String())
	}
	tf, err := Terraform(tagged, TemplateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(tf), `"sts:TagSession"`); n != 3 {
		t.Errorf("Terraform names sts:TagSession %d times, want 3:\n%s", n, tf)
	}
	files, err := CloudFormation(tagged, TemplateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		n += strings.Count(string(f.Body), "sts:TagSession")
		if strings.Contains(string(f.Body), "sts:TagSession") && !strings.Contains(string(f.Body), "aws:TagKeys") {
			t.Errorf("%s allows sts:TagSession without the aws:TagKeys condition", f.Name)
		}
	}
	if n != 3 {
		t.Errorf("CloudFormation names sts:TagSession %d times, want 3", n)
	}
}
