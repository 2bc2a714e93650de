package iampolicy

import (
	"strings"

	relay "github.com/bedrock-relay/bedrock-relay"
)

// Request is one authorization question: may Principal perform Action on Resource?
type Request struct {
	// Principal is the caller's ARN: arn:aws:sts::111111111111:assumed-role/lambda-execution-role/fn,
	// arn:aws:iam::111111111111:role/x, arn:aws:iam::111111111111:user/u, or a service principal such as
	// lambda.amazonaws.com.
	Principal string
	// PrincipalAccount is the caller's account; derived from Principal when empty.
	PrincipalAccount string
	Action           string // "sts:AssumeRole", "bedrock:InvokeModel"
	Resource         string // the ARN the action is on
	// Context holds condition keys (sts:ExternalId, aws:SourceAccount, aws:RequestedRegion,
	// bedrock:InferenceProfileArn, ...). Keys are matched case-insensitively. aws:PrincipalArn and
	// aws:PrincipalAccount are filled from Principal when absent.
	Context map[string][]string
}

// Policies are the documents that apply to one request. A nil field means that kind of policy is not in play,
// which differs from an empty one: Session: []*Document{} would deny everything, as a session policy that allows
// nothing does.
type Policies struct {
	// Identity are the caller's identity-based policies (its role's or user's inline and managed policies).
	Identity []*Document
	// Resource is the resource-based policy of the resource: for sts:AssumeRole, the role's trust policy, which
	// must always allow the caller.
	Resource *Document
	// Session are the session policies passed to AssumeRole when the caller's session was created; the caller's
	// identity-based permissions are the intersection with them.
	Session []*Document
	// Boundary is the caller's permissions boundary, which also intersects with identity-based permissions.
	Boundary *Document
	// SCPs are the service control policies that apply to the caller's account, as one level: some statement
	// must allow the action and none may deny it. Without Organizations, leave nil.
	SCPs []*Document
}

// Outcome is the result of an evaluation.
type Outcome int

const (
	ImplicitDeny Outcome = iota // nothing allowed the request
	Allow
	ExplicitDeny // a Deny statement matched; nothing can override it
)

func (o Outcome) String() string {
	switch o {
	case Allow:
		return "Allow"
	case ExplicitDeny:
		return "ExplicitDeny"
	}
	return "ImplicitDeny"
}

// PolicyType says which kind of policy decided.
type PolicyType int

const (
	PolicyNone PolicyType = iota
	PolicyIdentity
	PolicyResource // a resource-based policy; for sts:AssumeRole the role trust policy
	PolicySession
	PolicyBoundary
	PolicySCP
)

// String is the noun AWS uses in AccessDenied messages.
func (t PolicyType) String() string {
	switch t {
	case PolicyIdentity:
		return "identity-based policy"
	case PolicyResource:
		return "resource-based policy"
	case PolicySession:
		return "session policy"
	case PolicyBoundary:
		return "permissions boundary"
	case PolicySCP:
		return "service control policy"
	}
	return "none"
}

func (t PolicyType) article() string {
	if t == PolicyIdentity {
		return "an "
	}
	return "a "
}

// Decision is the outcome and what produced it. For ExplicitDeny, Statement is the Deny statement; for Allow,
// the Allow statement that granted access (the trust policy's, when one was required); for ImplicitDeny,
// Policy names the kind of policy that failed to allow and Statement is nil.
type Decision struct {
	Outcome   Outcome
	Policy    PolicyType
	Document  *Document
	Statement *Statement
	// Index is the statement's position in Document.Statement, or -1.
	Index int
}

// Allowed reports whether the request is allowed.
func (d Decision) Allowed() bool { return d.Outcome == Allow }

// match is a statement found by scanning a set of documents.
type match struct {
	doc   *Document
	index int
	// how the statement's principal matched (resource-based policies only)
	by principalMatch
}

func (m *match) decision(o Outcome, t PolicyType) Decision {
	if m == nil {
		return Decision{Outcome: o, Policy: t, Index: -1}
	}
	return Decision{Outcome: o, Policy: t, Document: m.doc, Statement: &m.doc.Statement[m.index], Index: m.index}
}

