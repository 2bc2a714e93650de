package setup

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/google/go-cmp/cmp"

	"github.com/bedrock-relay/bedrock-relay/iampolicy"
)

// moto is a moto server (python3 -m moto.server) on a free loopback port, stopped when the test ends.
type moto struct{ url string }

func startMoto(t *testing.T) *moto {
	t.Helper()
	if err := exec.Command("python3", "-c", "import moto.server").Run(); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("moto is not installed (python3 -c 'import moto.server': %v); pip install 'moto[server]' to run this test. CI fails here instead of skipping.", err)
		}
		t.Fatalf("moto is required in CI: python3 -c 'import moto.server': %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	var logs bytes.Buffer
	cmd := exec.Command("python3", "-m", "moto.server", "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("moto log:\n%s", logs.String())
		}
	})
	m := &moto{url: fmt.Sprintf("http://127.0.0.1:%d", port)}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(m.url + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("moto did not answer on %s within 60s: %v", m.url, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// accountClient sends every request as one moto account.
type accountClient struct {
	account string
	base    *http.Client
}

func (c accountClient) Do(r *http.Request) (*http.Response, error) {
	r.Header.Set("x-moto-account-id", c.account)
	return c.base.Do(r)
}

func (m *moto) config(account string) aws.Config {
	return aws.Config{
		Region:           seedRegion,
		Credentials:      credentials.NewStaticCredentialsProvider("AKIAMOTOTESTING00000", "moto-testing-secret", ""),
		BaseEndpoint:     aws.String(m.url),
		HTTPClient:       accountClient{account, &http.Client{Timeout: 30 * time.Second}},
		RetryMaxAttempts: 1,
	}
}

// put sends a plain (unsigned) request to moto as account: for the S3 bucket and object the Lambda code comes
// from, since the module has no S3 client.
func (m *moto) put(t *testing.T, account, path string, body []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, m.url+path, bytes.NewReader(body))
	req.Header.Set("x-moto-account-id", account)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("PUT %s: %s %s", path, resp.Status, b)
	}
}

func deployStack(t *testing.T, ctx context.Context, cfg aws.Config, f File, params map[string]string) {
	t.Helper()
	cf := cloudformation.NewFromConfig(cfg)
	in := &cloudformation.CreateStackInput{StackName: aws.String(f.Stack), TemplateBody: aws.String(string(f.Body)),
		Capabilities: []cftypes.Capability{cftypes.CapabilityCapabilityNamedIam}}
	for k, v := range params {
		in.Parameters = append(in.Parameters, cftypes.Parameter{ParameterKey: aws.String(k), ParameterValue: aws.String(v)})
	}
	if _, err := cf.CreateStack(ctx, in); err != nil {
		t.Fatalf("create stack %s in %s: %v", f.Stack, f.Account, err)
	}
	w := cloudformation.NewStackCreateCompleteWaiter(cf, func(o *cloudformation.StackCreateCompleteWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second
	})
	out, err := w.WaitForOutput(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(f.Stack)}, time.Minute)
	if err != nil {
		t.Fatalf("stack %s in %s: %v", f.Stack, f.Account, err)
	}
	if got := out.Stacks[0].StackStatus; got != cftypes.StackStatusCreateComplete {
		t.Fatalf("stack %s in %s: %s (%s), want CREATE_COMPLETE", f.Stack, f.Account, got, aws.ToString(out.Stacks[0].StackStatusReason))
	}
}

func decodedPolicy(t *testing.T, escaped *string) *iampolicy.Document {
	t.Helper()
	s, err := url.QueryUnescape(aws.ToString(escaped))
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(s, "{'") {
		s = pythonReprToJSON(t, s)
	}
	d, err := iampolicy.Parse([]byte(s))
	if err != nil {
		t.Fatalf("policy from IAM: %v\n%s", err, s)
	}
	return d
}

// pythonReprToJSON works around moto returning inline role policies created by CloudFormation as a Python
// dict's repr ({'Version': ...}) instead of the JSON document.
func pythonReprToJSON(t *testing.T, s string) string {
	t.Helper()
	cmd := exec.Command("python3", "-c", "import ast,json,sys; print(json.dumps(ast.literal_eval(sys.stdin.read())))")
	cmd.Stdin = strings.NewReader(s)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("convert moto's policy repr to JSON: %v", err)
	}
	return string(out)
}

