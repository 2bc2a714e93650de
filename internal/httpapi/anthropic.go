package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/bedrock-relay/bedrock-relay/anthropic"
	"github.com/bedrock-relay/bedrock-relay/catalog"
	"github.com/bedrock-relay/bedrock-relay/router"
	"github.com/bedrock-relay/bedrock-relay/upstream"
)

// The Anthropic Messages API: POST /v1/messages (InvokeModel, or InvokeModelWithResponseStream with
// stream: true, through the router) and POST /v1/messages/count_tokens (CountTokens). Package anthropic does
// the translation; these handlers authenticate with the same keys as the other APIs (sent as x-api-key, as
// the Anthropic SDKs send them, or as a bearer token), check the key's models, route, and return their
// errors, which the adapter writes in Anthropic's shape (anthropicShape).

// anthropicRoutes mounts the Anthropic Messages API.
func (h *Handler) anthropicRoutes() {
	models, _ := h.deps.Router.Models()
	api := &anthropicAPI{h: h, models: anthropic.NewModels(catalog.Default(), models)}
	serve := func(f apiFunc) http.Handler { return h.serve("anthropic", anthropicShape, f) }
	h.mux.Handle("POST /v1/messages", serve(api.messages))
	h.mux.Handle("POST /v1/messages/count_tokens", serve(api.countTokens))
	// Other methods and the rest of /v1/messages/ (batches) in Anthropic's shape, not OpenAI's.
	h.mux.Handle("/v1/messages", serve(api.notServed))
	h.mux.Handle("/v1/messages/", serve(api.notServed))
}

type anthropicAPI struct {
	h      *Handler
	models *anthropic.Models
}

// messages serves POST /v1/messages.
func (a *anthropicAPI) messages(w http.ResponseWriter, r *http.Request, x *exchange) error {
	x.op = "messages"
	caller, err := a.caller(r, x)
	if err != nil {
		return err
	}
	body, err := a.h.readBody(w, r, x)
	if err != nil {
		return err
	}
	req, err := anthropic.ParseRequest(body, r.Header.Get("Anthropic-Beta"))
	if err != nil {
		return err
	}
	routed, err := a.resolve(req.Model, caller, x)
	if err != nil {
		return err
	}
	op := upstream.OpInvoke
	hdr := http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}}
	if req.Stream {
		op = upstream.OpInvokeStream
		hdr = http.Header{"Content-Type": {"application/json"}, "X-Amzn-Bedrock-Accept": {"application/json"}}
	}
	if err := a.h.admit(x, caller, x.model, req.Body, req.MaxTokens); err != nil {
		return err
	}
	ctx, cancel := a.h.requestContext(r)
	defer cancel()
	res, err := a.h.deps.Router.Do(ctx, &router.Request{Op: op, Model: routed, Body: req.Body, Header: hdr, MaxTokens: req.MaxTokens, Key: caller.Name, Group: a.h.groupOf(caller)})
	if err != nil {
		if r.Context().Err() != nil {
			return r.Context().Err()
		}
		return err
	}
	x.noteAttempts(res.Attempts)
	setAnthropicHeaders(w.Header(), res)
	if res.Stream != nil {
		return a.writeEvents(ctx, w, res.Stream, anthropic.NewStream(req.Model), x)
	}
	x.usage = res.Usage
	msg, err := anthropic.Message(res.Body, req.Model)
	if err != nil {
		return err
	}
	writeRaw(w, http.StatusOK, msg)
	return nil
}

// countTokens serves POST /v1/messages/count_tokens.
func (a *anthropicAPI) countTokens(w http.ResponseWriter, r *http.Request, x *exchange) error {
	x.op = "messages.count_tokens"
	caller, err := a.caller(r, x)
	if err != nil {
		return err
	}
	body, err := a.h.readBody(w, r, x)
	if err != nil {
		return err
	}
	req, err := anthropic.ParseCountTokens(body, r.Header.Get("Anthropic-Beta"))
	if err != nil {
		return err
	}
	routed, err := a.resolve(req.Model, caller, x)
	if err != nil {
		return err
	}
	ctx, cancel := a.h.requestContext(r)
	defer cancel()
	res, err := a.h.deps.Router.Do(ctx, &router.Request{Op: upstream.OpCountTokens, Model: routed, Body: req.Body,
		Header: http.Header{"Content-Type": {"application/json"}}, MaxTokens: 1, Key: caller.Name, Group: a.h.groupOf(caller)})
	if err != nil {
		if r.Context().Err() != nil {
			return r.Context().Err()
		}
		return err
	}
	x.noteAttempts(res.Attempts)
	setAnthropicHeaders(w.Header(), res)
	n, err := anthropic.CountTokens(res.Body)
	if err != nil {
		return err
	}
	x.usage.InputTokens = n.InputTokens
	writeJSON(w, http.StatusOK, n)
	return nil
}

// notServed answers the rest of /v1/messages: other methods on the two endpoints, and the Message Batches
// API, which Bedrock's runtime has no counterpart for.
func (a *anthropicAPI) notServed(w http.ResponseWriter, r *http.Request, x *exchange) error {
	x.op = "messages"
	p := r.URL.Path
	if p == "/v1/messages" || p == "/v1/messages/count_tokens" {
		w.Header().Set("Allow", http.MethodPost)
		return &anthropic.Error{Status: http.StatusMethodNotAllowed, Type: anthropic.TypeInvalidRequest, Code: "method_not_allowed",
			Message: p + " takes POST, not " + r.Method + "."}
	}
	return &anthropic.Error{Status: http.StatusNotFound, Type: anthropic.TypeNotFound, Code: "not_found",
		Message: "The relay serves POST /v1/messages and POST /v1/messages/count_tokens of Anthropic's API; not " + r.Method + " " + r.URL.EscapedPath() + " (message batches are not served)."}
}

