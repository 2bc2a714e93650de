package iampolicy

import (
	"encoding/json"
	"slices"
	"strconv"
)

// Actions ReadQuotas grants.
const (
	ActionListServiceQuotas = "servicequotas:ListServiceQuotas"
	ActionGetServiceQuota   = "servicequotas:GetServiceQuota"
)

// ReadQuotas lets a target role read its account's quotas from Service Quotas, which `bedrock-relay check` and
// `budgets: auto` do through the assumed role. Service Quotas has no resource-level permissions for these
// actions, hence "*".
func ReadQuotas() *Document {
	return &Document{Version: Version2012, Statement: []Statement{{
		Effect:   EffectAllow,
		Action:   StringList{ActionListServiceQuotas, ActionGetServiceQuota},
		Resource: StringList{"*"},
	}}}
}

// Merge combines documents into one: statements that differ only in their resources (same effect, actions,
// principal and conditions) become one statement listing every resource once, in first-seen order. It is how
// the permissions for several models of one role become the single policy a role carries. Duplicate Sids,
// which IAM refuses within a document, get a numeric suffix.
func Merge(docs ...*Document) *Document {
	out := &Document{Version: Version2012}
	index := map[string]int{}
	for _, d := range docs {
		if d == nil {
			continue
		}
		for _, st := range d.Statement {
			k := mergeKey(st)
			if i, ok := index[k]; ok && len(st.NotResource) == 0 && len(out.Statement[i].NotResource) == 0 {
				for _, r := range st.Resource {
					if !slices.Contains(out.Statement[i].Resource, r) {
						out.Statement[i].Resource = append(out.Statement[i].Resource, r)
					}
				}
				continue
			}
			st.Action = slices.Clone(st.Action)
			st.Resource = slices.Clone(st.Resource)
			index[k] = len(out.Statement)
			out.Statement = append(out.Statement, st)
		}
	}
	seen := map[string]int{}
	for i := range out.Statement {
		sid := out.Statement[i].Sid
		if sid == "" {
			continue
		}
		seen[sid]++
		if n := seen[sid]; n > 1 {
			out.Statement[i].Sid = sid + strconv.Itoa(n)
		}
	}
	return out
}

// mergeKey is what two statements must share to be merged: everything but Resource.
func mergeKey(st Statement) string {
	st.Resource = nil
	st.Sid = ""
	b, _ := json.Marshal(st)
	return string(b)
}