// TestCloudFormationDeploysInMoto deploys the generated stacks into moto, the caller's first, reads the roles and
// policies back through the IAM API and assumes the created role from the caller account.
//
// moto's CloudFormation does not implement AWS::Lambda::Url (and a template whose Outputs reference it fails),
// so the stacks are deployed without --function-url; TestCloudFormationFunctionURL checks that resource's shape.
func TestCloudFormationDeploysInMoto(t *testing.T) {
	m := startMoto(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	p, err := New(twoAccounts())
	if err != nil {
		t.Fatal(err)
	}
	files, err := CloudFormation(p, TemplateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
	}
	if diff := cmp.Diff([]string{"caller-account-111111111111.yaml", "bedrock-account-222222222222.yaml", "bedrock-account-333333333333.yaml"}, names); diff != "" {
		t.Fatalf("files (-want +got):\n%s", diff)
	}

	m.put(t, "111111111111", "/relay-code", []byte(`<CreateBucketConfiguration><LocationConstraint>ap-northeast-1</LocationConstraint></CreateBucketConfiguration>`))
	m.put(t, "111111111111", "/relay-code/bedrock-relay-lambda-arm64.zip", append([]byte("PK\x05\x06"), make([]byte, 18)...)) // an empty zip
	for _, f := range files {
		params := map[string]string{}
		if strings.HasPrefix(f.Name, "caller-") {
			params["CodeS3Bucket"] = "relay-code"
		}
		deployStack(t, ctx, m.config(f.Account), f, params)
	}

	for _, r := range p.Roles {
		c := iam.NewFromConfig(m.config(r.Account))
		got, err := c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(r.Name)})
		if err != nil {
			t.Fatalf("GetRole %s: %v", r.ARN, err)
		}
		if aws.ToString(got.Role.Arn) != r.ARN {
			t.Errorf("role ARN = %s, want %s", aws.ToString(got.Role.Arn), r.ARN)
		}
		if diff := cmp.Diff(r.Trust, decodedPolicy(t, got.Role.AssumeRolePolicyDocument)); diff != "" {
			t.Errorf("%s trust policy (-generated +deployed):\n%s", r.ARN, diff)
		}
		for name, want := range map[string]*iampolicy.Document{PolicyInvoke: r.Permissions, PolicyReadQuotas: r.ReadQuotas} {
			pol, err := c.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(r.Name), PolicyName: aws.String(name)})
			if err != nil {
				t.Fatalf("GetRolePolicy %s %s: %v", r.ARN, name, err)
			}
			if diff := cmp.Diff(want, decodedPolicy(t, pol.PolicyDocument)); diff != "" {
				t.Errorf("%s policy %s (-generated +deployed):\n%s", r.ARN, name, diff)
			}
		}
	}

	callerIAM := iam.NewFromConfig(m.config("111111111111"))
	role, err := callerIAM.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("lambda-execution-role")})
	if err != nil {
		t.Fatalf("caller role: %v", err)
	}
	if got := aws.ToString(role.Role.Arn); got != seedCaller {
		t.Errorf("caller role ARN = %s, want %s", got, seedCaller)
	}
	pol, err := callerIAM.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String("lambda-execution-role"), PolicyName: aws.String(PolicyAssume)})
	if err != nil {
		t.Fatal(err)
	}
	callerPolicy := decodedPolicy(t, pol.PolicyDocument)
	if diff := cmp.Diff(p.Caller.Assume, callerPolicy); diff != "" {
		t.Errorf("caller policy (-generated +deployed):\n%s", diff)
	}

	// The function, read back through moto's Lambda API (unsigned: the module has no Lambda client).
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m.url+"/2015-03-31/functions/bedrock-relay", nil)
	req.Header.Set("x-moto-account-id", "111111111111")
	// moto routes by the credential scope's service; it does not verify the signature.
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAMOTOTESTING00000/20250101/"+seedRegion+"/lambda/aws4_request, SignedHeaders=host, Signature=00")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var fn struct {
		Configuration struct {
			Runtime, Handler, Role string
			Environment            struct{ Variables map[string]string }
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&fn); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GetFunction: %s %v", resp.Status, err)
	}
	c := fn.Configuration
	// Architectures is not compared: moto's CloudFormation ignores it and reports x86_64
	// (TestCloudFormationFunctionURL checks it in the template).
	if c.Runtime != "provided.al2023" || c.Handler != "bootstrap" || c.Role != seedCaller {
		t.Errorf("function runtime=%s handler=%s role=%s, want provided.al2023 bootstrap %s", c.Runtime, c.Handler, c.Role, seedCaller)
	}
	if diff := cmp.Diff(map[string]string{"TARGET_ROLE_ARN": seedTarget, "MODEL_ID": seedProfile, "BEDROCK_REGION": seedRegion}, c.Environment.Variables); diff != "" {
		t.Errorf("function environment (-want +got):\n%s", diff)
	}

	// AssumeRole from the caller account into each created role. moto's STS does not evaluate policies, so the
	// deployed documents are also evaluated as AWS would for that call.
	for _, r := range p.Roles {
		in := &sts.AssumeRoleInput{RoleArn: aws.String(r.ARN), RoleSessionName: aws.String("bedrock-relay")}
		if r.ExternalID != "" {
			in.ExternalId = aws.String(r.ExternalID)
		}
		out, err := sts.NewFromConfig(m.config("111111111111")).AssumeRole(ctx, in)
		if err != nil {
			t.Fatalf("AssumeRole %s from the caller account: %v", r.ARN, err)
		}
		if got, want := aws.ToString(out.AssumedRoleUser.Arn), "arn:aws:sts::"+r.Account+":assumed-role/"+r.Name+"/bedrock-relay"; got != want {
			t.Errorf("assumed role user = %s, want %s", got, want)
		}
		trust, err := iam.NewFromConfig(m.config(r.Account)).GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(r.Name)})
		if err != nil {
			t.Fatal(err)
		}
		reqCtx := map[string][]string{}
		if r.ExternalID != "" {
			reqCtx[iampolicy.KeyExternalID] = []string{r.ExternalID}
		}
		d := iampolicy.Evaluate(iampolicy.Request{Principal: "arn:aws:sts::111111111111:assumed-role/lambda-execution-role/bedrock-relay",
			Action: iampolicy.ActionAssumeRole, Resource: r.ARN, Context: reqCtx},
			iampolicy.Policies{Identity: []*iampolicy.Document{callerPolicy}, Resource: decodedPolicy(t, trust.Role.AssumeRolePolicyDocument)})
		if !d.Allowed() {
			t.Errorf("deployed policies do not allow the caller to assume %s: %v by %v", r.ARN, d.Outcome, d.Policy)
		}
	}
}

