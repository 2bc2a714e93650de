package setup

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"

	"github.com/bedrock-relay/bedrock-relay/iampolicy"
)

// TestTerraformParses reads the Terraform output with HashiCorp's own parser and checks that every policy inside
// evaluates (jsonencode and all) to exactly the generated document, and that each resource uses its account's
// provider.
func TestTerraformParses(t *testing.T) {
	p, err := New(twoAccounts())
	if err != nil {
		t.Fatal(err)
	}
	src, err := Terraform(p, TemplateOptions{RelayConfig: testRelayConfig(), FunctionURL: true})
	if err != nil {
		t.Fatal(err)
	}
	f, diags := hclparse.NewParser().ParseHCL(src, "main.tf")
	if diags.HasErrors() {
		t.Fatalf("parse: %v\n%s", diags, src)
	}
	body := f.Body.(*hclsyntax.Body)
	ctx := &hcl.EvalContext{Functions: map[string]function.Function{"jsonencode": stdlib.JSONEncodeFunc}}

	type res struct {
		provider string
		attrs    hclsyntax.Attributes
		blocks   hclsyntax.Blocks
	}
	resources := map[string]res{}
	var aliases []string
	for _, b := range body.Blocks {
		switch b.Type {
		case "resource":
			prov := ""
			if a, ok := b.Body.Attributes["provider"]; ok {
				prov = traversal(a.Expr.(*hclsyntax.ScopeTraversalExpr).Traversal)
			}
			resources[b.Labels[0]+"."+b.Labels[1]] = res{prov, b.Body.Attributes, b.Body.Blocks}
		case "provider":
			v, d := b.Body.Attributes["alias"].Expr.Value(nil)
			if d.HasErrors() {
				t.Fatal(d)
			}
			aliases = append(aliases, v.AsString())
			if len(b.Body.Blocks) != 1 || b.Body.Blocks[0].Type != "assume_role" {
				t.Errorf("provider %s: want an assume_role block", v.AsString())
			}
		}
	}
	if diff := cmp.Diff([]string{"account_111111111111", "account_222222222222", "account_333333333333"}, aliases); diff != "" {
		t.Errorf("provider aliases (-want +got):\n%s", diff)
	}

	policy := func(key, attr string) *iampolicy.Document {
		t.Helper()
		r, ok := resources[key]
		if !ok {
			t.Fatalf("no resource %s in:\n%s", key, src)
		}
		v, d := r.attrs[attr].Expr.Value(ctx)
		if d.HasErrors() {
			t.Fatalf("%s.%s: %v", key, attr, d)
		}
		if v.Type() != cty.String {
			t.Fatalf("%s.%s is %s, want a JSON string", key, attr, v.Type().FriendlyName())
		}
		doc, err := iampolicy.Parse([]byte(v.AsString()))
		if err != nil {
			t.Fatalf("%s.%s: %v\n%s", key, attr, err, v.AsString())
		}
		return doc
	}
	checks := []struct {
		key, attr, provider string
		want                *iampolicy.Document
	}{
		{"aws_iam_role.bedrock_222222222222_BedrockAccessRole", "assume_role_policy", "aws.account_222222222222", p.Roles[0].Trust},
		{"aws_iam_role_policy.bedrock_222222222222_BedrockAccessRole_invoke", "policy", "aws.account_222222222222", p.Roles[0].Permissions},
		{"aws_iam_role_policy.bedrock_222222222222_BedrockAccessRole_read_quotas", "policy", "aws.account_222222222222", p.Roles[0].ReadQuotas},
		{"aws_iam_role.bedrock_333333333333_BedrockAccessRole", "assume_role_policy", "aws.account_333333333333", p.Roles[1].Trust},
		{"aws_iam_role_policy.bedrock_333333333333_BedrockAccessRole_invoke", "policy", "aws.account_333333333333", p.Roles[1].Permissions},
		{"aws_iam_role_policy.caller_assume", "policy", "aws.account_111111111111", p.Caller.Assume},
	}
	for _, c := range checks {
		t.Run(c.key, func(t *testing.T) {
			if diff := cmp.Diff(c.want, policy(c.key, c.attr)); diff != "" {
				t.Errorf("%s.%s (-want +got):\n%s", c.key, c.attr, diff)
			}
			if got := resources[c.key].provider; got != c.provider {
				t.Errorf("%s provider = %s, want %s", c.key, got, c.provider)
			}
		})
	}

	fn, ok := resources["aws_lambda_function.relay"]
	if !ok {
		t.Fatal("no aws_lambda_function.relay")
	}
	for attr, want := range map[string]string{"runtime": "provided.al2023", "handler": "bootstrap", "function_name": "bedrock-relay"} {
		v, _ := fn.attrs[attr].Expr.Value(nil)
		if v.AsString() != want {
			t.Errorf("lambda %s = %s, want %s", attr, v.AsString(), want)
		}
	}
	if len(fn.blocks) != 1 || fn.blocks[0].Type != "environment" {
		t.Fatal("lambda: want one environment block")
	}
	vars, d := fn.blocks[0].Body.Attributes["variables"].Expr.Value(ctx)
	if d.HasErrors() {
		t.Fatal(d)
	}
	gotEnv := map[string]string{}
	for k, v := range vars.AsValueMap() {
		gotEnv[k] = v.AsString()
	}
	var gotCfg map[string]any
	if len(gotEnv) != 1 || json.Unmarshal([]byte(gotEnv[RelayConfigVar]), &gotCfg) != nil {
		t.Fatalf("lambda environment %v: want %s alone, as JSON", gotEnv, RelayConfigVar)
	}
	if diff := cmp.Diff(jsonRoundTrip(t, testRelayConfig()), gotCfg); diff != "" {
		t.Errorf("the function's relay config (-want +got):\n%s", diff)
	}
	url, ok := resources["aws_lambda_function_url.relay"]
	if !ok {
		t.Fatal("--function-url: no aws_lambda_function_url.relay")
	}
	for attr, want := range map[string]string{"authorization_type": "NONE", "invoke_mode": "RESPONSE_STREAM"} {
		if v, _ := url.attrs[attr].Expr.Value(nil); v.AsString() != want {
			t.Errorf("function url %s = %s, want %s", attr, v.AsString(), want)
		}
	}
	for key, want := range map[string]map[string]cty.Value{
		"aws_lambda_permission.relay_url_public_access": {"action": cty.StringVal("lambda:InvokeFunctionUrl"), "principal": cty.StringVal("*"), "function_url_auth_type": cty.StringVal("NONE")},
		"aws_lambda_permission.relay_url_public_invoke": {"action": cty.StringVal("lambda:InvokeFunction"), "principal": cty.StringVal("*"), "invoked_via_function_url": cty.True},
	} {
		for attr, w := range want {
			r, ok := resources[key]
			if !ok {
				t.Fatalf("no %s", key)
			}
			if v, _ := r.attrs[attr].Expr.Value(nil); !v.RawEquals(w) {
				t.Errorf("%s.%s = %#v, want %#v", key, attr, v, w)
			}
		}
	}

	// Without a Function URL, the function is the direct-invocation one, configured by its four variables.
	src, err = Terraform(p, TemplateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f, diags = hclparse.NewParser().ParseHCL(src, "direct.tf")
	if diags.HasErrors() {
		t.Fatalf("parse: %v\n%s", diags, src)
	}
	for _, b := range f.Body.(*hclsyntax.Body).Blocks {
		if b.Type != "resource" || b.Labels[0] != "aws_lambda_function" {
			continue
		}
		vars, d := b.Body.Blocks[0].Body.Attributes["variables"].Expr.Value(nil)
		if d.HasErrors() {
			t.Fatal(d)
		}
		gotEnv := map[string]string{}
		for k, v := range vars.AsValueMap() {
			gotEnv[k] = v.AsString()
		}
		if diff := cmp.Diff(map[string]string{"TARGET_ROLE_ARN": seedTarget, "MODEL_ID": seedProfile, "BEDROCK_REGION": seedRegion}, gotEnv); diff != "" {
			t.Errorf("direct lambda environment (-want +got):\n%s", diff)
		}
	}
	if bytes.Contains(src, []byte("aws_lambda_function_url")) {
		t.Error("a function URL without --function-url")
	}
}

// TestJSONEncodeEscapesTemplates: a policy string holding HCL template sequences (IAM policy variables such as
// ${aws:username}), quotes or backslashes reaches the policy unchanged.
func TestJSONEncodeEscapesTemplates(t *testing.T) {
	const resource = `arn:aws:s3:::b/${aws:username}/%{x} "q" \`
	want := &iampolicy.Document{Version: iampolicy.Version2012, Statement: []iampolicy.Statement{{
		Effect: iampolicy.EffectAllow, Action: iampolicy.StringList{"s3:GetObject"}, Resource: iampolicy.StringList{resource},
	}}}
	f := hclwrite.NewEmptyFile()
	f.Body().SetAttributeRaw("x", jsonencode(want))
	src := hclwrite.Format(f.Bytes())
	parsed, diags := hclparse.NewParser().ParseHCL(src, "x.tf")
	if diags.HasErrors() {
		t.Fatalf("%v\n%s", diags, src)
	}
	attrs, _ := parsed.Body.JustAttributes()
	ctx := &hcl.EvalContext{Functions: map[string]function.Function{"jsonencode": stdlib.JSONEncodeFunc}}
	v, d := attrs["x"].Expr.Value(ctx)
	if d.HasErrors() {
		t.Fatal(d)
	}
	got, err := iampolicy.Parse([]byte(v.AsString()))
	if err != nil {
		t.Fatalf("%v\n%s", err, v.AsString())
	}
	if g := got.Statement[0].Resource[0]; g != resource {
		t.Errorf("got %q, want %q\n%s", g, resource, src)
	}
}

func traversal(tr hcl.Traversal) string {
	out := tr.RootName()
	for _, step := range tr[1:] {
		if a, ok := step.(hcl.TraverseAttr); ok {
			out += "." + a.Name
		}
	}
	return out
}

// TestTerraformCanonical: the output is what `terraform fmt` (hclwrite.Format) makes of it, byte for byte, so a
// repository that checks formatting accepts it as written, and it parses without a single diagnostic.
func TestTerraformCanonical(t *testing.T) {
	pathsAndIDs := Options{
		CallerRoleARN:    "arn:aws:iam::111111111111:role/svc/relay-role",
		Stream:           true,
		ProfileCondition: true,
		Targets: []Grant{
			{RoleARN: "arn:aws:iam::444444444444:role/team/Bedrock-Access.Role", ExternalID: "ext-${x}", Region: "us-east-1",
				Models: []string{"us.anthropic.claude-sonnet-4-5-20250929-v1:0"}, SessionDuration: 4 * time.Hour},
			// The caller's own account as a Bedrock account: one provider and one deploy_role variable for it.
			{RoleARN: "arn:aws:iam::111111111111:role/BedrockLocal", Region: seedRegion, Models: []string{seedProfile}},
			{RoleARN: seedTarget, Region: "ap-northeast-3", Models: []string{seedProfile, "global.anthropic.claude-haiku-4-5-20251001-v1:0"}},
		},
	}
	plans := []struct {
		name string
		opts Options
	}{
		{"three accounts", twoAccounts()},
		{"paths, external id, caller account holds a role", pathsAndIDs},
	}
	templates := []struct {
		name string
		opts TemplateOptions
	}{
		{"default", TemplateOptions{}},
		{"function url", TemplateOptions{RelayConfig: testRelayConfig(), FunctionURL: true}},
		{"no function", TemplateOptions{NoFunction: true}},
		{"x86_64 named", TemplateOptions{Arch: "x86_64", FunctionName: "relay-x"}},
		{"shared state", TemplateOptions{RelayConfig: testRelayConfig(), FunctionURL: true, SharedState: &SharedState{KeyPrefix: "team-a:"}}},
		{"shared state, no function", TemplateOptions{NoFunction: true, SharedState: &SharedState{CacheName: "relay-state"}}},
	}
	for _, pl := range plans {
		p, err := New(pl.opts)
		if err != nil {
			t.Fatalf("%s: %v", pl.name, err)
		}
		for _, tpl := range templates {
			t.Run(pl.name+"/"+tpl.name, func(t *testing.T) {
				out, err := Terraform(p, tpl.opts)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(string(hclwrite.Format(out)), string(out)); diff != "" {
					t.Errorf("output is not canonical (-hclwrite.Format +got):\n%s", diff)
				}
				if !bytes.HasSuffix(out, []byte("}\n")) || bytes.HasSuffix(out, []byte("\n\n")) {
					t.Errorf("output ends %q, want one newline after the last block", out[max(0, len(out)-10):])
				}
				f, diags := hclparse.NewParser().ParseHCL(out, "main.tf")
				if len(diags) != 0 {
					t.Fatalf("parse: got %v, want no diagnostics\n%s", diags, out)
				}
				var lambda, providers int
				for _, b := range f.Body.(*hclsyntax.Body).Blocks {
					switch {
					case b.Type == "resource" && b.Labels[0] == "aws_lambda_function":
						lambda++
					case b.Type == "provider":
						providers++
					}
				}
				wantLambda := 1
				if tpl.opts.NoFunction {
					wantLambda = 0
				}
				if lambda != wantLambda {
					t.Errorf("got %d aws_lambda_function resources, want %d", lambda, wantLambda)
				}
				if want := len(slices.Compact(slices.Sorted(slices.Values(append(p.Accounts(), p.Caller.Account))))); providers != want {
					t.Errorf("got %d providers, want %d (one per account)", providers, want)
				}
			})
		}
	}
}
