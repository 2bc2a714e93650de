package iampolicy

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bedrock-relay/bedrock-relay/catalog"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

const (
	seedCaller  = "arn:aws:iam::111111111111:role/lambda-execution-role"
	seedTarget  = "arn:aws:iam::222222222222:role/BedrockAccessRole"
	seedAccount = "222222222222"
	seedModel   = "jp.anthropic.claude-sonnet-4-5-20250929-v1:0"
	seedRegion  = "ap-northeast-1"
)

// The seed article's three documents, with its 1111xxxxxxxx / 2222xxxxxxxx accounts made real. They are spelled
// out here, not only in golden files, so that -update cannot quietly drift away from them.
const (
	seedTrustJSON = `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Principal": {
        "AWS": "arn:aws:iam::111111111111:role/lambda-execution-role"
      },
      "Action": "sts:AssumeRole"
    }
  ]
}
`
	seedPermissionsJSON = `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": "bedrock:InvokeModel",
      "Resource": [
        "arn:aws:bedrock:ap-northeast-1:222222222222:inference-profile/jp.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "arn:aws:bedrock:ap-northeast-1::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0",
        "arn:aws:bedrock:ap-northeast-3::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"
      ]
    }
  ]
}
`
	seedCallerJSON = `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": "sts:AssumeRole",
      "Resource": "arn:aws:iam::222222222222:role/BedrockAccessRole"
    }
  ]
}
`
)

func mustPermissions(t *testing.T, opts PermissionOptions) *Document {
	t.Helper()
	d, err := Permissions(opts)
	if err != nil {
		t.Fatalf("Permissions(%+v): %v", opts, err)
	}
	return d
}

func TestSeedDocuments(t *testing.T) {
	tests := []struct {
		name string
		doc  *Document
		want string
	}{
		{"trust", Trust(seedCaller, ""), seedTrustJSON},
		{"permissions", mustPermissions(t, PermissionOptions{TargetAccount: seedAccount, Model: seedModel, Region: seedRegion}), seedPermissionsJSON},
		{"caller", Caller(seedTarget), seedCallerJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.doc.MarshalIndent()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("seed %s document (-want +got):\n%s", tt.name, diff)
			}
		})
	}
}

func TestGolden(t *testing.T) {
	tests := []struct {
		file string
		doc  func() (*Document, error)
	}{
		{"seed-trust.json", func() (*Document, error) { return Trust(seedCaller, ""), nil }},
		{"seed-permissions.json", func() (*Document, error) {
			return Permissions(PermissionOptions{TargetAccount: seedAccount, Model: seedModel, Region: seedRegion})
		}},
		{"seed-caller.json", func() (*Document, error) { return Caller(seedTarget), nil }},
		{"trust-external-id.json", func() (*Document, error) { return Trust(seedCaller, "relay-7f3a"), nil }},
		{"caller-two-targets.json", func() (*Document, error) {
			return Caller(seedTarget, "arn:aws:iam::333333333333:role/BedrockAccessRole"), nil
		}},
		{"permissions-us.json", func() (*Document, error) {
			return Permissions(PermissionOptions{TargetAccount: seedAccount, Model: "us.anthropic.claude-sonnet-4-5-20250929-v1:0", Region: "us-east-1"})
		}},
		{"permissions-global.json", func() (*Document, error) {
			return Permissions(PermissionOptions{TargetAccount: seedAccount, Model: "global.anthropic.claude-sonnet-4-5-20250929-v1:0", Region: "us-west-2"})
		}},
		{"permissions-stream.json", func() (*Document, error) {
			return Permissions(PermissionOptions{TargetAccount: seedAccount, Model: seedModel, Region: seedRegion, Stream: true})
		}},
		{"permissions-profile-condition.json", func() (*Document, error) {
			return Permissions(PermissionOptions{TargetAccount: seedAccount, Model: seedModel, Region: seedRegion, Stream: true, ProfileCondition: true})
		}},
		{"permissions-application-profile.json", func() (*Document, error) {
			return Permissions(PermissionOptions{Model: "arn:aws:bedrock:us-east-1:222222222222:application-inference-profile/a1b2c3d4e5f6", Regions: []string{"us-east-1", "us-east-2", "us-west-2"}})
		}},
		{"permissions-us-gov.json", func() (*Document, error) {
			return Permissions(PermissionOptions{TargetAccount: seedAccount, Model: "us-gov.anthropic.claude-sonnet-4-5-20250929-v1:0", Region: "us-gov-west-1"})
		}},
		{"permissions-foundation-model.json", func() (*Document, error) {
			return Permissions(PermissionOptions{TargetAccount: seedAccount, Model: "amazon.nova-pro-v1:0", Region: "ap-northeast-1"})
		}},
		{"permissions-explicit-regions.json", func() (*Document, error) {
			return Permissions(PermissionOptions{TargetAccount: seedAccount, Model: "mx.anthropic.claude-sonnet-4-5-20250929-v1:0", Region: "mx-central-1", Regions: []string{"mx-central-1", "us-east-1"}})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			doc, err := tt.doc()
			if err != nil {
				t.Fatal(err)
			}
			got, err := doc.MarshalIndent()
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
				t.Fatalf("%v (run go test ./iampolicy -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", path, diff)
			}
			// Generated documents must be ones Parse accepts and that survive a round trip unchanged.
			back, err := Parse(got)
			if err != nil {
				t.Fatalf("Parse(generated): %v", err)
			}
			if diff := cmp.Diff(doc, back); diff != "" {
				t.Errorf("round trip (-generated +parsed):\n%s", diff)
			}
		})
	}
}

