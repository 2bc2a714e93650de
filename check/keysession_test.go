package check

import (
	"strings"
	"testing"

	"github.com/bedrock-relay/bedrock-relay/iampolicy"
	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

var checkKeySession = &KeySession{SessionName: "brk-check", Tags: []Tag{{"relay-key", "check"}, {"relay-group", "check"}}}

// TestCheckKeySession: with Options.KeySession (attribution.session_per_key) check assumes each target's role
// as a per-key session too: refused for want of sts:TagSession, it says so and names the fix, and the
// models are still checked through the shared session; allowed, the step passes. Without the option the
// report has no KEY SESSION column.
func TestCheckKeySession(t *testing.T) {
	t.Run("seed trust policy: no sts:TagSession", func(t *testing.T) {
		rep, text := runAgainst(t, nil, []Subject{seedTarget()}, Options{KeySession: checkKeySession})
		if n := rep.Failed(); n != 1 {
			t.Errorf("%d failed steps, want 1 (key-session):\n%s", n, text)
		}
		st := stepOf(rep.Targets[0].Steps, StepKeySession)
		if st.Status != Fail || !strings.Contains(st.Error, "is not authorized to perform: sts:TagSession on resource: "+smallRole) {
			t.Errorf("key-session step %+v: want a failure with AWS's AccessDenied", st)
		}
		if inv := stepOf(rep.Targets[0].Models[0].Steps, StepInvoke); inv.Status != OK {
			t.Errorf("invoke %+v: want the models checked through the shared session", inv)
		}
		for _, want := range []string{
			"TARGET  MODEL                                         IDENTITY  ASSUME ROLE  KEY SESSION  MODEL ACCESS  INVOKE  QUOTAS",
			"seed    jp.anthropic.claude-sonnet-4-5-20250929-v1:0  ✓         ✓            ✗            ✓             ✓       ✓",
			"key-session: the role can be assumed, but not with the session tags of the per-key sessions (attribution.session_per_key)",
			"Add sts:TagSession for the caller role, limited to the relay's tag keys, to the trust policy of " + smallRole,
			"`bedrock-relay policy --config relay.yaml --caller-role-arn " + sandbox.CallerRoleARN + "`",
			`"Action": "sts:TagSession"`,
			`"ForAllValues:StringEquals": {`,
			"Add to the trust policy of " + smallRole,
			"Add to an inline policy of the caller role " + sandbox.CallerRoleARN,
		} {
			if !strings.Contains(text, want) {
				t.Errorf("report lacks %q:\n%s", want, text)
			}
		}
	})
	t.Run("trust and caller policies allow the tags", func(t *testing.T) {
		allowTags := func(t *testing.T, sb *sandbox.Sandbox) {
			keys := checkKeySession.TagKeys()
			trust, _ := iampolicy.TrustTagged(sandbox.CallerRoleARN, "", keys).MarshalIndent()
			must(t, sb.SetTrustPolicy(smallRole, string(trust)))
			caller, _ := iampolicy.CallerTagged(keys, smallRole).MarshalIndent()
			must(t, sb.SetRolePolicy(sandbox.CallerRoleARN, "AssumeBedrockRoles", string(caller)))
		}
		rep, text := runAgainst(t, allowTags, []Subject{seedTarget()}, Options{KeySession: checkKeySession})
		if rep.Failed() != 0 {
			t.Fatalf("want every step to pass:\n%s", text)
		}
		if st := stepOf(rep.Targets[0].Steps, StepKeySession); st.Status != OK || st.Detail != "session brk-check tagged relay-key, relay-group" {
			t.Errorf("key-session step %+v", st)
		}
	})
	t.Run("trust policy refuses the session name", func(t *testing.T) {
		onlyShared := func(t *testing.T, sb *sandbox.Sandbox) {
			must(t, sb.SetTrustPolicy(smallRole, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"`+sandbox.CallerRoleARN+`"},
				"Action":["sts:AssumeRole","sts:TagSession"],"Condition":{"StringEquals":{"sts:RoleSessionName":"bedrock-relay-check"}}}]}`))
		}
		rep, text := runAgainst(t, onlyShared, []Subject{seedTarget()}, Options{KeySession: checkKeySession})
		if rep.Failed() != 1 || !strings.Contains(text, "look for a trust policy condition on sts:RoleSessionName") {
			t.Errorf("want the key session refused and a condition named:\n%s", text)
		}
	})
	t.Run("without the option", func(t *testing.T) {
		rep, text := runAgainst(t, nil, []Subject{seedTarget()}, Options{})
		if strings.Contains(text, "KEY SESSION") || stepOf(rep.Targets[0].Steps, StepKeySession).Status != Skip {
			t.Errorf("a key-session check without Options.KeySession:\n%s", text)
		}
	})
}
