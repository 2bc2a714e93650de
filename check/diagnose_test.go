package check

import (
	"strings"
	"testing"

	"github.com/aws/smithy-go"

	"github.com/bedrock-relay/bedrock-relay/iampolicy"
	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

// TestDiagnoseAssumeRoleReasons covers AccessDenied messages that carry a reason clause, which the sandbox's STS
// does not send (it answers every refused AssumeRole with the bare message), so they are fed in directly.
func TestDiagnoseAssumeRoleReasons(t *testing.T) {
	session := "arn:aws:sts::111111111111:assumed-role/lambda-execution-role/fn"
	req := iampolicy.Request{Principal: session, Action: iampolicy.ActionAssumeRole, Resource: smallRole}
	tests := []struct {
		name string
		msg  string
		want []string
		not  []string
	}{
		{"caller lacks the permission", iampolicy.DeniedMessage(req, iampolicy.Decision{Outcome: iampolicy.ImplicitDeny, Policy: iampolicy.PolicyIdentity}),
			[]string{"the caller role arn:aws:iam::111111111111:role/lambda-execution-role is not allowed to call sts:AssumeRole"}, []string{"does not say which side"}},
		{"SCP in the caller's organization", iampolicy.DeniedMessage(req, iampolicy.Decision{Outcome: iampolicy.ExplicitDeny, Policy: iampolicy.PolicySCP}),
			[]string{"a service control policy of the caller account's organization explicitly denies sts:AssumeRole"}, []string{"does not say which side"}},
		{"no reason", iampolicy.AssumeRoleDeniedMessage(session, smallRole),
			[]string{"does not say which side", "1. The trust policy", "2. The caller role", "3. If the trust policy has an sts:ExternalId"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &run{report: &Report{}, callerARN: session, callerRole: roleOfSession(session)}
			r.diagnoseAssumeRole(Subject{Name: "seed", RoleARN: smallRole, Region: sandbox.SeedRegion},
				&smithy.GenericAPIError{Code: "AccessDenied", Message: tt.msg})
			if len(r.report.Diagnoses) != 1 {
				t.Fatalf("got %d diagnoses, want 1", len(r.report.Diagnoses))
			}
			var text strings.Builder
			d := r.report.Diagnoses[0]
			text.WriteString(d.Problem)
			for _, f := range d.Fixes {
				text.WriteString("\n" + f.Text)
			}
			for _, w := range tt.want {
				if !strings.Contains(text.String(), w) {
					t.Errorf("diagnosis lacks %q:\n%s", w, text.String())
				}
			}
			for _, w := range tt.not {
				if strings.Contains(text.String(), w) {
					t.Errorf("diagnosis has %q:\n%s", w, text.String())
				}
			}
		})
	}
	if got := roleOfSession(session); got != "arn:aws:iam::111111111111:role/lambda-execution-role" {
		t.Errorf("roleOfSession = %s", got)
	}
}