func TestPermissionsErrors(t *testing.T) {
	tests := []struct {
		name     string
		opts     PermissionOptions
		is       error
		contains []string
	}{
		{"unknown geography", PermissionOptions{TargetAccount: seedAccount, Model: "mx.anthropic.claude-sonnet-4-5-20250929-v1:0", Region: "mx-central-1"},
			catalog.ErrUnknownGeography, []string{`"mx."`, "--regions"}},
		{"region outside geography", PermissionOptions{TargetAccount: seedAccount, Model: seedModel, Region: "us-east-1"},
			ErrInvalidOptions, []string{"jp.", "us-east-1", "ap-northeast-1, ap-northeast-3"}},
		{"model not in geography", PermissionOptions{TargetAccount: seedAccount, Model: "jp.anthropic.claude-opus-4-1-20250805-v1:0", Region: seedRegion},
			catalog.ErrUnknownModel, []string{"jp."}},
		{"profile-only foundation model", PermissionOptions{TargetAccount: seedAccount, Model: "anthropic.claude-sonnet-4-5-20250929-v1:0", Region: seedRegion},
			ErrInvalidOptions, []string{"only served through inference profiles", "jp.anthropic.claude-sonnet-4-5-20250929-v1:0"}},
		{"bad account", PermissionOptions{TargetAccount: "2222xxxxxxxx", Model: seedModel, Region: seedRegion},
			ErrInvalidOptions, []string{"12-digit"}},
		{"no region", PermissionOptions{TargetAccount: seedAccount, Model: seedModel},
			ErrInvalidOptions, []string{"region is empty"}},
		{"no model", PermissionOptions{TargetAccount: seedAccount, Region: seedRegion},
			ErrInvalidOptions, []string{"model is empty"}},
		{"ARN region disagrees", PermissionOptions{Model: "arn:aws:bedrock:ap-northeast-1:222222222222:inference-profile/" + seedModel, Region: "ap-northeast-3"},
			ErrInvalidOptions, []string{"ap-northeast-1", "ap-northeast-3"}},
		{"provisioned model", PermissionOptions{Model: "arn:aws:bedrock:us-east-1:222222222222:provisioned-model/abc", Region: "us-east-1"},
			ErrInvalidOptions, []string{"provisioned-model"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Permissions(tt.opts)
			if err == nil {
				t.Fatal("got nil error, want one")
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("error %q: want errors.Is %v", err, tt.is)
			}
			if !errors.Is(err, ErrInvalidOptions) {
				t.Errorf("error %q: want errors.Is ErrInvalidOptions", err)
			}
			for _, s := range tt.contains {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

func TestPermissionsFromProfileARN(t *testing.T) {
	arn := "arn:aws:bedrock:ap-northeast-1:222222222222:inference-profile/" + seedModel
	got := mustPermissions(t, PermissionOptions{Model: arn})
	want := mustPermissions(t, PermissionOptions{TargetAccount: seedAccount, Model: seedModel, Region: seedRegion})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("profile ARN vs id (-want +got):\n%s", diff)
	}
}
