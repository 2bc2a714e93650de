package router

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	relay "github.com/bedrock-relay/bedrock-relay"
	"github.com/bedrock-relay/bedrock-relay/ratelimit"
	"github.com/bedrock-relay/bedrock-relay/upstream"
)

// The operations that name no model in their path (ApplyGuardrail, the async-invoke trio) go to a target
// chosen by what they name rather than by Do's pick: a guardrail or an invocation lives in one account and
// region, so a call about it goes to a target there (TargetIn), or is tried at each place in turn (Places).
// StartAsyncInvoke names a model in its body and is routed as Do routes InvokeModel (StartAsync).

// CallSender is what the direct operations need of a target's upstream: an *upstream.Client. A sender set
// with SetSender that lacks it cannot serve them.
type CallSender interface {
	DoCall(ctx context.Context, c *upstream.Call) (*http.Response, error)
}

var _ CallSender = (*upstream.Client)(nil)

// DirectResult is a direct call's answer: the target that gave it, its response (body already read) and the
// attempts made.
type DirectResult struct {
	Target   *Member
	Response *http.Response
	Body     []byte
	Attempts []Attempt
}

// Places are the account × region pairs the targets cover, each as its first target in configuration order.
func (r *Router) Places() []*Member {
	seen := map[[2]string]bool{}
	var out []*Member
	for _, t := range r.targets {
		k := [2]string{t.Account, t.Region}
		if !seen[k] {
			seen[k] = true
			out = append(out, t)
		}
	}
	return out
}

// TargetIn is the first target in account and region, nil when there is none.
func (r *Router) TargetIn(account, region string) *Member {
	for _, t := range r.targets {
		if t.Account == account && t.Region == region {
			return t
		}
	}
	return nil
}

// Send sends c to t once: no failover, and no budget or cooldown is touched, since these calls name no model.
// An upstream error answer is a *FinalError carrying it, like Do's.
func (r *Router) Send(ctx context.Context, t *Member, c *upstream.Call) (*DirectResult, error) {
	res, err := r.sendCall(ctx, t, c)
	if err != nil {
		_, code := classify(err)
		return nil, &FinalError{Err: asUpstream(err), Cause: err, Attempts: []Attempt{{Target: t.Name, Code: code, Err: err}}}
	}
	res.Attempts = []Attempt{{Target: t.Name}}
	return res, nil
}

func (r *Router) sendCall(ctx context.Context, t *Member, c *upstream.Call) (*DirectResult, error) {
	s, ok := r.senders[t].(CallSender)
	if !ok {
		return nil, &upstream.CredentialsError{Err: errors.New("router: target " + t.Name + " has no upstream for this operation")}
	}
	resp, err := s.DoCall(ctx, c)
	if err != nil {
		return nil, err
	}
	body, err := readAll(resp)
	if err != nil {
		return nil, err
	}
	return &DirectResult{Target: t, Response: resp, Body: body}, nil
}

// StartAsync routes a StartAsyncInvoke body (modelId as the caller named it, modelInput its model's
// InvokeModel body) as Do routes InvokeModel: a target is picked among those serving the model by headroom
// and priority, its budget counts the request and modelInput's max_tokens, and its modelId is replaced by
// the id that target calls. It fails over, within the attempts Do would make, when the target answered with
// a throttle, a fault or a setup problem, or its credentials could not be had: then nothing was started
// there. A request that got no answer (a connection broken after it was sent) is not tried elsewhere, since
// the invocation may have started; nor is a caller error (ValidationException, ConflictException).
func (r *Router) StartAsync(ctx context.Context, model string, body []byte, header http.Header) (*DirectResult, error) {
	fm, err := r.Resolve(model)
	if err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return nil, &CallerError{Code: "ValidationException", Message: "The request body is not a JSON object."}
	}
	input := fields["modelInput"]
	req := &Request{Op: "async-invoke", Model: model, Body: input, MaxTokens: ScanMaxTokens(input), InputTokens: EstimateInputTokens(input)}
	burndown := 1
	if m, ok := r.cat.Model(fm); ok {
		burndown = m.OutputBurndown
	}
	maxAttempts := r.opts.MaxAttempts
	if maxAttempts <= 0 {
		maxAttempts = max(DefaultMaxAttempts, len(r.byModel[fm]))
	}
	tried := map[*Member]bool{}
	var attempts []Attempt
	for len(attempts) < maxAttempts {
		t, resv, exhausted := r.pick(fm, req, burndown, tried)
		if t == nil {
			// As Do answers when no target is left: the last fault passed on, else 429 or 503 (exhausted).
			last := lastFinal(attempts)
			if last != nil && (exhausted.none || exhausted.faultOnly) {
				if cls, _ := classify(last.Err); cls == relay.ClassFault {
					return nil, &FinalError{Err: asUpstream(last.Err), Cause: last.Err, Attempts: attempts}
				}
			}
			setup := exhausted.Setup
			for _, a := range attempts {
				if cls, _ := classify(a.Err); cls != relay.ClassSetup {
					setup = false
				}
			}
			exhausted.Setup = setup && (len(attempts) > 0 || !exhausted.none)
			exhausted.Faults = !exhausted.Setup && exhausted.faultOnly
			exhausted.Attempts, exhausted.RetryAfter = attempts, r.earliestFree(fm)
			if last != nil {
				exhausted.Last = last.Err
			}
			r.opts.Metrics.exhausted(fm)
			return nil, exhausted
		}
		tried[t] = true
		called, _ := json.Marshal(t.Models[fm])
		fields["modelId"] = called
		b, _ := json.Marshal(fields)
		res, err := r.sendCall(ctx, t, &upstream.Call{Method: http.MethodPost, Path: "/async-invoke", Body: b, Header: header})
		key := ratelimit.Key{Target: t.Name, Model: fm}
		if err == nil {
			// The invocation's tokens are not known until it ends, and its answer is never seen: the budget keeps
			// the reservation (input and max_tokens) as spent.
			resv.Commit(req.InputTokens, req.MaxTokens)
			r.limits.Success(key)
			res.Attempts = append(attempts, Attempt{Target: t.Name})
			if len(attempts) > 0 {
				r.opts.Metrics.failover(fm, len(attempts))
			}
			return res, nil
		}
		resv.Cancel()
		cls, code := classify(err)
		attempts = append(attempts, Attempt{Target: t.Name, Code: code, Err: err})
		if ctx.Err() != nil {
			return nil, &FinalError{Err: asUpstream(err), Cause: ctx.Err(), Attempts: attempts}
		}
		r.opts.Metrics.upstreamError(t.Name, fm, code)
		var ce *upstream.CredentialsError
		answered := asUpstream(err) != nil || errors.As(err, &ce)
		switch {
		case !answered || cls == relay.ClassCaller:
			return nil, &FinalError{Err: asUpstream(err), Cause: err, Attempts: attempts}
		case cls == relay.ClassThrottle:
			r.limits.Failure(key, ratelimit.CauseThrottled)
		case cls == relay.ClassDaily:
			r.limits.Failure(key, ratelimit.CauseDaily)
		case cls == relay.ClassFault:
			r.limits.Failure(key, ratelimit.CauseFault)
		default:
			r.limits.Failure(key, ratelimit.CauseSetup)
			logSetup(r.opts.Logger, t, fm, code, err)
		}
	}
	last := lastFinal(attempts)
	return nil, &FinalError{Err: asUpstream(last.Err), Cause: last.Err, Attempts: attempts}
}