// TestCloudFormationFunctionURL checks the Function URL resource moto cannot create.
func TestCloudFormationFunctionURL(t *testing.T) {
	p, err := New(twoAccounts())
	if err != nil {
		t.Fatal(err)
	}
	files, err := CloudFormation(p, TemplateOptions{RelayConfig: testRelayConfig(), FunctionURL: true, Arch: "x86_64"})
	if err != nil {
		t.Fatal(err)
	}
	var tpl struct {
		Resources map[string]struct {
			Type       string         `yaml:"Type"`
			Properties map[string]any `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := yamlUnmarshal(files[0].Body, &tpl); err != nil {
		t.Fatal(err)
	}
	u := tpl.Resources["FunctionUrl"]
	want := map[string]any{"TargetFunctionArn": map[string]any{"Fn::GetAtt": []any{"Function", "Arn"}}, "AuthType": "NONE", "InvokeMode": "RESPONSE_STREAM"}
	if u.Type != "AWS::Lambda::Url" || !cmp.Equal(want, u.Properties) {
		t.Errorf("FunctionUrl = %s %v, want AWS::Lambda::Url %v", u.Type, u.Properties, want)
	}
	fnRef := map[string]any{"Ref": "Function"}
	for id, want := range map[string]map[string]any{
		"FunctionUrlPublicAccess": {"FunctionName": fnRef, "Action": "lambda:InvokeFunctionUrl", "Principal": "*", "FunctionUrlAuthType": "NONE"},
		"FunctionUrlPublicInvoke": {"FunctionName": fnRef, "Action": "lambda:InvokeFunction", "Principal": "*", "InvokedViaFunctionUrl": true},
	} {
		if r := tpl.Resources[id]; r.Type != "AWS::Lambda::Permission" || !cmp.Equal(want, r.Properties) {
			t.Errorf("%s = %s %v, want AWS::Lambda::Permission %v", id, r.Type, r.Properties, want)
		}
	}
	if got := tpl.Resources["Function"].Properties["Timeout"]; got != URLFunctionTimeout {
		t.Errorf("Timeout = %v, want %d (a stream may last minutes)", got, URLFunctionTimeout)
	}
	if got := tpl.Resources["Function"].Properties["Architectures"]; !cmp.Equal(got, []any{"x86_64"}) {
		t.Errorf("Architectures = %v, want [x86_64]", got)
	}
	if _, err := CloudFormation(p, TemplateOptions{Arch: "sparc"}); err == nil {
		t.Error("arch sparc: want an error")
	}
}
