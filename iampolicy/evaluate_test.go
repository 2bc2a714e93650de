package iampolicy

import (
	"testing"
)

const (
	lambdaSession = "arn:aws:sts::111111111111:assumed-role/lambda-execution-role/fn"
	relaySession  = "arn:aws:sts::222222222222:assumed-role/BedrockAccessRole/lambda-bedrock-cross-account"
	profileARN    = "arn:aws:bedrock:ap-northeast-1:222222222222:inference-profile/jp.anthropic.claude-sonnet-4-5-20250929-v1:0"
	fmTokyo       = "arn:aws:bedrock:ap-northeast-1::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"
	fmOsaka       = "arn:aws:bedrock:ap-northeast-3::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"
	fmVirginia    = "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"
)

func mustParse(t *testing.T, s string) *Document {
	t.Helper()
	d, err := Parse([]byte(s))
	if err != nil {
		t.Fatalf("Parse(%s): %v", s, err)
	}
	return d
}

// want is the part of a Decision a test checks.
type want struct {
	outcome Outcome
	policy  PolicyType
	sid     string // of the deciding statement; "" when none or not checked
}

func check(t *testing.T, got Decision, w want) {
	t.Helper()
	if got.Outcome != w.outcome || got.Policy != w.policy {
		t.Errorf("got %v by %v, want %v by %v", got.Outcome, got.Policy, w.outcome, w.policy)
	}
	if w.sid != "" && (got.Statement == nil || got.Statement.Sid != w.sid) {
		t.Errorf("got statement %+v, want Sid %q", got.Statement, w.sid)
	}
	if got.Statement != nil && got.Document != nil && &got.Document.Statement[got.Index] != got.Statement {
		t.Errorf("Index %d does not point at Statement", got.Index)
	}
}

// TestSeedCalls replays the seed article's two calls against its three documents.
func TestSeedCalls(t *testing.T) {
	trust := mustParse(t, seedTrustJSON)
	perms := mustParse(t, seedPermissionsJSON)
	caller := mustParse(t, seedCallerJSON)
	invoke := func(resource string, ctx map[string][]string) Request {
		return Request{Principal: relaySession, Action: "bedrock:InvokeModel", Resource: resource, Context: ctx}
	}
	viaProfile := map[string][]string{"bedrock:InferenceProfileArn": {profileARN}, "aws:RequestedRegion": {"ap-northeast-1"}}
	tests := []struct {
		name string
		req  Request
		p    Policies
		want want
	}{
		{"assume role", Request{Principal: lambdaSession, Action: "sts:AssumeRole", Resource: seedTarget},
			Policies{Identity: []*Document{caller}, Resource: trust}, want{Allow, PolicyResource, ""}},
		{"assume role without caller policy", Request{Principal: lambdaSession, Action: "sts:AssumeRole", Resource: seedTarget},
			Policies{Resource: trust}, want{ImplicitDeny, PolicyIdentity, ""}},
		{"assume role without trust", Request{Principal: lambdaSession, Action: "sts:AssumeRole", Resource: seedTarget},
			Policies{Identity: []*Document{caller}, Resource: mustParse(t, `{"Statement":{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}}`)},
			want{ImplicitDeny, PolicyResource, ""}},
		{"assume role from another role", Request{Principal: "arn:aws:sts::111111111111:assumed-role/other-role/fn", Action: "sts:AssumeRole", Resource: seedTarget},
			Policies{Identity: []*Document{caller}, Resource: trust}, want{ImplicitDeny, PolicyResource, ""}},
		{"assume role from the role itself (not a session)", Request{Principal: seedCaller, Action: "sts:AssumeRole", Resource: seedTarget},
			Policies{Identity: []*Document{caller}, Resource: trust}, want{Allow, PolicyResource, ""}},
		{"assume another target", Request{Principal: lambdaSession, Action: "sts:AssumeRole", Resource: "arn:aws:iam::222222222222:role/Other"},
			Policies{Identity: []*Document{caller}, Resource: trust}, want{ImplicitDeny, PolicyIdentity, ""}},
		{"invoke profile", invoke(profileARN, nil), Policies{Identity: []*Document{perms}}, want{Allow, PolicyIdentity, ""}},
		{"invoke routed to Tokyo", invoke(fmTokyo, viaProfile), Policies{Identity: []*Document{perms}}, want{Allow, PolicyIdentity, ""}},
		{"invoke routed to Osaka", invoke(fmOsaka, viaProfile), Policies{Identity: []*Document{perms}}, want{Allow, PolicyIdentity, ""}},
		{"invoke routed outside", invoke(fmVirginia, viaProfile), Policies{Identity: []*Document{perms}}, want{ImplicitDeny, PolicyIdentity, ""}},
		{"stream not allowed", Request{Principal: relaySession, Action: "bedrock:InvokeModelWithResponseStream", Resource: profileARN},
			Policies{Identity: []*Document{perms}}, want{ImplicitDeny, PolicyIdentity, ""}},
		{"caller's own account cannot invoke with target's policy", Request{Principal: lambdaSession, Action: "bedrock:InvokeModel", Resource: profileARN},
			Policies{Identity: []*Document{perms}}, want{ImplicitDeny, PolicyResource, ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, Evaluate(tt.req, tt.p), tt.want)
		})
	}
}

