package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/bedrock-relay/bedrock-relay/openai"
	"github.com/bedrock-relay/bedrock-relay/router"
	"github.com/bedrock-relay/bedrock-relay/upstream"
)

// The OpenAI-compatible API: POST /v1/chat/completions (Converse / ConverseStream through the router),
// GET /v1/models and GET /v1/models/{model}. Package openai does the translation; these handlers authenticate
// with the same keys as the Bedrock API, check the key's models, route, and return their errors, which the
// adapter writes in OpenAI's shape (openAIShape).

// listModels serves GET /v1/models: the models and aliases the calling key may use.
func (h *Handler) listModels(w http.ResponseWriter, r *http.Request, x *exchange) error {
	x.op = "models"
	caller, err := h.openAICaller(r, x)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, openai.NewModelList(h.modelsFor(caller), h.now()))
	return nil
}

// retrieveModel serves GET /v1/models/{model}.
func (h *Handler) retrieveModel(w http.ResponseWriter, r *http.Request, x *exchange) error {
	x.op = "models"
	caller, err := h.openAICaller(r, x)
	if err != nil {
		return err
	}
	name := r.PathValue("model")
	x.asked = name
	fm, ok := h.modelsFor(caller)[name]
	if !ok {
		return openai.ModelNotFound(name)
	}
	writeJSON(w, http.StatusOK, openai.NewModelList(map[string]string{name: fm}, h.now()).Data[0])
	return nil
}

// modelsFor maps the names caller may use (foundation-model ids and aliases) to the model each serves.
func (h *Handler) modelsFor(caller *Caller) map[string]string {
	models, aliases := h.deps.Router.Models()
	names := map[string]string{}
	for _, m := range models {
		if caller.Allows(m, m) {
			names[m] = m
		}
	}
	for a, fm := range aliases {
		if caller.Allows(a, fm) {
			names[a] = fm
		}
	}
	return names
}

// openAICaller authenticates r, answering OpenAI's 401 for a missing or unknown key.
func (h *Handler) openAICaller(r *http.Request, x *exchange) (*Caller, error) {
	caller, err := h.Authenticate(r)
	if err != nil {
		_, sent := bearerToken(r.Header.Get("Authorization"))
		return nil, openai.Unauthorized(!sent)
	}
	x.key = caller.Name
	return caller, nil
}

// chatCompletions serves POST /v1/chat/completions.
func (h *Handler) chatCompletions(w http.ResponseWriter, r *http.Request, x *exchange) error {
	x.op = "chat.completions"
	caller, err := h.openAICaller(r, x)
	if err != nil {
		return err
	}
	body, err := h.readBody(w, r, x)
	if err != nil {
		return err
	}
	req, err := openai.ParseRequest(body)
	if err != nil {
		return err
	}
	x.asked = req.Model
	fm, err := h.deps.Router.Resolve(req.Model)
	if err != nil {
		return openai.ModelNotFound(req.Model)
	}
	x.model = fm
	if !caller.Allows(req.Model, fm) {
		return openai.ModelNotAllowed(req.Model)
	}
	if err := h.admit(x, caller, fm, req.Body, req.MaxTokens); err != nil {
		return err
	}
	ctx := r.Context()
	if d := h.deps.Options.RequestTimeout; d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	op := upstream.OpConverse
	if req.Stream {
		op = upstream.OpConverseStream
	}
	meta := openai.NewMeta(req.Model, h.now())
	res, err := h.deps.Router.Do(ctx, &router.Request{Op: op, Model: req.Model, Body: req.Body,
		Header: http.Header{"Content-Type": {"application/json"}}, MaxTokens: req.MaxTokens, Key: caller.Name, Group: h.groupOf(caller)})
	if err != nil {
		if r.Context().Err() != nil {
			return r.Context().Err()
		}
		return err
	}
	x.noteAttempts(res.Attempts)
	setAttemptHeaders(w.Header(), res.Attempts)
	if id := res.Response.Header.Get("X-Amzn-Requestid"); id != "" {
		w.Header().Set("X-Request-Id", id)
	}
	if res.Stream != nil {
		return h.writeChunks(ctx, w, res.Stream, openai.NewStream(meta, req.IncludeUsage), x)
	}
	x.usage = res.Usage
	c, err := openai.Completion(res.Body, meta)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

// writeChunks answers a stream as server-sent events, flushing after each upstream event, and ends it with
// [DONE]; a failure after the first event goes out as an {"error":...} event instead, as OpenAI sends it.
func (h *Handler) writeChunks(ctx context.Context, w http.ResponseWriter, s *router.Stream, m *openai.Stream, x *exchange) error {
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
		e := openAIError(err)
		x.code = e.Code
		_ = openai.WriteEvent(w, e)
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
		if err != nil {
			return fail(err)
		}
		chunks, err := m.Parsed(s.Parsed())
		if err != nil {
			return fail(err)
		}
		for i := range chunks {
			if err := openai.WriteEvent(w, &chunks[i]); err != nil {
				x.status, x.code = statusClientClosed, "ClientClosedRequest"
				return nil
			}
		}
		// Flushed once no next frame is in hand: chunks that arrived together leave together.
		unflushed = unflushed || len(chunks) > 0
		if unflushed && !s.Pending() {
			_ = rc.Flush()
			unflushed = false
		}
	}
	_, _ = io.WriteString(w, openai.Done)
	_ = rc.Flush()
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