// scan finds the first Allow and the first Deny statement that apply to the request.
func scan(docs []*Document, req *evalRequest, resourceBased bool) (allow, deny *match) {
	for _, d := range docs {
		if d == nil {
			continue
		}
		for i := range d.Statement {
			st := &d.Statement[i]
			by, ok := req.applies(st, d, resourceBased)
			if !ok {
				continue
			}
			if st.Effect == EffectDeny {
				if deny == nil {
					deny = &match{d, i, by}
				}
			} else if allow == nil {
				allow = &match{d, i, by}
			}
		}
	}
	return allow, deny
}

// Evaluate decides a request the way AWS does for the policy types bedrock-relay touches:
//
//   - an explicit Deny in any policy wins;
//   - SCPs, when given, must allow;
//   - the caller's identity-based permissions are its identity policies intersected with its session policies and
//     permissions boundary;
//   - across accounts, both the identity-based permissions and the resource-based policy must allow;
//   - within an account, either allows, except that a role trust policy must always allow sts:AssumeRole and a
//     resource-based policy naming only the account (root or account id) delegates to identity policies.
//
// Resource-based grants to the role ARN are limited by session policies; grants naming the exact session ARN are
// not, as AWS documents for session policies.
func Evaluate(r Request, p Policies) Decision {
	req := newEvalRequest(r)
	one := func(d *Document) []*Document {
		if d == nil {
			return nil
		}
		return []*Document{d}
	}
	scpAllow, scpDeny := scan(p.SCPs, req, false)
	idAllow, idDeny := scan(p.Identity, req, false)
	resAllow, resDeny := scan(one(p.Resource), req, true)
	sesAllow, sesDeny := scan(p.Session, req, false)
	bndAllow, bndDeny := scan(one(p.Boundary), req, false)

	for _, d := range []struct {
		m *match
		t PolicyType
	}{{scpDeny, PolicySCP}, {idDeny, PolicyIdentity}, {resDeny, PolicyResource}, {sesDeny, PolicySession}, {bndDeny, PolicyBoundary}} {
		if d.m != nil {
			return d.m.decision(ExplicitDeny, d.t)
		}
	}
	if p.SCPs != nil && scpAllow == nil {
		return Decision{Outcome: ImplicitDeny, Policy: PolicySCP, Index: -1}
	}

	// identity-based permissions after the intersections; idFail names the policy that withheld them.
	idFail := PolicyNone
	switch {
	case idAllow == nil:
		idFail = PolicyIdentity
	case p.Session != nil && sesAllow == nil:
		idFail = PolicySession
	case p.Boundary != nil && bndAllow == nil:
		idFail = PolicyBoundary
	}

	isAssumeRole := strings.HasPrefix(strings.ToLower(r.Action), "sts:assumerole")
	resAcct := relay.AccountOf(r.Resource)
	crossAccount := resAcct != "" && req.account != "" && resAcct != req.account

	if crossAccount {
		if idFail != PolicyNone {
			return Decision{Outcome: ImplicitDeny, Policy: idFail, Index: -1}
		}
		if p.Resource == nil && !isAssumeRole {
			// A resource without a resource-based policy (a Bedrock model) cannot be shared across accounts.
			return Decision{Outcome: ImplicitDeny, Policy: PolicyResource, Index: -1}
		}
		if resAllow == nil {
			return Decision{Outcome: ImplicitDeny, Policy: PolicyResource, Index: -1}
		}
		return resAllow.decision(Allow, PolicyResource)
	}

	// Same account: a resource-based grant stands on its own unless it names only the account, and unless a
	// session policy limits it (it does, except for grants to the exact session ARN).
	resGrants := resAllow != nil && resAllow.by != byAccount &&
		(p.Session == nil || sesAllow != nil || resAllow.by == bySession)
	switch {
	case resGrants:
		return resAllow.decision(Allow, PolicyResource)
	case isAssumeRole && resAllow == nil:
		return Decision{Outcome: ImplicitDeny, Policy: PolicyResource, Index: -1}
	case idFail == PolicyNone:
		if isAssumeRole {
			return resAllow.decision(Allow, PolicyResource)
		}
		return idAllow.decision(Allow, PolicyIdentity)
	}
	return Decision{Outcome: ImplicitDeny, Policy: idFail, Index: -1}
}

