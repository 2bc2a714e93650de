package quotas

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/servicequotas"

	"github.com/bedrock-relay/bedrock-relay/catalog"
)

// Scope is the family of quotas a call counts against, as Service Quotas' names begin (lower-cased).
type Scope string

const (
	OnDemand          Scope = "on-demand"
	CrossRegion       Scope = "cross-region"
	GlobalCrossRegion Scope = "global cross-region"
)

// Metrics, as quota names end before " for <model>".
const (
	RequestsPerMinute = "requests per minute"
	TokensPerMinute   = "tokens per minute"
	TokensPerDay      = "tokens per day"
)

// ScopeOf is the scope of a call to called (a foundation-model id, a profile id or an ARN): a system
// profile's geography decides between cross-region and global; an application profile counts as
// cross-region; anything else is on demand.
func ScopeOf(cat *catalog.Catalog, called string) Scope {
	ref, err := catalog.ParseRef(called)
	if err != nil {
		return OnDemand
	}
	switch ref.Kind {
	case catalog.KindSystemProfile:
		if prefix, _, ok := catalog.SplitProfileID(ref.ID); ok {
			if g, ok := cat.Geography(prefix); ok && g.Global {
				return GlobalCrossRegion
			}
		}
		return CrossRegion
	case catalog.KindApplicationProfile:
		return CrossRegion
	}
	return OnDemand
}

// Quota is a model's quotas in one account and region (0: not listed), with the names and codes of the
// per-minute ones, which a person asks to raise.
type Quota struct {
	RequestsPerMinute int    `json:"requests_per_minute,omitempty"`
	TokensPerMinute   int    `json:"tokens_per_minute,omitempty"`
	TokensPerDay      int    `json:"tokens_per_day,omitempty"`
	RPMName           string `json:"rpm_name,omitempty"`
	RPMCode           string `json:"rpm_code,omitempty"`
	TPMName           string `json:"tpm_name,omitempty"`
	TPMCode           string `json:"tpm_code,omitempty"`
}

// v1Suffix is the " V1" some quota names add to the model's name ("Anthropic Claude Sonnet 4.5 V1", but
// "Anthropic Claude Haiku 4.5"). A later version is part of the name: "Claude 3.5 Sonnet V2" is another model
// than "Claude 3.5 Sonnet".
var v1Suffix = regexp.MustCompile(` v1$`)

// Match reads a quota name such as "Cross-region model inference requests per minute for Anthropic Claude
// Sonnet 4.5 V1" (the exact wording varies: "Cross-Region InvokeModel requests per minute for ..."): it
// reports the metric when the name is of scope and of model m. The model part must be the model's name,
// with or without its provider and a " V1" suffix, so that "Claude Sonnet 4" does not match "Claude Sonnet
// 4.5", nor "Claude Sonnet 4.5" its "... V1 1M Context Length" quotas.
func Match(name string, scope Scope, m catalog.Model) (metric string, ok bool) {
	lower := strings.ToLower(name)
	head, model, found := strings.Cut(lower, " for ")
	if !found {
		return "", false
	}
	var s Scope
	switch {
	case strings.HasPrefix(head, string(GlobalCrossRegion)):
		s = GlobalCrossRegion
	case strings.HasPrefix(head, string(CrossRegion)):
		s = CrossRegion
	case strings.HasPrefix(head, string(OnDemand)):
		s = OnDemand
	default:
		return "", false
	}
	if s != scope {
		return "", false
	}
	want := strings.ToLower(m.Name)
	named := false
	for _, name := range []string{model, v1Suffix.ReplaceAllString(model, "")} {
		named = named || name == want || name == strings.ToLower(m.Provider)+" "+want
	}
	if !named {
		return "", false
	}
	for _, metric := range []string{RequestsPerMinute, TokensPerMinute, TokensPerDay} {
		if strings.HasSuffix(head, metric) {
			return metric, true
		}
	}
	return "", false
}

// Read lists the bedrock quotas of the account and region client is configured for and picks those of m
// called in scope. It fails when Service Quotas cannot be read, or lists no per-minute quota for m.
func Read(ctx context.Context, client servicequotas.ListServiceQuotasAPIClient, scope Scope, m catalog.Model) (Quota, error) {
	var q Quota
	pages := servicequotas.NewListServiceQuotasPaginator(client, &servicequotas.ListServiceQuotasInput{ServiceCode: aws.String("bedrock")})
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return Quota{}, fmt.Errorf("list Bedrock quotas: %w", err)
		}
		for _, sq := range out.Quotas {
			name := aws.ToString(sq.QuotaName)
			metric, ok := Match(name, scope, m)
			if !ok || sq.Value == nil {
				continue
			}
			v := int(*sq.Value)
			switch metric {
			case RequestsPerMinute:
				q.RequestsPerMinute, q.RPMName, q.RPMCode = v, name, aws.ToString(sq.QuotaCode)
			case TokensPerMinute:
				q.TokensPerMinute, q.TPMName, q.TPMCode = v, name, aws.ToString(sq.QuotaCode)
			case TokensPerDay:
				q.TokensPerDay = v
			}
		}
	}
	if q.RequestsPerMinute == 0 && q.TokensPerMinute == 0 {
		return Quota{}, &NotListedError{Scope: scope, Model: m.Name}
	}
	return q, nil
}

// NotListedError is a model for which Service Quotas lists no per-minute quota in the scope asked.
type NotListedError struct {
	Scope Scope
	Model string
}

func (e *NotListedError) Error() string {
	return fmt.Sprintf("no %s quota listed for %s", e.Scope, e.Model)
}
