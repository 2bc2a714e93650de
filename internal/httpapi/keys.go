package httpapi

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bedrock-relay/bedrock-relay/catalog"
	"github.com/bedrock-relay/bedrock-relay/config"
	"github.com/bedrock-relay/bedrock-relay/ratelimit"
	"github.com/bedrock-relay/bedrock-relay/usage"
)

// Accounting holds the callers' key and group budgets and records what each request used. A request for a
// model is admitted (Admit) before it is routed: it reserves one request and its input plus max_tokens in
// the request and token windows of its key and its key's group, and its estimated cost (max_tokens at the
// model's output price) in their money budgets; when the request ends (finish) the reservations are
// settled with the real usage and cost, and the usage is recorded, per key × model × target × day.
type Accounting struct {
	// Limits holds the request and token windows, under the names "key:NAME" and "group:NAME" (model "*");
	// built with ratelimit.WithShared, they are shared with every replica.
	Limits *ratelimit.Table
	// Spend holds the money budgets; Usage records the usage. Nil Usage records nothing.
	Spend usage.Spend
	Usage usage.Store
	// Price is the model's price when called through target (its region); ok false when unknown.
	Price func(model, target string) (catalog.Price, bool)
	// MaxPrice is the highest price of the model over the targets that serve it, for the estimate a money
	// budget reserves before the target is known.
	MaxPrice func(model string) (catalog.Price, bool)
	// Budgets are the budgets by scope ("key:NAME", "group:NAME"); Groups the group of each key.
	Budgets map[string]config.KeyBudgets
	Groups  map[string]string
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Metrics, if set, counts usage and refusals.
	Metrics *Metrics
}

// NewAccounting builds the budgets of cfg's keys and groups into a (whose other fields the caller sets),
// setting the request and token budgets on a.Limits.
func NewAccounting(cfg *config.Config, a *Accounting) (*Accounting, error) {
	a.Budgets, a.Groups = map[string]config.KeyBudgets{}, map[string]string{}
	for _, g := range cfg.Groups {
		a.Budgets["group:"+g.Name] = g.Budgets
	}
	for _, k := range cfg.Auth.Keys {
		a.Budgets["key:"+k.Name] = k.Budgets
		if k.Group != "" {
			a.Groups[k.Name] = k.Group
		}
	}
	for scope, b := range a.Budgets {
		if a.Limits == nil {
			break
		}
		rb := ratelimit.Budget{RequestsPerMinute: b.RequestsPerMinute, TokensPerMinute: b.TokensPerMinute, TokensPerDay: b.TokensPerDay}
		if rb == (ratelimit.Budget{}) {
			continue
		}
		if err := a.Limits.SetBudget(scopeKey(scope), rb); err != nil {
			return nil, fmt.Errorf("%s: %w", scope, err)
		}
	}
	return a, nil
}

func scopeKey(scope string) ratelimit.Key { return ratelimit.Key{Target: scope, Model: "*"} }

func (a *Accounting) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// admission is what a request reserved against its key's and group's budgets.
type admission struct {
	resvs []ratelimit.Reservation
	holds []usage.SpendHold
}

// KeyBudgetError is a request refused by its key's or group's own budget: not the pool being full, and said
// so.
type KeyBudgetError struct {
	// Scope is "key NAME" or "group NAME"; Budget the budget spent ("requests_per_minute", "usd_per_day", ...)
	// and Limit its value as the config writes it.
	Scope, Budget, Limit string
	RetryAfter           time.Duration
}

func (e *KeyBudgetError) Error() string {
	return fmt.Sprintf("The relay %s has used its %s budget (%s); retry after %s. This is the caller's own budget, not the pool's capacity: its operator can raise it in the relay config.",
		e.Scope, e.Budget, e.Limit, retryText(e.RetryAfter))
}

func retryText(d time.Duration) string {
	if d >= time.Hour {
		return d.Round(time.Minute).String()
	}
	return strconv.Itoa(retrySeconds(d)) + "s"
}

func retrySeconds(d time.Duration) int { return max(int(math.Ceil(d.Seconds())), 1) }

// bedrockKeyBudget is the Bedrock API's answer: 429 ThrottlingException with Retry-After.
func bedrockKeyBudget(e *KeyBudgetError) *Error {
	return &Error{Status: http.StatusTooManyRequests, Code: "ThrottlingException", cause: e,
		Header: http.Header{"Retry-After": {strconv.Itoa(retrySeconds(e.RetryAfter))}}, Message: "Too many requests, please wait before trying again. " + e.Error()}
}

