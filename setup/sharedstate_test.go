package setup

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/bedrock-relay/bedrock-relay/config"
)

const vpcAccessARN = "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"

// cfnTemplate is a CloudFormation template read back for the structural checks.
type cfnTemplate struct {
	Description string                    `yaml:"Description"`
	Parameters  map[string]map[string]any `yaml:"Parameters"`
	Resources   map[string]struct {
		Type       string         `yaml:"Type"`
		Properties map[string]any `yaml:"Properties"`
	} `yaml:"Resources"`
	Outputs map[string]struct {
		Description string `yaml:"Description"`
		Value       any    `yaml:"Value"`
	} `yaml:"Outputs"`
}

func readTemplate(t *testing.T, body []byte) cfnTemplate {
	t.Helper()
	var tpl cfnTemplate
	if err := yamlUnmarshal(body, &tpl); err != nil {
		t.Fatalf("template is not YAML: %v\n%s", err, body)
	}
	return tpl
}

func cfnGetAtt(resource, attr string) map[string]any {
	return map[string]any{"Fn::GetAtt": []any{resource, attr}}
}

func cfnRef(name string) map[string]any { return map[string]any{"Ref": name} }

// parseStanza reads a state section the way the relay reads its config.
func parseStanza(t *testing.T, stanza string) config.State {
	t.Helper()
	cfg := config.Default()
	if err := config.Parse([]byte(stanza), &cfg); err != nil {
		t.Fatalf("state stanza does not parse as relay config: %v\n%s", err, stanza)
	}
	cfg.FillDefaults()
	return cfg.State
}

func checkStanza(t *testing.T, got config.State, addr, keyPrefix string) {
	t.Helper()
	r := got.Redis
	if got.Backend != config.StateRedis || !cmp.Equal(r.Addrs, []string{addr}) || !r.Cluster || !r.TLS.Enabled || r.KeyPrefix != keyPrefix {
		t.Errorf("state = backend %s addrs %v cluster %v tls %v key_prefix %q, want redis [%s] cluster, tls, key_prefix %q",
			got.Backend, r.Addrs, r.Cluster, r.TLS.Enabled, r.KeyPrefix, addr, keyPrefix)
	}
	if r.Username != "" || r.PasswordEnv != "" || r.PasswordFile != "" || r.MasterName != "" {
		t.Errorf("state names a user, a password or a Sentinel master: %+v (the cache has no user group)", r)
	}
}

