package sandbox

import (
	"maps"

	"github.com/bedrock-relay/bedrock-relay/iampolicy"
)

func parsePolicy(doc string) (*iampolicy.Document, error) { return iampolicy.Parse([]byte(doc)) }

// fullAWSAccess is the SCP every organization starts with; the scenario's SCPs are the deny lists on top.
var fullAWSAccess = &iampolicy.Document{Version: "2012-10-17", Statement: []iampolicy.Statement{{
	Effect: "Allow", Action: iampolicy.StringList{"*"}, Resource: iampolicy.StringList{"*"}}}}

func withFullAccess(scps []*iampolicy.Document) []*iampolicy.Document {
	if len(scps) == 0 {
		return nil
	}
	return append([]*iampolicy.Document{fullAWSAccess}, scps...)
}

func (p *principal) policies(resource *iampolicy.Document, scps []*iampolicy.Document) iampolicy.Policies {
	pol := iampolicy.Policies{Identity: p.Policies, Resource: resource, SCPs: withFullAccess(scps)}
	if p.SessionPolicy != nil {
		pol.Session = []*iampolicy.Document{p.SessionPolicy}
	}
	return pol
}

// authorizeAssumeRole evaluates the caller's identity policies, its account's SCPs and the role's trust policy
// for action: sts:AssumeRole, and sts:TagSession / sts:SetSourceIdentity when the request passes tags or a
// source identity.
func (s *Sandbox) authorizeAssumeRole(caller *principal, action string, r *role, scps []*iampolicy.Document, ctx map[string][]string) bool {
	req := iampolicy.Request{Principal: caller.ARN, PrincipalAccount: caller.Account, Action: action, Resource: r.ARN, Context: ctx}
	s.mu.Lock()
	defer s.mu.Unlock()
	return iampolicy.Evaluate(req, caller.policies(r.Trust, scps)).Allowed()
}

// authorizeBedrock checks one action on one resource for a Bedrock call, returning AWS's AccessDeniedException
// when refused. API-key principals carry the AmazonBedrockLimitedAccess policy: Bedrock Runtime is allowed.
func (s *Sandbox) authorizeBedrock(p *principal, action, resource string, ctx map[string][]string) *awsError {
	if p.APIKey {
		return nil
	}
	s.mu.Lock()
	var scps []*iampolicy.Document
	if a := s.accounts[p.Account]; a != nil {
		scps = a.SCPs
	}
	if tags := s.stats.sessionTags[p.ARN]; len(tags) > 0 {
		// A tagged session's requests carry its tags as aws:PrincipalTag/KEY (for ABAC conditions).
		withTags := make(map[string][]string, len(ctx)+len(tags))
		maps.Copy(withTags, ctx)
		for k, v := range tags {
			withTags["aws:PrincipalTag/"+k] = []string{v}
		}
		ctx = withTags
	}
	req := iampolicy.Request{Principal: p.ARN, PrincipalAccount: p.Account, Action: action, Resource: resource, Context: ctx}
	d := iampolicy.Evaluate(req, p.policies(nil, scps))
	s.mu.Unlock()
	if d.Allowed() {
		return nil
	}
	return accessDeniedException("%s", iampolicy.DeniedMessage(req, d))
}