// principalMatch says how a resource-based statement's principal matched the caller; AWS treats grants to the
// account, to a role and to one session differently.
type principalMatch int

const (
	byNone principalMatch = iota
	byAnyone
	byAccount
	byRole    // the role ARN, or the user ARN
	bySession // the exact session ARN
)

// evalRequest is a Request prepared for matching: derived account and lower-cased context keys.
type evalRequest struct {
	Request
	account string
	ctx     map[string][]string
}

func newEvalRequest(r Request) *evalRequest {
	e := &evalRequest{Request: r, account: r.PrincipalAccount, ctx: make(map[string][]string, len(r.Context)+2)}
	if e.account == "" {
		e.account = relay.AccountOf(r.Principal)
	}
	for k, v := range r.Context {
		e.ctx[strings.ToLower(k)] = v
	}
	if _, ok := e.ctx["aws:principalarn"]; !ok && strings.HasPrefix(r.Principal, "arn:") {
		e.ctx["aws:principalarn"] = []string{principalARN(r.Principal)}
	}
	if _, ok := e.ctx["aws:principalaccount"]; !ok && e.account != "" {
		e.ctx["aws:principalaccount"] = []string{e.account}
	}
	return e
}

// principalARN is what aws:PrincipalArn holds: for an assumed-role session, the role's ARN (without its path,
// which the session ARN does not carry).
func principalARN(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) == 6 && parts[2] == "sts" && strings.HasPrefix(parts[5], "assumed-role/") {
		segs := strings.Split(parts[5], "/")
		if len(segs) >= 2 {
			return "arn:" + parts[1] + ":iam::" + parts[4] + ":role/" + segs[1]
		}
	}
	return arn
}

// applies reports whether a statement covers the request, ignoring its effect.
func (e *evalRequest) applies(st *Statement, d *Document, resourceBased bool) (principalMatch, bool) {
	by := byNone
	if resourceBased {
		switch {
		case st.Principal != nil:
			by = e.matchPrincipal(st.Principal)
			if by == byNone {
				return byNone, false
			}
		case st.NotPrincipal != nil:
			if e.matchPrincipal(st.NotPrincipal) != byNone {
				return byNone, false
			}
			by = byAnyone
		default:
			return byNone, false // IAM rejects resource-based statements without a principal
		}
	}
	if len(st.Action) > 0 && !anyWildcard(st.Action, e.Action, true) ||
		len(st.NotAction) > 0 && anyWildcard(st.NotAction, e.Action, true) {
		return byNone, false
	}
	vars := d.Version == Version2012
	// A trust policy has no Resource: the resource is the role the policy is attached to.
	if len(st.Resource) > 0 && !e.anyResource(st.Resource, vars) ||
		len(st.NotResource) > 0 && e.anyResource(st.NotResource, vars) {
		return byNone, false
	}
	if !e.conditionsHold(st.Condition, vars) {
		return byNone, false
	}
	return by, true
}

func anyWildcard(patterns []string, s string, fold bool) bool {
	for _, p := range patterns {
		if wildcardMatch(p, s, fold) {
			return true
		}
	}
	return false
}

func (e *evalRequest) anyResource(patterns []string, vars bool) bool {
	for _, p := range patterns {
		if vars {
			var ok bool
			if p, ok = e.substitute(p); !ok {
				continue
			}
		}
		if wildcardMatch(p, e.Resource, false) {
			return true
		}
	}
	return false
}

// substitute replaces policy variables such as ${aws:username}. A variable whose key is absent or multivalued
// makes the value unusable, so the pattern matches nothing, as in IAM.
func (e *evalRequest) substitute(s string) (string, bool) {
	if !strings.Contains(s, "${") {
		return s, true
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), true
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			b.WriteString(s)
			return b.String(), true
		}
		b.WriteString(s[:i])
		name := s[i+2 : i+j]
		switch name {
		case "*", "?", "$":
			// Escapes for literal wildcard characters; matching treats them as wildcards anyway, so keep the
			// simple approximation.
			b.WriteString(name)
		default:
			key, def, hasDef := strings.Cut(name, ", ")
			v, ok := e.ctx[strings.ToLower(key)]
			switch {
			case ok && len(v) == 1:
				b.WriteString(v[0])
			case hasDef:
				b.WriteString(strings.Trim(def, "'"))
			default:
				return "", false
			}
		}
		s = s[i+j+1:]
	}
}

