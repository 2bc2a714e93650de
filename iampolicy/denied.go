package iampolicy

import (
	"regexp"
	"strings"
)

// Denial is an AccessDenied message taken apart: the inverse of DeniedMessage, for explaining what AWS
// refused. Reason is empty when AWS gave none, as STS does when a role trust policy refuses AssumeRole.
type Denial struct {
	Principal string
	Action    string
	Resource  string
	// Outcome is ExplicitDeny or ImplicitDeny when the message gives a reason; Policy names the policy type.
	Outcome Outcome
	Policy  PolicyType
	Reason  string // the clause after the resource, as AWS wrote it
}

var deniedRe = regexp.MustCompile(`User: (\S+) is not authorized to perform: (\S+) on resource: (\S+?)(?: (because no .+|with an explicit deny in .+?))?\.?$`)

// ParseDenied reads a message in the form AWS uses for AccessDenied and AccessDeniedException ("User: P is not
// authorized to perform: A on resource: R [because no X allows the A action | with an explicit deny in a X]").
// It reports false for any other message, such as Bedrock's "You don't have access to the model ...".
func ParseDenied(msg string) (Denial, bool) {
	m := deniedRe.FindStringSubmatch(strings.TrimSpace(msg))
	if m == nil {
		return Denial{}, false
	}
	d := Denial{Principal: m[1], Action: m[2], Resource: m[3], Reason: m[4]}
	switch {
	case strings.HasPrefix(d.Reason, "with an explicit deny in "):
		d.Outcome = ExplicitDeny
		d.Policy = policyTypeNamed(strings.TrimPrefix(strings.TrimPrefix(strings.TrimPrefix(d.Reason, "with an explicit deny in "), "an "), "a "))
	case strings.HasPrefix(d.Reason, "because no "):
		d.Outcome = ImplicitDeny
		rest := strings.TrimPrefix(d.Reason, "because no ")
		if i := strings.Index(rest, " allows "); i >= 0 {
			rest = rest[:i]
		}
		d.Policy = policyTypeNamed(rest)
	}
	return d, true
}

func policyTypeNamed(s string) PolicyType {
	for _, t := range []PolicyType{PolicyIdentity, PolicyResource, PolicySession, PolicyBoundary, PolicySCP} {
		if strings.HasPrefix(s, t.String()) {
			return t
		}
	}
	return PolicyNone
}