func TestEvaluatePolicyTypes(t *testing.T) {
	allowInvoke := mustParse(t, `{"Version":"2012-10-17","Statement":[{"Sid":"Invoke","Effect":"Allow","Action":"bedrock:InvokeModel*","Resource":"*"}]}`)
	denyInvoke := mustParse(t, `{"Version":"2012-10-17","Statement":[{"Sid":"NoInvoke","Effect":"Deny","Action":"bedrock:invokemodel","Resource":"*"}]}`)
	fullAccess := mustParse(t, `{"Version":"2012-10-17","Statement":[{"Sid":"FullAWSAccess","Effect":"Allow","Action":"*","Resource":"*"}]}`)
	onlyProfiles := mustParse(t, `{"Version":"2012-10-17","Statement":[{"Sid":"Profiles","Effect":"Allow","Action":"bedrock:*","Resource":"arn:aws:bedrock:*:*:inference-profile/*"}]}`)
	denyOutsideJapan := mustParse(t, `{"Version":"2012-10-17","Statement":[{"Sid":"JapanOnly","Effect":"Deny","NotAction":"sts:*","Resource":"*","Condition":{"StringNotEquals":{"aws:RequestedRegion":["ap-northeast-1","ap-northeast-3"]}}}]}`)
	req := Request{Principal: relaySession, Action: "bedrock:InvokeModel", Resource: profileARN, Context: map[string][]string{"aws:RequestedRegion": {"ap-northeast-1"}}}
	reqFM := req
	reqFM.Resource = fmTokyo
	reqUS := req
	reqUS.Context = map[string][]string{"aws:RequestedRegion": {"us-east-1"}}
	tests := []struct {
		name string
		req  Request
		p    Policies
		want want
	}{
		{"identity allows", req, Policies{Identity: []*Document{allowInvoke}}, want{Allow, PolicyIdentity, "Invoke"}},
		{"no policies", req, Policies{}, want{ImplicitDeny, PolicyIdentity, ""}},
		{"identity deny wins", req, Policies{Identity: []*Document{allowInvoke, denyInvoke}}, want{ExplicitDeny, PolicyIdentity, "NoInvoke"}},
		{"SCP deny wins", req, Policies{Identity: []*Document{allowInvoke}, SCPs: []*Document{fullAccess, denyInvoke}}, want{ExplicitDeny, PolicySCP, "NoInvoke"}},
		{"SCP allows", req, Policies{Identity: []*Document{allowInvoke}, SCPs: []*Document{fullAccess}}, want{Allow, PolicyIdentity, "Invoke"}},
		{"SCP does not allow", reqFM, Policies{Identity: []*Document{allowInvoke}, SCPs: []*Document{onlyProfiles}}, want{ImplicitDeny, PolicySCP, ""}},
		{"empty SCP list denies", req, Policies{Identity: []*Document{allowInvoke}, SCPs: []*Document{}}, want{ImplicitDeny, PolicySCP, ""}},
		{"SCP region guard passes", req, Policies{Identity: []*Document{allowInvoke}, SCPs: []*Document{fullAccess, denyOutsideJapan}}, want{Allow, PolicyIdentity, ""}},
		{"SCP region guard denies", reqUS, Policies{Identity: []*Document{allowInvoke}, SCPs: []*Document{fullAccess, denyOutsideJapan}}, want{ExplicitDeny, PolicySCP, "JapanOnly"}},
		{"session policy intersects: allows", req, Policies{Identity: []*Document{allowInvoke}, Session: []*Document{onlyProfiles}}, want{Allow, PolicyIdentity, "Invoke"}},
		{"session policy intersects: denies", reqFM, Policies{Identity: []*Document{allowInvoke}, Session: []*Document{onlyProfiles}}, want{ImplicitDeny, PolicySession, ""}},
		{"session policy cannot add", reqFM, Policies{Identity: []*Document{onlyProfiles}, Session: []*Document{allowInvoke}}, want{ImplicitDeny, PolicyIdentity, ""}},
		{"session policy deny", req, Policies{Identity: []*Document{allowInvoke}, Session: []*Document{denyInvoke}}, want{ExplicitDeny, PolicySession, "NoInvoke"}},
		{"boundary limits", reqFM, Policies{Identity: []*Document{allowInvoke}, Boundary: onlyProfiles}, want{ImplicitDeny, PolicyBoundary, ""}},
		{"boundary allows", req, Policies{Identity: []*Document{allowInvoke}, Boundary: onlyProfiles}, want{Allow, PolicyIdentity, ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, Evaluate(tt.req, tt.p), tt.want)
		})
	}
}

