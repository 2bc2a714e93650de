package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/bedrock-relay/bedrock-relay/router"
	"github.com/bedrock-relay/bedrock-relay/upstream"
)

// splitModelPath splits an escaped /model/{modelId}/{op} path. The id is unescaped after the split, so an
// ARN's %2F stays inside it; %3A and a raw ':' both work; an ARN sent with raw slashes works too, since the
// operation is the last segment.
func splitModelPath(escaped string) (modelID, op string, ok bool) {
	rest, found := strings.CutPrefix(escaped, "/model/")
	if !found {
		return "", "", false
	}
	i := strings.LastIndexByte(rest, '/')
	if i <= 0 {
		return "", "", false
	}
	id, err := url.PathUnescape(rest[:i])
	if err != nil || id == "" || strings.TrimSpace(id) != id {
		return "", "", false
	}
	return id, rest[i+1:], true
}

// serveModel serves POST /model/{modelId}/{op}: it checks the request, authenticates the caller, checks the
// key may call the model, routes the request and passes the answer on.
func (h *Handler) serveModel(w http.ResponseWriter, r *http.Request, x *exchange) error {
	modelID, op, ok := splitModelPath(r.URL.EscapedPath())
	spec, known := bedrockOps[op]
	if !ok || !known {
		return unknownOperation(r)
	}
	x.op, x.asked = op, modelID
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return &Error{Status: http.StatusMethodNotAllowed, Code: "UnknownOperationException",
			Message: "Bedrock Runtime operations take POST, not " + r.Method + "."}
	}
	caller, err := h.Authenticate(r)
	if err != nil {
		return err
	}
	x.key = caller.Name
	body, err := h.readBody(w, r, x)
	if err != nil {
		return err
	}
	if len(body) == 0 {
		return validationError("1 validation error detected: Value at 'body' failed to satisfy constraint: Member must not be null")
	}
	if err := checkJSON(r, body, spec.nativeBody); err != nil {
		return err
	}
	fm, err := h.deps.Router.Resolve(modelID)
	if err != nil {
		return err
	}
	x.model = fm
	if !caller.Allows(modelID, fm) {
		return notAllowed(caller, modelID)
	}
	if op != upstream.OpCountTokens { // counting tokens is free, and uses no quota
		if err := h.admit(x, caller, fm, body, 0); err != nil {
			return err
		}
	}
	ctx := r.Context()
	if d := h.deps.Options.RequestTimeout; d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	res, err := h.deps.Router.Do(ctx, &router.Request{Op: op, Model: modelID, Body: body, Header: r.Header, Key: caller.Name, Group: h.groupOf(caller)})
	if err != nil {
		if r.Context().Err() != nil {
			return r.Context().Err()
		}
		return err
	}
	x.noteAttempts(res.Attempts)
	if res.Stream != nil {
		return h.writeStream(ctx, w, r, res, x)
	}
	x.usage = res.Usage
	hdr := w.Header()
	copyResponseHeaders(hdr, res.Response.Header)
	setAttemptHeaders(hdr, res.Attempts)
	hdr.Set("Content-Length", strconv.Itoa(len(res.Body)))
	w.WriteHeader(res.Response.StatusCode)
	_, err = w.Write(res.Body)
	if err != nil && r.Context().Err() != nil {
		x.status, x.code = statusClientClosed, "ClientClosedRequest"
	}
	return nil
}

// readBody reads the body up to the limit, refusing a larger one before reading it when it says its length,
// within Options.BodyTimeout of the request's arrival, and within the cap on bodies held at once. A body of
// known length is read into one buffer of that size: one copy. Both APIs read their bodies here; a refusal is
// a *bodyError, which each API's adapter words.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request, x *exchange) ([]byte, error) {
	max := h.deps.Options.MaxBodyBytes
	if r.ContentLength > max {
		return nil, &bodyError{tooLarge: true, max: max}
	}
	if r.ContentLength > 0 && !h.holdBody(x, r.ContentLength) {
		return nil, &bodyError{busy: true}
	}
	// A caller trickling its body in is held to the body timeout, counted from the request's arrival. The
	// deadline is lifted once the body is in: net/http would cancel the request if it passed during a
	// stream. (A writer without deadlines, such as the Lambda URL's, has no slow callers to fear.)
	rc := http.NewResponseController(w)
	if rc.SetReadDeadline(x.start.Add(h.deps.Options.BodyTimeout)) == nil {
		defer rc.SetReadDeadline(time.Time{})
	}
	var body []byte
	var err error
	if n := r.ContentLength; n > 0 {
		body = make([]byte, n)
		_, err = io.ReadFull(r.Body, body)
		if err == io.ErrUnexpectedEOF || err == io.EOF {
			err = fmt.Errorf("the body ended after fewer bytes than its Content-Length: %w", err)
		}
	} else {
		body, err = io.ReadAll(&heldReader{r: http.MaxBytesReader(w, r.Body, max), h: h, x: x})
	}
	if err == nil {
		x.bodyRead = true
		return body, nil
	}
	// Declared only on the error path: errors.As takes their addresses, which moves them to the heap.
	var mbe *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &mbe):
		return nil, &bodyError{tooLarge: true, max: max}
	case errors.Is(err, errBodiesFull):
		return nil, &bodyError{busy: true}
	case errors.As(err, &ne) && ne.Timeout():
		return nil, &bodyError{late: true, timeout: h.deps.Options.BodyTimeout}
	case r.Context().Err() != nil:
		return nil, r.Context().Err()
	}
	return nil, &bodyError{max: max, err: err}
}

