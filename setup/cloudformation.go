package setup

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/bedrock-relay/bedrock-relay/iampolicy"
)

// TemplateOptions shape the caller side of a template.
type TemplateOptions struct {
	// FunctionName of the caller's Lambda function; default "bedrock-relay".
	FunctionName string
	// Arch is the Lambda architecture: arm64 (default) or x86_64.
	Arch string
	// FunctionURL makes the function the relay itself (the bedrock-relay-lambda-url package, serving
	// RelayConfig) behind a Function URL: AuthType NONE, callers presenting relay keys, and InvokeMode
	// RESPONSE_STREAM. Without it the function is the direct-invocation bedrock-relay-lambda (see CodeKey).
	FunctionURL bool
	// RelayConfig is the relay config the Function URL relay serves (see RelayConfigForLambda); required with
	// FunctionURL. With SharedState, its state: section is the generated cache's.
	RelayConfig map[string]any
	// NoFunction leaves the Lambda function (and its URL) out of the caller side: only the execution role
	// and its policies. For deploying the role alone, and for emulators without Lambda.
	NoFunction bool
	// SharedState adds the cache, security groups, VPC access policy and outputs that state.backend: redis
	// needs (see SharedState); nil leaves them out.
	SharedState *SharedState
}

func (o TemplateOptions) withDefaults() (TemplateOptions, error) {
	if o.FunctionName == "" {
		o.FunctionName = "bedrock-relay"
	}
	switch o.Arch {
	case "":
		o.Arch = "arm64"
	case "arm64", "x86_64":
	default:
		return o, fmt.Errorf("%w: architecture %q: want arm64 or x86_64", ErrInvalid, o.Arch)
	}
	if o.SharedState != nil {
		s, err := o.SharedState.withDefaults()
		if err != nil {
			return o, err
		}
		o.SharedState = &s
	}
	return o, nil
}

// File is one generated template.
type File struct {
	Name    string // bedrock-account-222222222222.yaml, caller-account-111111111111.yaml
	Account string
	// Stack is a suggested CloudFormation stack name.
	Stack string
	Body  []byte
}