func (e *evalRequest) conditionsHold(c Conditions, vars bool) bool {
	for _, opName := range sortedKeys(c) {
		op, err := parseOperator(opName)
		if err != nil {
			return false // Parse rejects these; a hand-built Document with a bad operator must not grant
		}
		for _, key := range sortedKeys(c[opName]) {
			pol := []string(c[opName][key])
			if vars && op.base != "Null" {
				subst := make([]string, 0, len(pol))
				for _, v := range pol {
					if s, ok := e.substitute(v); ok {
						subst = append(subst, s)
					}
				}
				pol = subst
			}
			vals, present := e.ctx[strings.ToLower(key)]
			if !op.eval(vals, present, pol) {
				return false
			}
		}
	}
	return true
}

func (e *evalRequest) matchPrincipal(p *Principal) principalMatch {
	if p.All {
		return byAnyone
	}
	best := byNone
	for _, v := range p.AWS {
		if m := e.matchAWSPrincipal(v); m > best {
			best = m
		}
	}
	for _, list := range []StringList{p.Service, p.Federated, p.CanonicalUser} {
		for _, v := range list {
			if v == "*" {
				return byAnyone
			}
			if strings.EqualFold(v, e.Principal) {
				best = max(best, byRole)
			}
		}
	}
	return best
}

func (e *evalRequest) matchAWSPrincipal(v string) principalMatch {
	if v == "*" {
		return byAnyone
	}
	if isAccountID(v) {
		if v == e.account {
			return byAccount
		}
		return byNone
	}
	if v == e.Principal {
		if isSessionARN(v) {
			return bySession
		}
		return byRole
	}
	parts := strings.SplitN(v, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "iam" {
		return byNone
	}
	partition, acct, res := parts[1], parts[4], parts[5]
	if res == "root" {
		if acct == e.account && relay.PartitionOf(e.Principal, partition) == partition {
			return byAccount
		}
		return byNone
	}
	// A role ARN matches every session of the role; the session ARN drops the role's path.
	if strings.HasPrefix(res, "role/") {
		name := res[strings.LastIndexByte(res, '/')+1:]
		if strings.HasPrefix(e.Principal, "arn:"+partition+":sts::"+acct+":assumed-role/"+name+"/") {
			return byRole
		}
	}
	return byNone
}

func isSessionARN(arn string) bool {
	parts := strings.SplitN(arn, ":", 6)
	return len(parts) == 6 && parts[2] == "sts" && strings.HasPrefix(parts[5], "assumed-role/")
}

func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// DeniedMessage is the message of the AccessDenied / AccessDeniedException AWS returns for a denied request, with
// the reason clause AWS adds ("because no identity-based policy allows the bedrock:InvokeModel action", "with an
// explicit deny in a service control policy"). STS gives no reason when a role trust policy refuses AssumeRole,
// so neither does this.
func DeniedMessage(r Request, d Decision) string {
	msg := "User: " + r.Principal + " is not authorized to perform: " + r.Action + " on resource: " + r.Resource
	if d.Outcome == Allow || d.Policy == PolicyNone {
		return msg
	}
	if d.Policy == PolicyResource && strings.HasPrefix(strings.ToLower(r.Action), "sts:assumerole") {
		return msg
	}
	if d.Outcome == ExplicitDeny {
		return msg + " with an explicit deny in " + d.Policy.article() + d.Policy.String()
	}
	return msg + " because no " + d.Policy.String() + " allows the " + r.Action + " action"
}

// AssumeRoleDeniedMessage is STS's AccessDenied message for a refused AssumeRole, in the wording STS uses when
// the trust policy does not allow the caller.
func AssumeRoleDeniedMessage(principal, roleARN string) string {
	return "User: " + principal + " is not authorized to perform: sts:AssumeRole on resource: " + roleARN
}