// caller authenticates r by its x-api-key header, as the Anthropic SDKs send the key, or else its
// Authorization: Bearer token, answering Anthropic's 401 for a missing or unknown key.
func (a *anthropicAPI) caller(r *http.Request, x *exchange) (*Caller, error) {
	ar := r
	key := strings.TrimSpace(r.Header.Get("X-Api-Key"))
	if key != "" {
		// The Authenticator reads bearer tokens only: hand it the key as one, on a copy of the request.
		ar = r.Clone(r.Context())
		ar.Header.Set("Authorization", "Bearer "+key)
	}
	caller, err := a.h.Authenticate(ar)
	if err != nil {
		_, bearer := bearerToken(r.Header.Get("Authorization"))
		return nil, anthropic.Unauthorized(key == "" && !bearer)
	}
	x.key = caller.Name
	return caller, nil
}

// resolve finds the model a request names and checks the caller may use it. A name the router resolves
// itself (an alias of the relay's config, a Bedrock model or profile id) is used as it is; otherwise an
// Anthropic API name (claude-sonnet-4-5-20250929, claude-sonnet-4-5) stands for its Bedrock id. It returns
// the name to route by.
func (a *anthropicAPI) resolve(model string, caller *Caller, x *exchange) (string, error) {
	x.asked = model
	routed := model
	fm, err := a.h.deps.Router.Resolve(model)
	if err != nil {
		id, ok := a.models.Lookup(model)
		if !ok {
			return "", anthropic.ModelNotFound(model, a.servedNames())
		}
		if fm, err = a.h.deps.Router.Resolve(id); err != nil {
			return "", anthropic.ModelNotFound(model, a.servedNames())
		}
		routed = id
	}
	x.model = fm
	if !a.models.Claude(fm) {
		return "", anthropic.Invalid("model: %s is not an Anthropic model; the Messages API serves Claude models (use /v1/chat/completions or the Bedrock API for others).", model)
	}
	if !caller.Allows(model, fm) {
		return "", anthropic.ModelNotAllowed(model)
	}
	return routed, nil
}

// servedNames lists the Claude models the relay serves by their Anthropic names (or Bedrock ids when they
// have none), and the config's aliases for them, for a not-found answer.
func (a *anthropicAPI) servedNames() string {
	models, aliases := a.h.deps.Router.Models()
	var names []string
	for _, m := range models {
		if !a.models.Claude(m) {
			continue
		}
		if n, ok := anthropic.APIName(m); ok {
			names = append(names, n)
		} else {
			names = append(names, m)
		}
	}
	for alias, fm := range aliases {
		if a.models.Claude(fm) {
			names = append(names, alias)
		}
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// requestContext bounds a request by Options.RequestTimeout.
func (h *Handler) requestContext(r *http.Request) (context.Context, context.CancelFunc) {
	if d := h.deps.Options.RequestTimeout; d > 0 {
		return context.WithTimeout(r.Context(), d)
	}
	return r.Context(), func() {}
}

// setAnthropicHeaders names the target that answered and Bedrock's request id, as request-id (which the
// Anthropic SDKs report) and X-Request-Id.
func setAnthropicHeaders(h http.Header, res *router.Result) {
	setAttemptHeaders(h, res.Attempts)
	if id := res.Response.Header.Get("X-Amzn-Requestid"); id != "" {
		h.Set("Request-Id", id)
		h.Set("X-Request-Id", id)
	}
}

// writeEvents answers a stream as Anthropic's server-sent events, flushing after each upstream event. A
// failure after the first event (an exception frame, the stream cut short, the request timeout) goes out as
// an error event, and no message_stop follows.
func (a *anthropicAPI) writeEvents(ctx context.Context, w http.ResponseWriter, s *router.Stream, m *anthropic.Stream, x *exchange) error {
	defer func() {
		s.Close()
		x.usage = s.Usage()
	}()
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream; charset=utf-8")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	fail := func(err error) error {
		e := anthropicError(err)
		x.code = e.Code
		if x.code == "" {
			x.code = e.Type
		}
		_ = anthropic.WriteEvent(w, e.Event())
		_ = rc.Flush()
		return nil
	}
	unflushed := false
	for {
		if err := ctx.Err(); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return fail(err)
			}
			x.status, x.code = statusClientClosed, "ClientClosedRequest"
			return nil
		}
		_, err := s.Next()
		if err == io.EOF {
			break
		}
		if cerr := ctx.Err(); cerr != nil {
			// The upstream read was cut by the request's end, not by Bedrock.
			if errors.Is(cerr, context.DeadlineExceeded) {
				return fail(cerr)
			}
			x.status, x.code = statusClientClosed, "ClientClosedRequest"
			return nil
		}
		if err != nil {
			return fail(err)
		}
		events, err := m.Parsed(s.Parsed())
		if err != nil {
			return fail(err)
		}
		for _, e := range events {
			if err := anthropic.WriteEvent(w, e); err != nil {
				x.status, x.code = statusClientClosed, "ClientClosedRequest"
				return nil
			}
		}
		// Flushed once no next frame is in hand: events that arrived together leave together.
		unflushed = unflushed || len(events) > 0
		if unflushed && !s.Pending() {
			_ = rc.Flush()
			unflushed = false
		}
	}
	if unflushed {
		_ = rc.Flush()
	}
	if !m.Done() {
		return fail(anthropic.StreamEndedEarly())
	}
	return nil
}

// writeRaw writes a JSON body that is already encoded.
func writeRaw(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
