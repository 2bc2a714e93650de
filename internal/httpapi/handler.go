package httpapi

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/bedrock-relay/bedrock-relay/config"
	"github.com/bedrock-relay/bedrock-relay/router"
	"github.com/bedrock-relay/bedrock-relay/upstream"
)

// Defaults of Options.
const (
	// DefaultMaxBodyBytes is Bedrock Runtime's own limit on a request body.
	DefaultMaxBodyBytes = 25_000_000
	// DefaultBodyTimeout is how long a body may take to arrive.
	DefaultBodyTimeout = time.Minute
	// DefaultMaxBodyBytesInFlight caps the bodies held in memory at once: ten of Bedrock's largest.
	DefaultMaxBodyBytesInFlight = 256 << 20
)

// maxLogField bounds a caller-supplied string (a model id) in the access log.
const maxLogField = 256

// Deps is what the handler is built from.
type Deps struct {
	Router *router.Router
	// Auth is the relay config's auth section: mode keys (hashed API keys, each with its models) or none.
	Auth config.Auth
	// Logger receives problems (panics, unexpected errors); nil discards them.
	Logger *slog.Logger
	// AccessLog, if set, gets one line per request: op, model, key name, target, status, code, attempts,
	// latency and tokens. Never a prompt, a response or a key.
	AccessLog *slog.Logger
	// Metrics, if set, counts requests and latencies (NewMetrics on the admin registry).
	Metrics *Metrics
	// Accounting, if set, holds the keys' budgets and records usage (keys.go).
	Accounting *Accounting
	// Board, if set, counts requests and errors for the admin status page.
	Board   *StatusBoard
	Options Options
}

// Options tune the handler.
type Options struct {
	// RequestTimeout bounds one request across all its attempts, a stream's whole life included; 0: none.
	RequestTimeout time.Duration
	// MaxBodyBytes bounds a request body; 0: DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// BodyTimeout is how long a caller has, from the moment its request reaches the handler, to send the
	// whole body; a late one is answered 408 and the connection closed. 0: DefaultBodyTimeout.
	BodyTimeout time.Duration
	// MaxBodyBytesInFlight caps the bytes of request bodies held at once; a request that would go over it
	// is answered 503 with Retry-After. 0: DefaultMaxBodyBytesInFlight; negative: no cap.
	MaxBodyBytesInFlight int64
	// Clock is for tests; nil is time.Now.
	Clock func() time.Time
}

// Handler serves the relay's API. Build it with NewHandler; it is safe for concurrent use.
type Handler struct {
	deps Deps
	auth *Authenticator
	mux  *http.ServeMux
	now  func() time.Time
	// bodyBytes is the bytes of request bodies held now, against Options.MaxBodyBytesInFlight.
	bodyBytes atomic.Int64
}