// holdBody counts n more bytes of bodies held, unless that goes over the cap.
func (h *Handler) holdBody(x *exchange, n int64) bool {
	limit := h.deps.Options.MaxBodyBytesInFlight
	if limit < 0 {
		return true
	}
	if h.bodyBytes.Add(n) > limit {
		h.bodyBytes.Add(-n)
		return false
	}
	x.heldBody += n
	return true
}

var errBodiesFull = errors.New("request bodies in flight at their cap")

// heldReader counts a body of unknown length against the cap as it arrives.
type heldReader struct {
	r io.Reader
	h *Handler
	x *exchange
}

func (hr *heldReader) Read(p []byte) (int, error) {
	n, err := hr.r.Read(p)
	if n > 0 && !hr.h.holdBody(hr.x, int64(n)) {
		return n, errBodiesFull
	}
	return n, err
}

// checkJSON refuses a body that is not JSON where Bedrock needs JSON: always for Converse and CountTokens,
// and for InvokeModel unless the caller says the body is something else (an image model's raw input).
func checkJSON(r *http.Request, body []byte, native bool) error {
	if native {
		if ct := r.Header.Get("Content-Type"); ct != "" {
			if mt, _, err := mime.ParseMediaType(ct); err == nil && mt != "application/json" && !strings.HasSuffix(mt, "+json") {
				return nil
			}
		}
	}
	if !json.Valid(body) {
		return validationError("The request body is not valid JSON.")
	}
	if !native {
		if t := bytes.TrimLeft(body, " \t\r\n"); len(t) == 0 || t[0] != '{' {
			return validationError("The request body must be a JSON object.")
		}
	}
	return nil
}

// copyResponseHeaders passes on the upstream headers a caller reads: the content type, the request id and
// every X-Amzn-Bedrock-* (token counts, invocation latency, a stream's content type, performance and tier).
func copyResponseHeaders(dst, src http.Header) {
	for k, v := range src {
		if k == "Content-Type" || k == "X-Amzn-Requestid" || strings.HasPrefix(k, "X-Amzn-Bedrock-") {
			dst[k] = v
		}
	}
}

// writeStream passes the event-stream frames on as they come, flushing each, until the stream ends, the
// caller goes away or the deadline passes. The stream is always closed (which settles its budget).
func (h *Handler) writeStream(ctx context.Context, w http.ResponseWriter, r *http.Request, res *router.Result, x *exchange) error {
	s := res.Stream
	defer func() {
		s.Close()
		x.usage = s.Usage()
	}()
	hdr := w.Header()
	copyResponseHeaders(hdr, s.Header())
	if hdr.Get("Content-Type") == "" {
		hdr.Set("Content-Type", "application/vnd.amazon.eventstream")
	}
	setAttemptHeaders(hdr, res.Attempts)
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	for {
		frame, err := s.Next()
		if err == io.EOF {
			return nil
		}
		if ctx.Err() != nil {
			// The upstream read was cut by the request's end, not by Bedrock.
			x.status, x.code = statusClientClosed, "ClientClosedRequest"
			if errors.Is(ctx.Err(), context.DeadlineExceeded) && r.Context().Err() == nil {
				// The caller is still there: tell it the stream was cut, with an exception its operation
				// declares (ConverseStream has no modelTimeoutException).
				typ := "modelTimeoutException"
				if x.op == upstream.OpConverseStream {
					typ = "modelStreamErrorException"
				}
				x.status, x.code = http.StatusOK, strings.ToUpper(typ[:1])+typ[1:]
				w.Write(upstream.ExceptionFrame(typ, "The relay's request timeout passed before the stream ended."))
			}
			return nil
		}
		if err != nil {
			x.code = "ModelStreamErrorException"
			w.Write(upstream.ExceptionFrame("modelStreamErrorException", "The upstream stream failed."))
			return nil
		}
		code := exceptionCode(s)
		if _, err := w.Write(frame); err != nil {
			x.status, x.code = statusClientClosed, "ClientClosedRequest"
			return nil
		}
		if code != "" || !s.Pending() {
			_ = rc.Flush()
		}
		if code != "" {
			// An exception ends a stream; the caller may hang up as soon as it has read it.
			x.code = code
			return nil
		}
	}
}

// exceptionCode is the error code of the frame s.Next just returned: "" for an event. The stream has read
// the frame's headers already; an exception, passed on or made up by the stream, is what ends it (Err).
func exceptionCode(s *router.Stream) string {
	err := s.Err()
	if err == nil {
		return ""
	}
	var ue *upstream.Error
	if errors.As(err, &ue) && ue.Code != "" {
		return ue.Code
	}
	return "ModelStreamErrorException"
}

// groupOf is the group of caller's key ("" for none, or without accounting), for router.Request: with
// attribution.session_per_key the key's session is tagged with it.
func (h *Handler) groupOf(caller *Caller) string {
	if h.deps.Accounting == nil {
		return ""
	}
	return h.deps.Accounting.Groups[caller.Name]
}