func TestEvaluateAssumeRole(t *testing.T) {
	allowAssume := mustParse(t, `{"Statement":{"Sid":"Assume","Effect":"Allow","Action":"sts:AssumeRole","Resource":"arn:aws:iam::*:role/Bedrock*"}}`)
	trust := func(principal string) *Document {
		return mustParse(t, `{"Version":"2012-10-17","Statement":[{"Sid":"Trust","Effect":"Allow","Principal":`+principal+`,"Action":"sts:AssumeRole"}]}`)
	}
	trustExt := mustParse(t, `{"Version":"2012-10-17","Statement":[{"Sid":"Trust","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:role/lambda-execution-role"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"relay-7f3a"}}}]}`)
	trustDenyOthers := mustParse(t, `{"Version":"2012-10-17","Statement":[
		{"Sid":"Trust","Effect":"Allow","Principal":{"AWS":"111111111111"},"Action":"sts:AssumeRole"},
		{"Sid":"OnlyLambda","Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::111111111111:role/lambda-execution-role"},"Action":"sts:AssumeRole"}]}`)
	assume := func(principal, role string, ctx map[string][]string) Request {
		return Request{Principal: principal, Action: "sts:AssumeRole", Resource: role, Context: ctx}
	}
	sameAcctRole := "arn:aws:iam::111111111111:role/BedrockLocal"
	pathRole := `{"AWS":"arn:aws:iam::111111111111:role/service-role/lambda-execution-role"}`
	tests := []struct {
		name string
		req  Request
		p    Policies
		want want
	}{
		{"cross-account by role ARN", assume(lambdaSession, seedTarget, nil), Policies{Identity: []*Document{allowAssume}, Resource: trust(`{"AWS":"arn:aws:iam::111111111111:role/lambda-execution-role"}`)}, want{Allow, PolicyResource, "Trust"}},
		{"cross-account by role ARN with path", assume(lambdaSession, seedTarget, nil), Policies{Identity: []*Document{allowAssume}, Resource: trust(pathRole)}, want{Allow, PolicyResource, "Trust"}},
		{"cross-account by root", assume(lambdaSession, seedTarget, nil), Policies{Identity: []*Document{allowAssume}, Resource: trust(`{"AWS":"arn:aws:iam::111111111111:root"}`)}, want{Allow, PolicyResource, "Trust"}},
		{"cross-account by account id", assume(lambdaSession, seedTarget, nil), Policies{Identity: []*Document{allowAssume}, Resource: trust(`{"AWS":["333333333333","111111111111"]}`)}, want{Allow, PolicyResource, "Trust"}},
		{"cross-account by star", assume(lambdaSession, seedTarget, nil), Policies{Identity: []*Document{allowAssume}, Resource: trust(`"*"`)}, want{Allow, PolicyResource, "Trust"}},
		{"cross-account by AWS star", assume(lambdaSession, seedTarget, nil), Policies{Identity: []*Document{allowAssume}, Resource: trust(`{"AWS":"*"}`)}, want{Allow, PolicyResource, "Trust"}},
		{"cross-account other account root", assume(lambdaSession, seedTarget, nil), Policies{Identity: []*Document{allowAssume}, Resource: trust(`{"AWS":"arn:aws:iam::333333333333:root"}`)}, want{ImplicitDeny, PolicyResource, ""}},
		{"cross-account other partition root", assume(lambdaSession, seedTarget, nil), Policies{Identity: []*Document{allowAssume}, Resource: trust(`{"AWS":"arn:aws-cn:iam::111111111111:root"}`)}, want{ImplicitDeny, PolicyResource, ""}},
		{"cross-account trust needs identity too", assume(lambdaSession, seedTarget, nil), Policies{Resource: trust(`"*"`)}, want{ImplicitDeny, PolicyIdentity, ""}},
		{"cross-account no trust policy", assume(lambdaSession, seedTarget, nil), Policies{Identity: []*Document{allowAssume}}, want{ImplicitDeny, PolicyResource, ""}},
		{"external id given", assume(lambdaSession, seedTarget, map[string][]string{"sts:ExternalId": {"relay-7f3a"}}), Policies{Identity: []*Document{allowAssume}, Resource: trustExt}, want{Allow, PolicyResource, "Trust"}},
		{"external id key case-insensitive", assume(lambdaSession, seedTarget, map[string][]string{"STS:externalid": {"relay-7f3a"}}), Policies{Identity: []*Document{allowAssume}, Resource: trustExt}, want{Allow, PolicyResource, "Trust"}},
		{"external id wrong", assume(lambdaSession, seedTarget, map[string][]string{"sts:ExternalId": {"relay-7F3A"}}), Policies{Identity: []*Document{allowAssume}, Resource: trustExt}, want{ImplicitDeny, PolicyResource, ""}},
		{"external id missing", assume(lambdaSession, seedTarget, nil), Policies{Identity: []*Document{allowAssume}, Resource: trustExt}, want{ImplicitDeny, PolicyResource, ""}},
		{"NotPrincipal deny spares lambda", assume(lambdaSession, seedTarget, nil), Policies{Identity: []*Document{allowAssume}, Resource: trustDenyOthers}, want{Allow, PolicyResource, "Trust"}},
		{"NotPrincipal deny hits others", assume("arn:aws:iam::111111111111:user/alice", seedTarget, nil), Policies{Identity: []*Document{allowAssume}, Resource: trustDenyOthers}, want{ExplicitDeny, PolicyResource, "OnlyLambda"}},
		{"same account by role ARN needs no identity policy", assume(lambdaSession, sameAcctRole, nil), Policies{Resource: trust(`{"AWS":"arn:aws:iam::111111111111:role/lambda-execution-role"}`)}, want{Allow, PolicyResource, "Trust"}},
		{"same account by root needs identity policy", assume(lambdaSession, sameAcctRole, nil), Policies{Resource: trust(`{"AWS":"arn:aws:iam::111111111111:root"}`)}, want{ImplicitDeny, PolicyIdentity, ""}},
		{"same account by root with identity policy", assume(lambdaSession, sameAcctRole, nil), Policies{Identity: []*Document{allowAssume}, Resource: trust(`{"AWS":"arn:aws:iam::111111111111:root"}`)}, want{Allow, PolicyResource, "Trust"}},
		{"same account identity alone is not enough", assume(lambdaSession, sameAcctRole, nil), Policies{Identity: []*Document{allowAssume}, Resource: trust(`{"Service":"lambda.amazonaws.com"}`)}, want{ImplicitDeny, PolicyResource, ""}},
		{"same account session policy limits role grant", assume(lambdaSession, sameAcctRole, nil), Policies{Session: []*Document{mustParse(t, `{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}`)}, Resource: trust(`{"AWS":"arn:aws:iam::111111111111:role/lambda-execution-role"}`)}, want{ImplicitDeny, PolicyIdentity, ""}},
		{"same account session ARN grant not limited", assume(lambdaSession, sameAcctRole, nil), Policies{Session: []*Document{mustParse(t, `{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}`)}, Resource: trust(`{"AWS":"` + lambdaSession + `"}`)}, want{Allow, PolicyResource, "Trust"}},
		{"service principal", Request{Principal: "lambda.amazonaws.com", Action: "sts:AssumeRole", Resource: sameAcctRole}, Policies{Resource: trust(`{"Service":"lambda.amazonaws.com"}`)}, want{Allow, PolicyResource, "Trust"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, Evaluate(tt.req, tt.p), tt.want)
		})
	}
}