// TestCloudFormationSharedState checks the caller template's shared-state pieces as written, including the
// ServerlessCache, which moto cannot create (TestCloudFormationSharedStateInMoto deploys the rest).
func TestCloudFormationSharedState(t *testing.T) {
	p, err := New(twoAccounts())
	if err != nil {
		t.Fatal(err)
	}
	plain, err := CloudFormation(p, TemplateOptions{RelayConfig: testRelayConfig(), FunctionURL: true})
	if err != nil {
		t.Fatal(err)
	}
	files, err := CloudFormation(p, TemplateOptions{RelayConfig: testRelayConfig(), FunctionURL: true, SharedState: &SharedState{KeyPrefix: "team-a:"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(plain) {
		t.Fatalf("got %d files, want %d", len(files), len(plain))
	}
	for i := 1; i < len(files); i++ {
		if !bytes.Equal(files[i].Body, plain[i].Body) {
			t.Errorf("%s: shared state changed a Bedrock account template", files[i].Name)
		}
	}
	tpl := readTemplate(t, files[0].Body)

	wantParams := map[string]string{"CodeS3Bucket": "String", "CodeS3Key": "String", "VpcId": "AWS::EC2::VPC::Id", "SubnetIds": "List<AWS::EC2::Subnet::Id>"}
	gotParams := map[string]string{}
	for k, v := range tpl.Parameters {
		gotParams[k], _ = v["Type"].(string)
	}
	if diff := cmp.Diff(wantParams, gotParams); diff != "" {
		t.Errorf("parameters (-want +got):\n%s", diff)
	}

	res := func(id, typ string) map[string]any {
		t.Helper()
		r, ok := tpl.Resources[id]
		if !ok {
			t.Fatalf("no resource %s", id)
		}
		if r.Type != typ {
			t.Errorf("%s is %s, want %s", id, r.Type, typ)
		}
		return r.Properties
	}
	if got := res("ExecutionRole", "AWS::IAM::Role")["ManagedPolicyArns"]; !cmp.Equal(got, []any{vpcAccessARN}) {
		t.Errorf("execution role ManagedPolicyArns = %v, want [%s]", got, vpcAccessARN)
	}
	for _, id := range []string{"RelaySecurityGroup", "CacheSecurityGroup"} {
		props := res(id, "AWS::EC2::SecurityGroup")
		if !cmp.Equal(props["VpcId"], cfnRef("VpcId")) {
			t.Errorf("%s VpcId = %v, want Ref VpcId", id, props["VpcId"])
		}
		if _, ok := props["SecurityGroupIngress"]; ok {
			t.Errorf("%s has inline ingress rules; the one rule is CacheIngressFromRelay", id)
		}
		// AWS refuses other characters in a group's description.
		if d, _ := props["GroupDescription"].(string); d == "" || strings.Trim(d, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789. _-:/()#,@[]+=&;{}!$*") != "" {
			t.Errorf("%s GroupDescription %q: empty or a character AWS refuses", id, d)
		}
	}
	ingress := res("CacheIngressFromRelay", "AWS::EC2::SecurityGroupIngress")
	wantIngress := map[string]any{
		"GroupId": cfnGetAtt("CacheSecurityGroup", "GroupId"), "SourceSecurityGroupId": cfnGetAtt("RelaySecurityGroup", "GroupId"),
		"IpProtocol": "tcp", "FromPort": 6379, "ToPort": 6380,
		"Description": "Valkey from the relay: 6379 the endpoint, 6380 the reader endpoint",
	}
	if diff := cmp.Diff(wantIngress, ingress); diff != "" {
		t.Errorf("CacheIngressFromRelay (-want +got):\n%s", diff)
	}
	var ingressRules int
	for _, r := range tpl.Resources {
		if r.Type == "AWS::EC2::SecurityGroupIngress" {
			ingressRules++
		}
	}
	if ingressRules != 1 {
		t.Errorf("got %d ingress rules, want 1 (the cache's, from the relay's group)", ingressRules)
	}
	wantCache := map[string]any{
		"ServerlessCacheName": "bedrock-relay-state", "Engine": "valkey",
		"Description":      "bedrock-relay shared state: budgets and cooldowns of every relay",
		"SubnetIds":        cfnRef("SubnetIds"),
		"SecurityGroupIds": []any{cfnGetAtt("CacheSecurityGroup", "GroupId")},
	}
	if diff := cmp.Diff(wantCache, res("Cache", "AWS::ElastiCache::ServerlessCache")); diff != "" {
		t.Errorf("Cache (-want +got):\n%s", diff)
	}
	wantVPC := map[string]any{"SubnetIds": cfnRef("SubnetIds"), "SecurityGroupIds": []any{cfnGetAtt("RelaySecurityGroup", "GroupId")}}
	if diff := cmp.Diff(wantVPC, res("Function", "AWS::Lambda::Function")["VpcConfig"]); diff != "" {
		t.Errorf("Function VpcConfig (-want +got):\n%s", diff)
	}

	for id, want := range map[string]any{
		"CacheEndpointAddress": cfnGetAtt("Cache", "Endpoint.Address"),
		"CacheEndpointPort":    cfnGetAtt("Cache", "Endpoint.Port"),
		"RelaySecurityGroupId": cfnGetAtt("RelaySecurityGroup", "GroupId"),
	} {
		if got := tpl.Outputs[id].Value; !cmp.Equal(want, got) {
			t.Errorf("output %s = %v, want %v", id, got, want)
		}
	}
	// The stanza output, with Fn::Sub done as CloudFormation would, is a state section the relay accepts.
	sub, _ := tpl.Outputs["RelayStateConfig"].Value.(map[string]any)["Fn::Sub"].(string)
	const host = "bedrock-relay-state-abc123.serverless.apne1.cache.amazonaws.com"
	stanza := strings.NewReplacer("${Cache.Endpoint.Address}", host, "${Cache.Endpoint.Port}", "6379").Replace(sub)
	if sub == "" || strings.Contains(stanza, "${") {
		t.Fatalf("RelayStateConfig Fn::Sub = %q: want exactly the endpoint's address and port substituted", sub)
	}
	checkStanza(t, parseStanza(t, stanza), host+":6379", "team-a:")

	// The head comment shows the same section in block style.
	if !strings.Contains(string(files[0].Body), "\n# state:\n#   backend: redis\n#   redis:\n#     addrs: [\"ENDPOINT:6379\"]\n#     cluster: true\n#     tls: true\n") {
		t.Errorf("caller template: want the state section in its head comment:\n%s", files[0].Body)
	}
	if bytes.Contains(bytes.ToLower(files[0].Body), []byte("password")) || bytes.Contains(files[0].Body, []byte("UserGroupId")) {
		t.Error("caller template mentions a password or a user group")
	}

	// Without the function: the role (with the VPC access policy), the groups and the cache; no code parameters.
	noFn, err := CloudFormation(p, TemplateOptions{NoFunction: true, SharedState: &SharedState{}})
	if err != nil {
		t.Fatal(err)
	}
	tpl = readTemplate(t, noFn[0].Body)
	if _, ok := tpl.Resources["Function"]; ok {
		t.Error("--no-function: the template has a Function")
	}
	for _, id := range []string{"ExecutionRole", "RelaySecurityGroup", "CacheSecurityGroup", "CacheIngressFromRelay", "Cache"} {
		if _, ok := tpl.Resources[id]; !ok {
			t.Errorf("no function: no resource %s", id)
		}
	}
	gotParams = map[string]string{}
	for k, v := range tpl.Parameters {
		gotParams[k], _ = v["Type"].(string)
	}
	if diff := cmp.Diff(map[string]string{"VpcId": "AWS::EC2::VPC::Id", "SubnetIds": "List<AWS::EC2::Subnet::Id>"}, gotParams); diff != "" {
		t.Errorf("no function: parameters (-want +got):\n%s", diff)
	}
	if got := tpl.Resources["ExecutionRole"].Properties["ManagedPolicyArns"]; !cmp.Equal(got, []any{vpcAccessARN}) {
		t.Errorf("no function: ManagedPolicyArns = %v", got)
	}
	sub, _ = tpl.Outputs["RelayStateConfig"].Value.(map[string]any)["Fn::Sub"].(string)
	checkStanza(t, parseStanza(t, strings.NewReplacer("${Cache.Endpoint.Address}", host, "${Cache.Endpoint.Port}", "6379").Replace(sub)), host+":6379", "bedrock-relay:")
}

// TestTemplatesWithoutSharedState: without the option nothing of it is written (the goldens in
// cmd/bedrock-relay hold the whole output byte for byte).
func TestTemplatesWithoutSharedState(t *testing.T) {
	p, err := New(twoAccounts())
	if err != nil {
		t.Fatal(err)
	}
	files, err := CloudFormation(p, TemplateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tf, err := Terraform(p, TemplateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"VpcId", "SecurityGroup", "ElastiCache", "VPCAccess", "state:"} {
		if bytes.Contains(files[0].Body, []byte(s)) {
			t.Errorf("caller template without shared state mentions %s", s)
		}
	}
	for _, s := range []string{"vpc", "security_group", "elasticache", "state"} {
		if bytes.Contains(tf, []byte(s)) {
			t.Errorf("Terraform without shared state mentions %s", s)
		}
	}
}

func TestSharedStateInvalid(t *testing.T) {
	p, err := New(twoAccounts())
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("a", 41)
	for _, tt := range []struct {
		s    SharedState
		want string
	}{
		{SharedState{CacheName: "Bedrock-State"}, `cache name "Bedrock-State"`},
		{SharedState{CacheName: "1cache"}, "starting with a letter"},
		{SharedState{CacheName: "a--b"}, "single hyphens"},
		{SharedState{CacheName: "cache-"}, "single hyphens"},
		{SharedState{CacheName: long}, "1 to 40"},
		{SharedState{KeyPrefix: "a{b}:"}, `key prefix "a{b}:"`},
		{SharedState{KeyPrefix: "a\nb"}, "no line breaks"},
	} {
		s := tt.s
		_, cfnErr := CloudFormation(p, TemplateOptions{SharedState: &s})
		_, tfErr := Terraform(p, TemplateOptions{SharedState: &s})
		for kind, err := range map[string]error{"cloudformation": cfnErr, "terraform": tfErr} {
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s %+v: got %v, want ErrInvalid mentioning %q", kind, tt.s, err, tt.want)
			}
		}
	}
	// The caller's struct is not changed by the defaults.
	s := SharedState{}
	if _, err := CloudFormation(p, TemplateOptions{SharedState: &s}); err != nil || s.CacheName != "" {
		t.Errorf("got %v, cache name %q: want no error and the caller's SharedState untouched", err, s.CacheName)
	}
	for _, name := range []string{"relay", "bedrock-relay-state", "a1-b2-c3", strings.Repeat("a", 40)} {
		if _, err := Terraform(p, TemplateOptions{SharedState: &SharedState{CacheName: name}}); err != nil {
			t.Errorf("cache name %q: %v", name, err)
		}
	}
}

// TestTerraformSharedState reads the shared-state resources back with HashiCorp's parser and checks their
// attributes and references, and evaluates the relay_state_config output into a state section.
func TestTerraformSharedState(t *testing.T) {
	p, err := New(twoAccounts())
	if err != nil {
		t.Fatal(err)
	}
	src, err := Terraform(p, TemplateOptions{SharedState: &SharedState{CacheName: "relay-state"}})
	if err != nil {
		t.Fatal(err)
	}
	f, diags := hclparse.NewParser().ParseHCL(src, "main.tf")
	if len(diags) != 0 {
		t.Fatalf("parse: %v\n%s", diags, src)
	}
	type block struct {
		attrs  hclsyntax.Attributes
		blocks hclsyntax.Blocks
	}
	resources, variables, outputs := map[string]block{}, map[string]block{}, map[string]block{}
	for _, b := range f.Body.(*hclsyntax.Body).Blocks {
		switch b.Type {
		case "resource":
			resources[b.Labels[0]+"."+b.Labels[1]] = block{b.Body.Attributes, b.Body.Blocks}
		case "variable":
			variables[b.Labels[0]] = block{b.Body.Attributes, b.Body.Blocks}
		case "output":
			outputs[b.Labels[0]] = block{b.Body.Attributes, b.Body.Blocks}
		}
	}
	// expr is an attribute as written: a literal's value, a reference's path, a tuple's elements.
	var expr func(e hclsyntax.Expression) any
	expr = func(e hclsyntax.Expression) any {
		switch e := e.(type) {
		case *hclsyntax.ScopeTraversalExpr:
			return traversal(e.Traversal)
		case *hclsyntax.TupleConsExpr:
			var out []any
			for _, x := range e.Exprs {
				out = append(out, expr(x))
			}
			return out
		case *hclsyntax.FunctionCallExpr:
			var args []any
			for _, x := range e.Args {
				args = append(args, expr(x))
			}
			return map[string]any{e.Name: args}
		}
		v, d := e.Value(nil)
		if d.HasErrors() {
			t.Fatalf("%T: %v", e, d)
		}
		if v.Type() == cty.Number {
			n, _ := v.AsBigFloat().Int64()
			return int(n)
		}
		return v.AsString()
	}
	attrs := func(key string) map[string]any {
		t.Helper()
		r, ok := resources[key]
		if !ok {
			t.Fatalf("no %s in:\n%s", key, src)
		}
		out := map[string]any{}
		for name, a := range r.attrs {
			out[name] = expr(a.Expr)
		}
		return out
	}
	const prov = "aws.account_111111111111"
	want := map[string]map[string]any{
		"aws_iam_role_policy_attachment.caller_vpc_access": {"provider": prov, "role": "aws_iam_role.caller.name", "policy_arn": vpcAccessARN},
		"aws_security_group.relay": {"provider": prov, "name": "relay-state-client", "vpc_id": "var.vpc_id",
			"description": "bedrock-relay: the relay (Lambda function, tasks or instances), admitted to the state cache relay-state"},
		"aws_vpc_security_group_egress_rule.relay_all": {"provider": prov, "security_group_id": "aws_security_group.relay.id",
			"ip_protocol": "-1", "cidr_ipv4": "0.0.0.0/0", "description": "all traffic: STS, Bedrock Runtime and the state cache"},
		"aws_security_group.cache": {"provider": prov, "name": "relay-state", "vpc_id": "var.vpc_id",
			"description": "bedrock-relay: the state cache relay-state, admitting the relay security group only"},
		"aws_vpc_security_group_ingress_rule.cache_from_relay": {"provider": prov, "security_group_id": "aws_security_group.cache.id",
			"referenced_security_group_id": "aws_security_group.relay.id", "ip_protocol": "tcp", "from_port": 6379, "to_port": 6380,
			"description": "Valkey from the relay: 6379 the endpoint, 6380 the reader endpoint"},
		"aws_elasticache_serverless_cache.state": {"provider": prov, "name": "relay-state", "engine": "valkey",
			"description": "bedrock-relay shared state: budgets and cooldowns of every relay",
			"subnet_ids":  "var.subnet_ids", "security_group_ids": []any{"aws_security_group.cache.id"}},
	}
	for key, w := range want {
		if diff := cmp.Diff(w, attrs(key)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", key, diff)
		}
	}
	var ingress int
	for key := range resources {
		if strings.HasPrefix(key, "aws_vpc_security_group_ingress_rule.") {
			ingress++
		}
	}
	if ingress != 1 {
		t.Errorf("got %d ingress rules, want 1", ingress)
	}

	fn := resources["aws_lambda_function.relay"]
	if got := expr(fn.attrs["depends_on"].Expr); !cmp.Equal(got, []any{"aws_iam_role_policy_attachment.caller_vpc_access"}) {
		t.Errorf("lambda depends_on = %v, want the VPC access attachment", got)
	}
	var vpc map[string]any
	for _, b := range fn.blocks {
		if b.Type == "vpc_config" {
			vpc = map[string]any{}
			for name, a := range b.Body.Attributes {
				vpc[name] = expr(a.Expr)
			}
		}
	}
	if diff := cmp.Diff(map[string]any{"subnet_ids": "var.subnet_ids", "security_group_ids": []any{"aws_security_group.relay.id"}}, vpc); diff != "" {
		t.Errorf("lambda vpc_config (-want +got):\n%s", diff)
	}

	for name, typ := range map[string]string{"vpc_id": "string", "subnet_ids": "list(string)"} {
		v, ok := variables[name]
		if !ok {
			t.Fatalf("no variable %s", name)
		}
		r := v.attrs["type"].Expr.Range()
		if got := string(r.SliceBytes(src)); got != typ {
			t.Errorf("variable %s type = %s, want %s", name, got, typ)
		}
		if _, ok := v.attrs["default"]; ok {
			t.Errorf("variable %s has a default; the user names the VPC and subnets", name)
		}
	}

	for name, w := range map[string]string{
		"state_endpoint_address":  "aws_elasticache_serverless_cache.state.endpoint[0].address",
		"state_endpoint_port":     "aws_elasticache_serverless_cache.state.endpoint[0].port",
		"relay_security_group_id": "aws_security_group.relay.id",
	} {
		o, ok := outputs[name]
		if !ok {
			t.Fatalf("no output %s", name)
		}
		if got := string(o.attrs["value"].Expr.Range().SliceBytes(src)); got != w {
			t.Errorf("output %s = %s, want %s", name, got, w)
		}
	}
	// relay_state_config evaluated as Terraform would once the cache exists.
	const host = "relay-state-abc123.serverless.apne1.cache.amazonaws.com"
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{
		"aws_elasticache_serverless_cache": cty.ObjectVal(map[string]cty.Value{"state": cty.ObjectVal(map[string]cty.Value{
			"endpoint": cty.ListVal([]cty.Value{cty.ObjectVal(map[string]cty.Value{"address": cty.StringVal(host), "port": cty.NumberIntVal(6379)})}),
		})}),
	}}
	v, d := outputs["relay_state_config"].attrs["value"].Expr.Value(ctx)
	if d.HasErrors() {
		t.Fatalf("relay_state_config: %v", d)
	}
	checkStanza(t, parseStanza(t, v.AsString()), host+":6379", "bedrock-relay:")
	if bytes.Contains(bytes.ToLower(src), []byte("password")) || bytes.Contains(src, []byte("user_group_id")) {
		t.Error("Terraform mentions a password or a user group")
	}

	// Without the function: the role's attachment, the groups and the cache, and no lambda.
	noFn, err := Terraform(p, TemplateOptions{NoFunction: true, SharedState: &SharedState{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`resource "aws_iam_role_policy_attachment" "caller_vpc_access"`, `resource "aws_elasticache_serverless_cache" "state"`,
		`resource "aws_vpc_security_group_ingress_rule" "cache_from_relay"`, `variable "subnet_ids"`, `output "relay_state_config"`} {
		if !bytes.Contains(noFn, []byte(s)) {
			t.Errorf("no function: want %s", s)
		}
	}
	if bytes.Contains(noFn, []byte("aws_lambda_function")) || bytes.Contains(noFn, []byte("lambda_code_bucket")) {
		t.Error("no function: the configuration has the function or its code variables")
	}
}