// LogicalID turns a role name into a CloudFormation logical id: "lambda-execution-role" becomes
// "LambdaExecutionRole" (logical ids are alphanumeric).
func LogicalID(name string) string {
	var b strings.Builder
	for _, part := range nonAlnum.Split(name, -1) {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	if b.Len() == 0 || b.String()[0] >= '0' && b.String()[0] <= '9' {
		return "Role" + b.String()
	}
	return b.String()
}

var nonAlnum = regexp.MustCompile(`[^A-Za-z0-9]+`)

// CloudFormation renders one template per account: one per Bedrock account with its roles, then the caller
// account's with the Lambda execution role and function. Deploy the caller's first: IAM refuses a trust
// policy whose principal role does not exist yet.
func CloudFormation(p *Plan, o TemplateOptions) ([]File, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	var files []File
	caller, err := callerTemplate(p, o)
	if err != nil {
		return nil, err
	}
	files = append(files, File{Name: "caller-account-" + p.Caller.Account + ".yaml", Account: p.Caller.Account, Stack: "bedrock-relay-caller", Body: caller})
	for _, acct := range p.Accounts() {
		body, err := bedrockTemplate(p, acct)
		if err != nil {
			return nil, err
		}
		files = append(files, File{Name: "bedrock-account-" + acct + ".yaml", Account: acct, Stack: "bedrock-relay-target", Body: body})
	}
	return files, nil
}

func bedrockTemplate(p *Plan, acct string) ([]byte, error) {
	resources, outputs := mapping(), mapping()
	for _, r := range p.RolesIn(acct) {
		id := LogicalID(r.Name)
		props := mapping("RoleName", r.Name)
		if r.Path != "/" {
			props.add("Path", r.Path)
		}
		props.add("Description", "Assumed by "+p.Caller.RoleARN+" (bedrock-relay) to invoke Bedrock models")
		if r.MaxSessionSeconds != 3600 {
			props.add("MaxSessionDuration", r.MaxSessionSeconds)
		}
		props.add("AssumeRolePolicyDocument", docNode(r.Trust))
		props.add("Policies", seq(
			mapping("PolicyName", PolicyInvoke, "PolicyDocument", docNode(r.Permissions)),
			mapping("PolicyName", PolicyReadQuotas, "PolicyDocument", docNode(r.ReadQuotas)),
		))
		resources.add(id, mapping("Type", "AWS::IAM::Role", "Properties", props))
		outputs.add(id+"Arn", mapping("Description", "target role_arn for the relay config", "Value", getAtt(id, "Arn")))
	}
	root := mapping(
		"AWSTemplateFormatVersion", "2010-09-09",
		"Description", "bedrock-relay: Bedrock account "+acct+" role(s) assumed by "+p.Caller.RoleARN+". Deploy after the caller account's stack.",
		"Resources", resources,
		"Outputs", outputs,
	)
	return encode(root, "Bedrock account "+acct+": deploy with --capabilities CAPABILITY_NAMED_IAM after the caller stack")
}

func callerTemplate(p *Plan, o TemplateOptions) ([]byte, error) {
	c := p.Caller
	partition := partitionOf(c.RoleARN)
	logs := &iampolicy.Document{Version: iampolicy.Version2012, Statement: []iampolicy.Statement{
		{
			Effect:   iampolicy.EffectAllow,
			Action:   iampolicy.StringList{"logs:CreateLogGroup"},
			Resource: iampolicy.StringList{"arn:" + partition + ":logs:*:" + c.Account + ":log-group:/aws/lambda/" + o.FunctionName},
		},
		{
			Effect:   iampolicy.EffectAllow,
			Action:   iampolicy.StringList{"logs:CreateLogStream", "logs:PutLogEvents"},
			Resource: iampolicy.StringList{"arn:" + partition + ":logs:*:" + c.Account + ":log-group:/aws/lambda/" + o.FunctionName + ":*"},
		},
	}}
	lambdaTrust := &iampolicy.Document{Version: iampolicy.Version2012, Statement: []iampolicy.Statement{{
		Effect:    iampolicy.EffectAllow,
		Principal: &iampolicy.Principal{Service: iampolicy.StringList{"lambda.amazonaws.com"}},
		Action:    iampolicy.StringList{iampolicy.ActionAssumeRole},
	}}}
	roleID := "ExecutionRole"
	roleProps := mapping("RoleName", c.Name)
	if c.Path != "/" {
		roleProps.add("Path", c.Path)
	}
	roleProps.add("Description", "bedrock-relay caller: assumes the Bedrock account roles")
	roleProps.add("AssumeRolePolicyDocument", docNode(lambdaTrust))
	roleProps.add("Policies", seq(
		mapping("PolicyName", PolicyAssume, "PolicyDocument", docNode(c.Assume)),
		mapping("PolicyName", PolicyLogs, "PolicyDocument", docNode(logs)),
	))
	ss := o.SharedState
	if ss != nil {
		roleProps.add("ManagedPolicyArns", seq(VPCAccessPolicyARN(c.RoleARN)))
	}
	resources := mapping(roleID, mapping("Type", "AWS::IAM::Role", "Properties", roleProps))
	outputs := mapping(roleID+"Arn", mapping("Description", "the caller role the Bedrock account roles trust", "Value", getAtt(roleID, "Arn")))
	description := "bedrock-relay: caller account " + c.Account + ": the Lambda function and its execution role " + c.Name + ". Deploy before the Bedrock account stacks."
	head := "Caller account " + c.Account + ": deploy first, with --capabilities CAPABILITY_NAMED_IAM"
	if ss != nil {
		description += " Shared state: an ElastiCache Serverless cache for Valkey and the security groups of the cache and the relay."
		head += "\n" + strings.Join(sharedStateNotes(!o.NoFunction), "\n") +
			"\nThen put the RelayStateConfig output into the relay config:\n" + ss.StateStanza("ENDPOINT:6379")
	}
	root := mapping("AWSTemplateFormatVersion", "2010-09-09", "Description", description)
	params := mapping()
	if !o.NoFunction {
		pkg := CodeKeyPrefix
		if o.FunctionURL {
			pkg = URLCodeKeyPrefix
		}
		params.add("CodeS3Bucket", mapping("Type", "String", "Description", "S3 bucket (same region) holding the "+pkg+" zip (bootstrap at its root)"))
		params.add("CodeS3Key", mapping("Type", "String", "Default", o.CodeKey(), "Description", "S3 key of the zip (make lambda builds "+pkg+"-ARCH.zip)"))
	}
	if ss != nil {
		params.add("VpcId", mapping("Type", "AWS::EC2::VPC::Id", "Description", "VPC of the state cache and the relay's security group"))
		subnets := "subnets of that VPC (two or three, in different availability zones) for the cache"
		if !o.NoFunction {
			subnets += " and the function"
		}
		params.add("SubnetIds", mapping("Type", "List<AWS::EC2::Subnet::Id>", "Description", subnets))
		cacheResources(resources, outputs, *ss)
	}
	if len(params.n.Content) > 0 {
		root.add("Parameters", params)
	}
	if !o.NoFunction {
		env := mapping()
		fnProps := mapping(
			"FunctionName", o.FunctionName,
			"Description", "bedrock-relay: calls Bedrock in another account through an assumed role",
			"Runtime", "provided.al2023",
			"Handler", "bootstrap",
			"Architectures", seq(scalar(o.Arch)),
			"MemorySize", 256,
			"Timeout", 300,
			"Role", getAtt(roleID, "Arn"),
			"Code", mapping("S3Bucket", ref("CodeS3Bucket"), "S3Key", ref("CodeS3Key")),
			"Environment", mapping("Variables", env),
		)
		if o.FunctionURL {
			cfg, err := o.relayConfig()
			if err != nil {
				return nil, err
			}
			setValue(fnProps, "Description", scalar("bedrock-relay: the relay (Bedrock Runtime, OpenAI and Anthropic APIs) behind a Function URL; callers present relay keys"))
			setValue(fnProps, "MemorySize", toNode(512))
			setValue(fnProps, "Timeout", toNode(URLFunctionTimeout))
			if ss != nil {
				// The config's own "${" escaped, then the cache's endpoint in place of its mark.
				text := strings.Replace(cfnSubEscape(relayConfigJSON(cfg)),
					`"`+cacheEndpointMark+`"`, `"${Cache.Endpoint.Address}:${Cache.Endpoint.Port}"`, 1)
				env.add(RelayConfigVar, mapping("Fn::Sub", text))
			} else {
				env.add(RelayConfigVar, relayConfigJSON(cfg))
			}
		} else {
			for _, kv := range p.Lambda.Vars() {
				env.add(kv[0], kv[1])
			}
		}
		if ss != nil {
			fnProps.add("VpcConfig", mapping(
				"SubnetIds", ref("SubnetIds"),
				"SecurityGroupIds", seq(getAtt("RelaySecurityGroup", "GroupId")),
			))
		}
		resources.add("Function", mapping("Type", "AWS::Lambda::Function", "Properties", fnProps))
		outputs.add("FunctionArn", mapping("Value", getAtt("Function", "Arn")))
		if o.FunctionURL {
			resources.add("FunctionUrl", mapping("Type", "AWS::Lambda::Url", "Properties", mapping(
				"TargetFunctionArn", getAtt("Function", "Arn"),
				"AuthType", "NONE",
				"InvokeMode", "RESPONSE_STREAM",
			)))
			// AuthType NONE still needs the function's resource policy to admit everyone, for both actions
			// (lambda:InvokeFunction too, for URLs created since October 2025); the relay keys are the gate.
			resources.add("FunctionUrlPublicAccess", mapping("Type", "AWS::Lambda::Permission", "Properties", mapping(
				"FunctionName", ref("Function"),
				"Action", "lambda:InvokeFunctionUrl",
				"Principal", "*",
				"FunctionUrlAuthType", "NONE",
			)))
			resources.add("FunctionUrlPublicInvoke", mapping("Type", "AWS::Lambda::Permission", "Properties", mapping(
				"FunctionName", ref("Function"),
				"Action", "lambda:InvokeFunction",
				"Principal", "*",
				"InvokedViaFunctionUrl", true,
			)))
			outputs.add("FunctionUrl", mapping("Description", "the relay's endpoint: callers set AWS_ENDPOINT_URL_BEDROCK_RUNTIME (or an OpenAI or Anthropic base URL) to it and present a relay key (AWS_BEARER_TOKEN_BEDROCK)", "Value", getAtt("FunctionUrl", "FunctionUrl")))
		}
	}
	root.add("Resources", resources)
	root.add("Outputs", outputs)
	return encode(root, head)
}

// cacheResources adds the shared-state resources and their outputs to the caller template: the relay's and
// the cache's security groups, the cache's one ingress rule (from the relay's group) and the cache.
func cacheResources(resources, outputs node, s SharedState) {
	// The relay's group keeps the default egress rule (all traffic): the relay reaches STS, Bedrock Runtime
	// and the cache.
	resources.add("RelaySecurityGroup", mapping("Type", "AWS::EC2::SecurityGroup", "Properties", mapping(
		"GroupDescription", "bedrock-relay: the relay (Lambda function, tasks or instances), admitted to the state cache "+s.CacheName,
		"VpcId", ref("VpcId"),
	)))
	resources.add("CacheSecurityGroup", mapping("Type", "AWS::EC2::SecurityGroup", "Properties", mapping(
		"GroupDescription", "bedrock-relay: the state cache "+s.CacheName+", admitting the relay security group only",
		"VpcId", ref("VpcId"),
	)))
	resources.add("CacheIngressFromRelay", mapping("Type", "AWS::EC2::SecurityGroupIngress", "Properties", mapping(
		"GroupId", getAtt("CacheSecurityGroup", "GroupId"),
		"Description", "Valkey from the relay: 6379 the endpoint, 6380 the reader endpoint",
		"IpProtocol", "tcp",
		"FromPort", CachePort,
		"ToPort", CacheReaderPort,
		"SourceSecurityGroupId", getAtt("RelaySecurityGroup", "GroupId"),
	)))
	resources.add("Cache", mapping("Type", "AWS::ElastiCache::ServerlessCache", "Properties", mapping(
		"ServerlessCacheName", s.CacheName,
		"Description", "bedrock-relay shared state: budgets and cooldowns of every relay",
		"Engine", "valkey",
		"SubnetIds", ref("SubnetIds"),
		"SecurityGroupIds", seq(getAtt("CacheSecurityGroup", "GroupId")),
	)))
	outputs.add("CacheEndpointAddress", mapping("Description", "the cache's endpoint (TLS)", "Value", getAtt("Cache", "Endpoint.Address")))
	outputs.add("CacheEndpointPort", mapping("Value", getAtt("Cache", "Endpoint.Port")))
	outputs.add("RelaySecurityGroupId", mapping("Description", "the security group the cache admits: attach it to every relay", "Value", getAtt("RelaySecurityGroup", "GroupId")))
	outputs.add("RelayStateConfig", mapping("Description", "the state: section of the relay config",
		"Value", mapping("Fn::Sub", s.stateFlow("${Cache.Endpoint.Address}:${Cache.Endpoint.Port}"))))
}

// node is an ordered YAML mapping under construction.
type node struct{ n *yaml.Node }

func mapping(kv ...any) node {
	m := node{&yaml.Node{Kind: yaml.MappingNode}}
	for i := 0; i+1 < len(kv); i += 2 {
		m.add(kv[i].(string), kv[i+1])
	}
	return m
}

func (m node) add(key string, v any) {
	m.n.Content = append(m.n.Content, scalar(key), toNode(v))
}

func toNode(v any) *yaml.Node {
	switch v := v.(type) {
	case node:
		return v.n
	case *yaml.Node:
		return v
	case string:
		return scalar(v)
	case int:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(v)}
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(v)}
	}
	panic(fmt.Sprintf("setup: no YAML node for %T", v))
}

