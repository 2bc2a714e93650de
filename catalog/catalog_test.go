package catalog

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestProfileDestinations(t *testing.T) {
	c := Default()
	tests := []struct {
		id   string
		want []string
	}{
		{"jp.anthropic.claude-sonnet-4-5-20250929-v1:0", []string{"ap-northeast-1", "ap-northeast-3"}},
		{"us.anthropic.claude-sonnet-4-5-20250929-v1:0", []string{"us-east-1", "us-east-2", "us-west-2"}},
		{"au.anthropic.claude-sonnet-4-5-20250929-v1:0", []string{"ap-southeast-2", "ap-southeast-4"}},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			p, err := c.Profile(tt.id)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, p.DestinationRegions); diff != "" {
				t.Errorf("destinations (-want +got):\n%s", diff)
			}
			if p.Model.OutputBurndown != 5 {
				t.Errorf("burndown = %d, want 5", p.Model.OutputBurndown)
			}
		})
	}
}

func TestProfileErrors(t *testing.T) {
	c := Default()
	if _, err := c.Profile("xx.anthropic.claude-sonnet-4-5-20250929-v1:0"); !errors.Is(err, ErrUnknownGeography) {
		t.Errorf("unknown prefix: got %v, want ErrUnknownGeography", err)
	}
	if _, err := c.Profile("jp.anthropic.claude-opus-4-1-20250805-v1:0"); !errors.Is(err, ErrUnknownModel) {
		t.Errorf("model not in geography: got %v, want ErrUnknownModel", err)
	}
}

func TestParseRef(t *testing.T) {
	tests := []struct {
		in   string
		want Ref
	}{
		{"anthropic.claude-sonnet-4-5-20250929-v1:0", Ref{Kind: KindFoundationModel, ID: "anthropic.claude-sonnet-4-5-20250929-v1:0"}},
		{"jp.anthropic.claude-sonnet-4-5-20250929-v1%3A0", Ref{Kind: KindSystemProfile, ID: "jp.anthropic.claude-sonnet-4-5-20250929-v1:0"}},
		{"arn%3Aaws%3Abedrock%3Aap-northeast-1%3A222222222222%3Ainference-profile%2Fjp.anthropic.claude-sonnet-4-5-20250929-v1%3A0",
			Ref{Kind: KindSystemProfile, ID: "jp.anthropic.claude-sonnet-4-5-20250929-v1:0", Partition: "aws", Region: "ap-northeast-1", Account: "222222222222", IsARN: true}},
		{"arn:aws:bedrock:us-east-1:222222222222:application-inference-profile/abc123",
			Ref{Kind: KindApplicationProfile, ID: "abc123", Partition: "aws", Region: "us-east-1", Account: "222222222222", IsARN: true}},
		{"arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0",
			Ref{Kind: KindFoundationModel, ID: "amazon.nova-pro-v1:0", Partition: "aws", Region: "us-east-1", IsARN: true}},
	}
	for _, tt := range tests {
		got, err := ParseRef(tt.in)
		if err != nil {
			t.Errorf("ParseRef(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseRef(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
	for _, bad := range []string{"", "arn:aws:s3:::bucket/x", "arn:aws:bedrock:us-east-1:1:thing/x", "a b", "%zz"} {
		if _, err := ParseRef(bad); err == nil {
			t.Errorf("ParseRef(%q): got nil error, want one", bad)
		}
	}
}

func FuzzParseRef(f *testing.F) {
	f.Add("jp.anthropic.claude-sonnet-4-5-20250929-v1%3A0")
	f.Add("arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRef(s)
		if err == nil && r.ID == "" {
			t.Errorf("ParseRef(%q) gave an empty id without error", s)
		}
	})
}

func TestProfileFor(t *testing.T) {
	c := Default()
	m, ok := c.Model("anthropic.claude-sonnet-4-5-20250929-v1:0")
	if !ok {
		t.Fatal("Claude Sonnet 4.5 is not in the catalogue")
	}
	for region, want := range map[string]struct {
		id       string
		callable bool
	}{
		"ap-northeast-1": {"jp.anthropic.claude-sonnet-4-5-20250929-v1:0", true},
		"us-east-1":      {"us.anthropic.claude-sonnet-4-5-20250929-v1:0", true},
	} {
		id, callable := c.ProfileFor(m, region)
		if id != want.id || callable != want.callable {
			t.Errorf("ProfileFor(%s) = %q, %v; want %q, %v", region, id, callable, want.id, want.callable)
		}
	}
	if _, callable := c.ProfileFor(m, "xx-nowhere-1"); callable {
		t.Error("a region no geography serves: got callable")
	}
}