// NewHandler builds the relay's API handler: the Bedrock Runtime wire API and, under /v1/, the
// OpenAI-compatible API, behind the same authentication.
func NewHandler(d Deps) *Handler {
	if d.Router == nil {
		panic("httpapi: NewHandler needs Deps.Router")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Options.MaxBodyBytes <= 0 {
		d.Options.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if d.Options.BodyTimeout <= 0 {
		d.Options.BodyTimeout = DefaultBodyTimeout
	}
	if d.Options.MaxBodyBytesInFlight == 0 {
		d.Options.MaxBodyBytesInFlight = DefaultMaxBodyBytesInFlight
	}
	auth := NewAuthenticator(d.Auth, d.Router.Resolve, d.Logger)
	h := &Handler{deps: d, auth: auth, mux: http.NewServeMux(), now: d.Options.Clock}
	if h.now == nil {
		h.now = time.Now
	}
	h.routes()
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// Authenticate finds the caller of r (see Authenticator.Authenticate): for API handlers added beside the
// Bedrock ones, so that every API shares the keys and their model lists.
func (h *Handler) Authenticate(r *http.Request) (*Caller, error) { return h.auth.Authenticate(r) }

// exchange is what one request did, filled in by its handler, for the access log and metrics.
type exchange struct {
	start     time.Time // when the handler got the request: the body's deadline runs from here
	bodyRead  bool      // the whole body was read (the connection can be kept)
	heldBody  int64     // bytes counted against Options.MaxBodyBytesInFlight, given back at the end
	api       string    // "bedrock", "openai"
	op        string    // invoke, converse-stream, ...
	asked     string    // the model as the caller named it
	model     string    // its foundation-model id, once resolved
	key       string    // the caller's key name
	target    string    // the target that answered (or last failed)
	attempts  int
	status    int
	code      string // the AWS error code ("" on success)
	firstByte time.Duration
	elapsed   time.Duration
	usage     upstream.Usage
	// metered is set for a request for a model (an invocation, not a count or a read), whose usage is
	// recorded; admission is what it reserved against its key's budgets.
	metered   bool
	admission *admission
}

// noteResult records a routed request's outcome.
func (x *exchange) noteAttempts(as []router.Attempt) {
	x.attempts = len(as)
	if len(as) > 0 {
		x.target = as[len(as)-1].Target
	}
}

// apiFunc is a handler that returns its error for the adapter to write.
type apiFunc func(w http.ResponseWriter, r *http.Request, x *exchange) error

// serve adapts an apiFunc: it times the request, turns a returned error (or a panic) into the API's error
// answer (shape) if nothing was written yet, and records the exchange in the metrics and the access log.
func (h *Handler) serve(api string, shape errorShape, f apiFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := h.now()
		done := h.deps.Metrics.begin()
		defer done()
		rw := &responseWriter{ResponseWriter: w, start: start, now: h.now}
		x := &exchange{api: api, start: start}
		defer func() { h.bodyBytes.Add(-x.heldBody) }()
		var err error
		func() {
			defer func() {
				if p := recover(); p != nil {
					if p == http.ErrAbortHandler {
						panic(p)
					}
					h.deps.Logger.Error("panic serving a request", "path", r.URL.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
					err = fmt.Errorf("panic: %v", p)
				}
			}()
			err = f(rw, r, x)
		}()
		if err != nil {
			a := shape(err)
			if a.internal != nil {
				h.deps.Logger.Error("request failed", "api", api, "op", x.op, "model", x.model, "error", a.internal.Error())
			}
			if len(a.attempts) > 0 {
				x.noteAttempts(a.attempts)
			}
			x.code = a.code
			if !rw.wrote {
				if !x.bodyRead && r.ContentLength != 0 {
					// Answer at once and close, rather than let net/http drain a body that may never come
					// (a keyless caller stalling its upload would otherwise hold the connection).
					rw.Header().Set("Connection", "close")
				}
				a.write(rw)
			}
			if a.status == statusClientClosed {
				x.status = statusClientClosed
			}
		}
		if x.status == 0 {
			x.status = rw.status
		}
		if x.status == 0 {
			x.status = http.StatusOK
		}
		x.firstByte = rw.firstByte
		x.elapsed = h.now().Sub(start)
		h.deps.Accounting.finish(x)
		h.deps.Metrics.observe(x)
		h.deps.Board.Observe(x.target, x.code, x.status)
		h.logAccess(r, x)
	})
}

func (h *Handler) logAccess(r *http.Request, x *exchange) {
	if h.deps.AccessLog == nil {
		return
	}
	model := x.model
	if model == "" {
		model = x.asked
	}
	model = cut(model, maxLogField)
	h.deps.AccessLog.LogAttrs(r.Context(), slog.LevelInfo, "request",
		slog.String("method", r.Method),
		slog.String("api", x.api),
		slog.String("op", x.op),
		slog.String("model", model),
		slog.String("key", x.key),
		slog.String("target", x.target),
		slog.Int("status", x.status),
		slog.String("code", x.code),
		slog.Int("attempts", x.attempts),
		slog.Float64("latency_ms", float64(x.elapsed.Microseconds())/1000),
		slog.Float64("first_byte_ms", float64(x.firstByte.Microseconds())/1000),
		slog.Int("input_tokens", x.usage.InputTokens),
		slog.Int("output_tokens", x.usage.OutputTokens),
	)
}

// responseWriter notes the status, whether anything was written, and when the first byte went out.
type responseWriter struct {
	http.ResponseWriter
	start     time.Time
	now       func() time.Time
	status    int
	wrote     bool
	firstByte time.Duration
}

func (w *responseWriter) WriteHeader(code int) {
	if !w.wrote {
		w.wrote, w.status = true, code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.wrote, w.status = true, http.StatusOK
	}
	if w.firstByte == 0 && len(p) > 0 {
		w.firstByte = w.now().Sub(w.start)
	}
	return w.ResponseWriter.Write(p)
}

// Flush sends what was written; a writer that cannot flush (the Lambda URL stream writes through) is fine.
func (w *responseWriter) Flush() {
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// setAttemptHeaders names the target that answered (or last failed) and, after a failover, how many were
// tried.
func setAttemptHeaders(h http.Header, as []router.Attempt) {
	if len(as) == 0 {
		return
	}
	h.Set("X-Bedrock-Relay-Target", as[len(as)-1].Target)
	if len(as) > 1 {
		h.Set("X-Bedrock-Relay-Attempts", strconv.Itoa(len(as)))
	}
}

func newRequestID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// cut shortens s to at most n bytes on a rune boundary, marking the cut.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// admit counts a request for model fm (resolved) of caller against its key's and group's budgets before it is
// routed (Accounting.admit), with the size of the Bedrock body it will send; the request's usage is
// recorded when it ends. maxTokens 0 reads max_tokens from body.
func (h *Handler) admit(x *exchange, caller *Caller, fm string, body []byte, maxTokens int) error {
	x.metered = true
	if maxTokens == 0 {
		maxTokens = router.ScanMaxTokens(body)
	}
	adm, err := h.deps.Accounting.admit(caller, fm, router.EstimateInputTokens(body), maxTokens)
	if err != nil {
		return err
	}
	x.admission = adm
	return nil
}