func TestActionAndResourceMatching(t *testing.T) {
	tests := []struct {
		name     string
		stmt     string
		action   string
		resource string
		allowed  bool
	}{
		{"wildcard action", `"Action":"bedrock:InvokeModel*","Resource":"*"`, "bedrock:InvokeModelWithResponseStream", "x", true},
		{"action case-insensitive", `"Action":"Bedrock:invokemodel","Resource":"*"`, "bedrock:InvokeModel", "x", true},
		{"question mark", `"Action":"bedrock:InvokeMode?","Resource":"*"`, "bedrock:InvokeModel", "x", true},
		{"question mark is one char", `"Action":"bedrock:InvokeMode?","Resource":"*"`, "bedrock:InvokeModelWithResponseStream", "x", false},
		{"star action", `"Action":"*","Resource":"*"`, "s3:GetObject", "x", true},
		{"other service", `"Action":"bedrock:*","Resource":"*"`, "sts:AssumeRole", "x", false},
		{"NotAction", `"NotAction":"bedrock:InvokeModelWithResponseStream","Resource":"*"`, "bedrock:InvokeModel", "x", true},
		{"NotAction excludes", `"NotAction":"bedrock:Invoke*","Resource":"*"`, "bedrock:InvokeModel", "x", false},
		{"resource wildcard region", `"Action":"bedrock:InvokeModel","Resource":"arn:aws:bedrock:*::foundation-model/anthropic.*"`, "bedrock:InvokeModel", fmOsaka, true},
		{"resource case-sensitive", `"Action":"bedrock:InvokeModel","Resource":"arn:aws:bedrock:*::foundation-model/Anthropic.*"`, "bedrock:InvokeModel", fmOsaka, false},
		{"resource list", `"Action":"bedrock:InvokeModel","Resource":["` + fmTokyo + `","` + fmOsaka + `"]`, "bedrock:InvokeModel", fmOsaka, true},
		{"NotResource", `"Action":"bedrock:InvokeModel","NotResource":"arn:aws:bedrock:us-*"`, "bedrock:InvokeModel", fmOsaka, true},
		{"NotResource excludes", `"Action":"bedrock:InvokeModel","NotResource":"arn:aws:bedrock:ap-*"`, "bedrock:InvokeModel", fmOsaka, false},
		{"policy variable", `"Action":"s3:GetObject","Resource":"arn:aws:s3:::home/${aws:PrincipalAccount}/*"`, "s3:GetObject", "arn:aws:s3:::home/222222222222/a", true},
		{"policy variable other", `"Action":"s3:GetObject","Resource":"arn:aws:s3:::home/${aws:PrincipalAccount}/*"`, "s3:GetObject", "arn:aws:s3:::home/111111111111/a", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := mustParse(t, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",`+tt.stmt+`}]}`)
			got := Evaluate(Request{Principal: relaySession, Action: tt.action, Resource: tt.resource}, Policies{Identity: []*Document{d}})
			if got.Allowed() != tt.allowed {
				t.Errorf("allowed = %v, want %v", got.Allowed(), tt.allowed)
			}
		})
	}
}