// admit reserves a request for model fm of caller's key, with inputTokens and maxTokens, against every
// budget of its key and group. A refusal is a *KeyBudgetError; the ledger failing to answer admits.
func (a *Accounting) admit(caller *Caller, fm string, inputTokens, maxTokens int) (*admission, error) {
	if a == nil || caller == nil || caller.Name == "" {
		return nil, nil
	}
	scopes := [2]string{"key:" + caller.Name}
	if g := a.Groups[caller.Name]; g != "" {
		scopes[1] = "group:" + g
	}
	adm := &admission{}
	fail := func(err error) (*admission, error) {
		a.release(adm)
		return nil, err
	}
	var est float64
	estimated := false
	for _, scope := range scopes {
		if scope == "" {
			continue
		}
		b := a.Budgets[scope]
		if b.RequestsPerMinute > 0 || b.TokensPerMinute > 0 || b.TokensPerDay > 0 {
			resv, err := a.Limits.Reserve(scopeKey(scope), inputTokens, maxTokens, 1)
			if err != nil {
				var le *ratelimit.LimitError
				if errors.As(err, &le) {
					name := budgetName(le.Err, b, inputTokens+maxTokens)
					a.Metrics.keyRefused(scope, name)
					return fail(&KeyBudgetError{Scope: scopeText(scope), Budget: name, Limit: limitText(b, name, le.Err), RetryAfter: le.RetryAfter})
				}
				return fail(err)
			}
			adm.resvs = append(adm.resvs, resv)
		}
		if (b.USDPerDay > 0 || b.USDPerMonth > 0) && a.Spend != nil {
			if !estimated {
				if p, ok := a.maxPrice(fm); ok {
					est = p.Cost(catalog.TokenUsage{Input: inputTokens, Output: maxTokens})
				}
				estimated = true
			}
			h, err := a.Spend.Reserve(scope, a.now(), est, b.USDPerDay, b.USDPerMonth)
			var se *usage.SpendError
			switch {
			case errors.As(err, &se):
				budget, limit := "usd_per_day", b.USDPerDay
				if se.Period == "month" {
					budget, limit = "usd_per_month", b.USDPerMonth
				}
				a.Metrics.keyRefused(scope, budget)
				return fail(&KeyBudgetError{Scope: scopeText(scope), Budget: budget, Limit: fmt.Sprintf("$%.2f, $%.2f spent", limit, se.Spent), RetryAfter: se.RetryAfter})
			case err == nil:
				adm.holds = append(adm.holds, h)
			}
		}
	}
	return adm, nil
}

func (a *Accounting) maxPrice(fm string) (catalog.Price, bool) {
	if a.MaxPrice == nil {
		return catalog.Price{}, false
	}
	return a.MaxPrice(fm)
}

// release gives back what adm reserved, for a request that never reached a target.
func (a *Accounting) release(adm *admission) {
	if adm == nil {
		return
	}
	for _, r := range adm.resvs {
		r.Cancel()
	}
	for _, h := range adm.holds {
		a.Spend.Settle(h, 0)
	}
	adm.resvs, adm.holds = nil, nil
}

// finish settles x's admission with its usage and records the usage. A request that failed before any
// target answered gives its reservations back; one that was answered is charged what it used.
func (a *Accounting) finish(x *exchange) {
	if a == nil || x.model == "" || !x.metered {
		return
	}
	u := x.usage
	cost, priced := 0.0, false
	if a.Price != nil && x.target != "" {
		if p, ok := a.Price(x.model, x.target); ok {
			cost, priced = p.Cost(catalog.TokenUsage{Input: u.InputTokens, Output: u.OutputTokens,
				CacheRead: u.CacheReadInputTokens, CacheWrite: u.CacheWriteInputTokens}), true
		}
	}
	if adm := x.admission; adm != nil {
		used := u.InputTokens + u.OutputTokens + u.CacheReadInputTokens + u.CacheWriteInputTokens
		if x.code != "" && used == 0 {
			a.release(adm)
		} else {
			for _, r := range adm.resvs {
				r.Commit(u.InputTokens+u.CacheReadInputTokens+u.CacheWriteInputTokens, u.OutputTokens)
			}
			for _, h := range adm.holds {
				a.Spend.Settle(h, cost)
			}
		}
	}
	if a.Usage != nil {
		a.Usage.Add(usage.Record{Time: a.now(), Key: x.key, Group: a.Groups[x.key], Model: x.model, Target: x.target,
			Error: x.code != "", InputTokens: int64(u.InputTokens), OutputTokens: int64(u.OutputTokens),
			CacheReadTokens: int64(u.CacheReadInputTokens), CacheWriteTokens: int64(u.CacheWriteInputTokens), CostUSD: cost, Priced: priced})
	}
	a.Metrics.used(x, cost, priced)
}

func scopeText(scope string) string {
	if name, ok := strings.CutPrefix(scope, "key:"); ok {
		return "key " + name
	}
	name, _ := strings.CutPrefix(scope, "group:")
	return "group " + name
}

// budgetName is the config key of the budget a ratelimit refusal of a request needing need tokens is about.
func budgetName(err error, b config.KeyBudgets, need int) string {
	switch {
	case errors.Is(err, ratelimit.ErrRequests):
		return "requests_per_minute"
	case errors.Is(err, ratelimit.ErrTokens):
		return "tokens_per_minute"
	case errors.Is(err, ratelimit.ErrDaily):
		return "tokens_per_day"
	case errors.Is(err, ratelimit.ErrTooLarge): // larger than a whole token budget: the smaller one it exceeds
		if b.TokensPerMinute > 0 && need > b.TokensPerMinute {
			return "tokens_per_minute"
		}
		return "tokens_per_day"
	}
	return "budget"
}

func limitText(b config.KeyBudgets, name string, err error) string {
	var s string
	switch name {
	case "requests_per_minute":
		return strconv.Itoa(b.RequestsPerMinute) + " requests a minute"
	case "tokens_per_day":
		s = strconv.Itoa(b.TokensPerDay) + " tokens a day"
	default:
		s = strconv.Itoa(b.TokensPerMinute) + " tokens a minute"
	}
	if errors.Is(err, ratelimit.ErrTooLarge) {
		s += ", which the request's input and max_tokens exceed alone"
	}
	return s
}
