package iampolicy_test

import (
	"fmt"

	"github.com/bedrock-relay/bedrock-relay/iampolicy"
)

// The sandbox's two checks for the seed setup: AssumeRole across accounts, then InvokeModel with the assumed
// session.
func ExampleEvaluate() {
	caller := "arn:aws:iam::111111111111:role/lambda-execution-role"
	target := "arn:aws:iam::222222222222:role/BedrockAccessRole"
	perms, err := iampolicy.Permissions(iampolicy.PermissionOptions{
		TargetAccount: "222222222222",
		Model:         "jp.anthropic.claude-sonnet-4-5-20250929-v1:0",
		Region:        "ap-northeast-1",
	})
	if err != nil {
		panic(err)
	}

	assume := iampolicy.Request{
		Principal: "arn:aws:sts::111111111111:assumed-role/lambda-execution-role/fn",
		Action:    "sts:AssumeRole",
		Resource:  target,
	}
	d := iampolicy.Evaluate(assume, iampolicy.Policies{
		Identity: []*iampolicy.Document{iampolicy.Caller(target)},
		Resource: iampolicy.Trust(caller, ""),
	})
	fmt.Println(d.Outcome, d.Policy)

	stream := iampolicy.Request{
		Principal: "arn:aws:sts::222222222222:assumed-role/BedrockAccessRole/lambda-bedrock-cross-account",
		Action:    "bedrock:InvokeModelWithResponseStream",
		Resource:  "arn:aws:bedrock:ap-northeast-1:222222222222:inference-profile/jp.anthropic.claude-sonnet-4-5-20250929-v1:0",
	}
	d = iampolicy.Evaluate(stream, iampolicy.Policies{Identity: []*iampolicy.Document{perms}})
	fmt.Println(d.Outcome, d.Policy)
	fmt.Println(iampolicy.DeniedMessage(stream, d))
	// Output:
	// Allow resource-based policy
	// ImplicitDeny identity-based policy
	// User: arn:aws:sts::222222222222:assumed-role/BedrockAccessRole/lambda-bedrock-cross-account is not authorized to perform: bedrock:InvokeModelWithResponseStream on resource: arn:aws:bedrock:ap-northeast-1:222222222222:inference-profile/jp.anthropic.claude-sonnet-4-5-20250929-v1:0 because no identity-based policy allows the bedrock:InvokeModelWithResponseStream action
}