func TestConditions(t *testing.T) {
	ctx := map[string][]string{
		"aws:RequestedRegion":         {"ap-northeast-1"},
		"bedrock:InferenceProfileArn": {profileARN},
		"aws:SourceAccount":           {"111111111111"},
		"aws:SecureTransport":         {"true"},
		"aws:TagKeys":                 {"team", "cost-center"},
		"aws:SourceIp":                {"10.1.2.3"},
		"s3:max-keys":                 {"5"},
		"aws:CurrentTime":             {"2025-11-20T10:00:00Z"},
		"aws:Blob":                    {"aGk="},
	}
	tests := []struct {
		cond string
		want bool
	}{
		{`{"StringEquals":{"aws:RequestedRegion":"ap-northeast-1"}}`, true},
		{`{"StringEquals":{"aws:RequestedRegion":["us-east-1","ap-northeast-1"]}}`, true},
		{`{"StringEquals":{"aws:RequestedRegion":"AP-NORTHEAST-1"}}`, false},
		{`{"StringEquals":{"aws:requestedregion":"ap-northeast-1"}}`, true}, // keys are case-insensitive
		{`{"StringEquals":{"aws:RequestedRegion":"ap-*"}}`, false},          // no wildcards in StringEquals
		{`{"StringEqualsIgnoreCase":{"aws:RequestedRegion":"AP-NORTHEAST-1"}}`, true},
		{`{"StringNotEqualsIgnoreCase":{"aws:RequestedRegion":"AP-NORTHEAST-1"}}`, false},
		{`{"StringNotEquals":{"aws:RequestedRegion":"us-east-1"}}`, true},
		{`{"StringNotEquals":{"aws:RequestedRegion":["us-east-1","ap-northeast-1"]}}`, false},
		{`{"StringLike":{"aws:RequestedRegion":"ap-*"}}`, true},
		{`{"StringLike":{"aws:RequestedRegion":"ap-northeast-?"}}`, true},
		{`{"StringNotLike":{"aws:RequestedRegion":"ap-*"}}`, false},
		{`{"ArnEquals":{"bedrock:InferenceProfileArn":"` + profileARN + `"}}`, true},
		{`{"ArnLike":{"bedrock:InferenceProfileArn":"arn:aws:bedrock:*:222222222222:inference-profile/jp.*"}}`, true},
		{`{"ArnLike":{"bedrock:InferenceProfileArn":"arn:aws:bedrock:*:333333333333:inference-profile/*"}}`, false},
		{`{"ArnNotEquals":{"bedrock:InferenceProfileArn":"` + profileARN + `"}}`, false},
		{`{"ArnNotLike":{"bedrock:InferenceProfileArn":"arn:aws:bedrock:us-*"}}`, true},
		{`{"ArnLike":{"aws:RequestedRegion":"arn:*"}}`, false}, // not an ARN
		{`{"Bool":{"aws:SecureTransport":true}}`, true},
		{`{"Bool":{"aws:SecureTransport":"false"}}`, false},
		{`{"Null":{"sts:ExternalId":"true"}}`, true},
		{`{"Null":{"sts:ExternalId":"false"}}`, false},
		{`{"Null":{"aws:SourceAccount":"false"}}`, true},
		// a missing key fails positive operators, passes negated ones and IfExists
		{`{"StringEquals":{"sts:ExternalId":"x"}}`, false},
		{`{"StringLike":{"sts:ExternalId":"*"}}`, false},
		{`{"ArnLike":{"aws:SourceArn":"*"}}`, false},
		{`{"Bool":{"aws:MultiFactorAuthPresent":"true"}}`, false},
		{`{"StringNotEquals":{"sts:ExternalId":"x"}}`, true},
		{`{"StringEqualsIfExists":{"sts:ExternalId":"x"}}`, true},
		{`{"StringEqualsIfExists":{"aws:RequestedRegion":"us-east-1"}}`, false},
		{`{"ArnLikeIfExists":{"bedrock:InferenceProfileArn":"arn:aws:bedrock:*:222222222222:*"}}`, true},
		// set operators on a multivalued key
		{`{"ForAnyValue:StringEquals":{"aws:TagKeys":["team"]}}`, true},
		{`{"ForAnyValue:StringEquals":{"aws:TagKeys":["owner"]}}`, false},
		{`{"ForAllValues:StringEquals":{"aws:TagKeys":["team","cost-center","owner"]}}`, true},
		{`{"ForAllValues:StringEquals":{"aws:TagKeys":["team"]}}`, false},
		{`{"ForAllValues:StringLike":{"aws:TagKeys":["*"]}}`, true},
		{`{"ForAllValues:StringEquals":{"aws:PrincipalTag/none":["x"]}}`, true}, // vacuous
		{`{"ForAnyValue:StringEquals":{"aws:PrincipalTag/none":["x"]}}`, false},
		{`{"ForAnyValue:StringNotEquals":{"aws:TagKeys":["team"]}}`, true},
		{`{"ForAllValues:StringNotEquals":{"aws:TagKeys":["team"]}}`, false},
		{`{"forallvalues:stringequals":{"aws:TagKeys":["team","cost-center"]}}`, true},
		// several operators and keys must all hold
		{`{"StringEquals":{"aws:RequestedRegion":"ap-northeast-1","aws:SourceAccount":"111111111111"},"Bool":{"aws:SecureTransport":"true"}}`, true},
		{`{"StringEquals":{"aws:RequestedRegion":"ap-northeast-1","aws:SourceAccount":"999999999999"}}`, false},
		// implicit keys from the principal
		{`{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::222222222222:role/BedrockAccessRole"}}`, true},
		{`{"StringEquals":{"aws:PrincipalAccount":"222222222222"}}`, true},
		// the rest of the operator family
		{`{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`, true},
		{`{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`, false},
		{`{"NumericLessThan":{"s3:max-keys":10}}`, true},
		{`{"NumericGreaterThanEquals":{"s3:max-keys":"6"}}`, false},
		{`{"DateLessThan":{"aws:CurrentTime":"2026-01-01T00:00:00Z"}}`, true},
		{`{"DateGreaterThan":{"aws:CurrentTime":"2026-01-01T00:00:00Z"}}`, false},
		{`{"DateGreaterThan":{"aws:CurrentTime":"1700000000"}}`, true},
		{`{"BinaryEquals":{"aws:Blob":"aGk="}}`, true},
		{`{"BinaryEquals":{"aws:Blob":"aG8="}}`, false},
		{`{"IpAddress":{"aws:SourceIp":"10.1.2.3"}}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.cond, func(t *testing.T) {
			d := mustParse(t, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:InvokeModel","Resource":"*","Condition":`+tt.cond+`}]}`)
			got := Evaluate(Request{Principal: relaySession, Action: "bedrock:InvokeModel", Resource: fmTokyo, Context: ctx}, Policies{Identity: []*Document{d}})
			if got.Allowed() != tt.want {
				t.Errorf("allowed = %v, want %v", got.Allowed(), tt.want)
			}
		})
	}
}