// setValue replaces the value of an existing key.
func setValue(m node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.n.Content); i += 2 {
		if m.n.Content[i].Value == key {
			m.n.Content[i+1] = v
			return
		}
	}
	panic("setup: no key " + key)
}

func scalar(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

func seq(items ...any) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode}
	for _, it := range items {
		n.Content = append(n.Content, toNode(it))
	}
	return n
}

func getAtt(resource, attr string) node { return mapping("Fn::GetAtt", seq(resource, attr)) }
func ref(name string) node              { return mapping("Ref", name) }

// docNode is a policy document as a YAML mapping in block style, keeping MarshalIndent's key order.
func docNode(d *iampolicy.Document) *yaml.Node {
	b, err := json.Marshal(d)
	if err != nil {
		panic(err) // a Document always marshals
	}
	var n yaml.Node
	if err := yaml.Unmarshal(b, &n); err != nil {
		panic(err)
	}
	root := n.Content[0]
	blockStyle(root)
	return root
}

func blockStyle(n *yaml.Node) {
	n.Style = 0
	if n.Kind == yaml.ScalarNode {
		n.Tag = "!!str" // every value of a policy document is a string
	}
	for _, c := range n.Content {
		blockStyle(c)
	}
}

func encode(root node, comment string) ([]byte, error) {
	root.n.HeadComment = "Generated by bedrock-relay template cloudformation.\n" + comment
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root.n}}); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