func TestProfileConditionPolicy(t *testing.T) {
	d := mustPermissions(t, PermissionOptions{TargetAccount: seedAccount, Model: seedModel, Region: seedRegion, ProfileCondition: true})
	p := Policies{Identity: []*Document{d}}
	tests := []struct {
		name string
		req  Request
		want bool
	}{
		{"profile", Request{Principal: relaySession, Action: "bedrock:InvokeModel", Resource: profileARN}, true},
		{"model through profile", Request{Principal: relaySession, Action: "bedrock:InvokeModel", Resource: fmOsaka,
			Context: map[string][]string{"bedrock:InferenceProfileArn": {profileARN}}}, true},
		{"model directly", Request{Principal: relaySession, Action: "bedrock:InvokeModel", Resource: fmOsaka}, false},
		{"model through another profile", Request{Principal: relaySession, Action: "bedrock:InvokeModel", Resource: fmOsaka,
			Context: map[string][]string{"bedrock:InferenceProfileArn": {"arn:aws:bedrock:ap-northeast-1:222222222222:inference-profile/apac.x"}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Evaluate(tt.req, p).Allowed(); got != tt.want {
				t.Errorf("allowed = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDeniedMessage(t *testing.T) {
	invoke := Request{Principal: relaySession, Action: "bedrock:InvokeModel", Resource: profileARN}
	assume := Request{Principal: lambdaSession, Action: "sts:AssumeRole", Resource: seedTarget}
	const invokePrefix = "User: " + relaySession + " is not authorized to perform: bedrock:InvokeModel on resource: " + profileARN
	const assumeMsg = "User: arn:aws:sts::111111111111:assumed-role/lambda-execution-role/fn is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::222222222222:role/BedrockAccessRole"
	tests := []struct {
		name string
		req  Request
		d    Decision
		want string
	}{
		{"no identity policy", invoke, Decision{Outcome: ImplicitDeny, Policy: PolicyIdentity}, invokePrefix + " because no identity-based policy allows the bedrock:InvokeModel action"},
		{"explicit identity deny", invoke, Decision{Outcome: ExplicitDeny, Policy: PolicyIdentity}, invokePrefix + " with an explicit deny in an identity-based policy"},
		{"explicit SCP deny", invoke, Decision{Outcome: ExplicitDeny, Policy: PolicySCP}, invokePrefix + " with an explicit deny in a service control policy"},
		{"no SCP allows", invoke, Decision{Outcome: ImplicitDeny, Policy: PolicySCP}, invokePrefix + " because no service control policy allows the bedrock:InvokeModel action"},
		{"no session policy allows", invoke, Decision{Outcome: ImplicitDeny, Policy: PolicySession}, invokePrefix + " because no session policy allows the bedrock:InvokeModel action"},
		{"boundary", invoke, Decision{Outcome: ImplicitDeny, Policy: PolicyBoundary}, invokePrefix + " because no permissions boundary allows the bedrock:InvokeModel action"},
		{"trust policy refuses", assume, Decision{Outcome: ImplicitDeny, Policy: PolicyResource}, assumeMsg},
		{"trust policy denies", assume, Decision{Outcome: ExplicitDeny, Policy: PolicyResource}, assumeMsg},
		{"caller may not assume", assume, Decision{Outcome: ImplicitDeny, Policy: PolicyIdentity}, assumeMsg + " because no identity-based policy allows the sts:AssumeRole action"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DeniedMessage(tt.req, tt.d); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
	if got := AssumeRoleDeniedMessage(lambdaSession, seedTarget); got != assumeMsg {
		t.Errorf("AssumeRoleDeniedMessage: got %q, want %q", got, assumeMsg)
	}
	// End to end: the seed's trust policy against a stranger.
	d := Evaluate(Request{Principal: "arn:aws:sts::111111111111:assumed-role/other/fn", Action: "sts:AssumeRole", Resource: seedTarget},
		Policies{Identity: []*Document{Caller(seedTarget)}, Resource: Trust(seedCaller, "")})
	if got, want := DeniedMessage(Request{Principal: "arn:aws:sts::111111111111:assumed-role/other/fn", Action: "sts:AssumeRole", Resource: seedTarget}, d),
		AssumeRoleDeniedMessage("arn:aws:sts::111111111111:assumed-role/other/fn", seedTarget); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestWildcardMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"", "", true},
		{"*", "", true},
		{"a*", "a", true},
		{"a*c", "abbbc", true},
		{"a*c", "abbbd", false},
		{"*b*", "abc", true},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"**", "x", true},
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "aXbYbZ", false},
		{"t?g", "tæg", true},
	}
	for _, tt := range tests {
		if got := wildcardMatch(tt.pattern, tt.s, false); got != tt.want {
			t.Errorf("wildcardMatch(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}
