package sandbox

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Fault is an injected failure of Bedrock Runtime requests (Service "" or "bedrock") or STS requests (Service
// "sts"). Faults apply to authenticated requests: an STS fault right after the signature is checked, a
// Bedrock fault after the model id, permissions and body are too, so that a faulted Bedrock request is one
// that would otherwise have succeeded. A request matches when every non-empty filter does. Count fails the
// next N matching requests (FailNext uses 1); with Count 0, Rate fails each matching request with that
// probability (deterministic sequence), and Rate 0 with Count 0 fails every one until ClearFaults. For
// removes any of these that long after AddFault, by the sandbox's clock (WithClock).
//
// What the client sees:
//   - Code: an error answer in the service's shape. Bedrock: a JSON error with the status the service model
//     gives the code (ThrottlingException 429, ServiceUnavailableException 503, ...), which the SDK returns
//     as its typed exception. STS: STS's XML ErrorResponse, Throttling 400, ServiceUnavailable 503 or
//     InternalFailure 500.
//   - Drop without AfterEvents: the connection is closed without an answer, as when the service is
//     unreachable; the client's transport reports the closed connection (EOF), and there is no HTTP status.
//   - AfterEvents (stream operations only: ConverseStream, InvokeModelWithResponseStream): the stream starts
//     (HTTP 200) and sends that many events, then: with Code, an exception frame of Code, which the SDK's
//     stream returns from Err(); with Drop, the connection is dropped, so the chunked body ends without its
//     terminator; with EndEarly, the response ends cleanly at a frame boundary, without an exception frame and
//     without the stream's terminal events (ConverseStream's messageStop and metadata, the last chunk of
//     InvokeModelWithResponseStream, the one carrying amazon-bedrock-invocationMetrics), so the SDK's stream
//     ends with no error. A stream with fewer events than AfterEvents is cut all the same, before its last
//     event (with EndEarly, before its terminal events), so that a cut stream never looks complete.
//   - Corrupt with AfterEvents: the stream sends that many events, then one whose payload has a flipped byte
//     (its message CRC fails), then the rest; the SDK's stream fails at the damaged frame.
//   - Delay: the answer (or the failure) is held back; alone, it only slows requests down.
type Fault struct {
	// Service is the service whose requests fail: "bedrock" (or "") or "sts".
	Service string `json:"service,omitempty"`
	// Code is the error. Bedrock: ThrottlingException, ServiceUnavailableException, InternalServerException,
	// ModelNotReadyException, ModelTimeoutException, ModelStreamErrorException, ..., one the operation
	// declares in Bedrock Runtime's service model (see bedrockOperations), since the SDKs parse only those
	// into typed exceptions; with AfterEvents, one of the exception events of the operation's stream union
	// (ConverseStream's has no modelTimeoutException, for one). A fault without Operation applies only to the
	// operations that declare its code, and is refused when none does. STS: Throttling, ServiceUnavailable or
	// InternalFailure. Empty with Drop, EndEarly or Delay.
	Code    string  `json:"code"`
	Message string  `json:"message,omitempty"`
	Count   int     `json:"count,omitempty"`
	Rate    float64 `json:"rate,omitempty"`
	// Filters.
	Account string `json:"account,omitempty"` // the calling principal's account
	Region  string `json:"region,omitempty"`  // the region the request is signed for
	Model   string `json:"model,omitempty"`   // Bedrock only: the id as called, or its foundation-model id
	// Operation is one of faultOperations: InvokeModel, InvokeModelWithResponseStream, Converse,
	// ConverseStream, CountTokens, ApplyGuardrail, StartAsyncInvoke, GetAsyncInvoke or ListAsyncInvokes for
	// Bedrock, AssumeRole or GetCallerIdentity for STS.
	Operation string `json:"operation,omitempty"`
	// Delay holds the response back before answering (or failing).
	Delay time.Duration `json:"-"`
	// DelayMillis is Delay for the JSON admin API.
	DelayMillis int `json:"delay_ms,omitempty"`
	// AfterEvents cuts a stream after that many events: with an exception frame of Code, by dropping the
	// connection when Drop is set, or by ending the response cleanly when EndEarly is set. Only stream
	// operations match a fault with AfterEvents.
	AfterEvents int `json:"after_events,omitempty"`
	// Drop closes the connection: mid-stream with AfterEvents, before any answer without it.
	Drop bool `json:"drop,omitempty"`
	// EndEarly, with AfterEvents, ends a stream cleanly before its terminal events.
	EndEarly bool `json:"end_early,omitempty"`
	// Corrupt, with AfterEvents, sends that event with one payload byte flipped, so that its message CRC does
	// not match (a frame damaged on the way), and the rest of the stream after it.
	Corrupt bool `json:"corrupt,omitempty"`
	// For removes the fault that long after AddFault installed it (zero: never).
	For time.Duration `json:"-"`
	// ForMillis is For for the JSON admin API.
	ForMillis int `json:"for_ms,omitempty"`
}

type faultState struct {
	Fault
	left  int       // for Count faults
	until time.Time // for For faults; zero: no end
}

const (
	faultBedrock = "bedrock"
	faultSTS     = "sts"
)

// Operations faults apply to, by service: for Bedrock, every operation of bedrockOperations the sandbox
// serves or is about to (InvokeModelWithBidirectionalStream is not emulated).
var faultOperations = map[string][]string{
	faultBedrock: {"InvokeModel", "InvokeModelWithResponseStream", "Converse", "ConverseStream", "CountTokens",
		"ApplyGuardrail", "StartAsyncInvoke", "GetAsyncInvoke", "ListAsyncInvokes"},
	faultSTS: {"AssumeRole", "GetCallerIdentity"},
}

func (f *Fault) service() string {
	if f.Service == "" {
		return faultBedrock
	}
	return f.Service
}

func (f *Fault) delay() time.Duration {
	if f.Delay > 0 {
		return f.Delay
	}
	return time.Duration(f.DelayMillis) * time.Millisecond
}

func (f *Fault) activeFor() time.Duration {
	if f.For > 0 {
		return f.For
	}
	return time.Duration(f.ForMillis) * time.Millisecond
}

func (f *Fault) message() string {
	if f.Message != "" {
		return f.Message
	}
	if f.service() == faultSTS {
		return stsFaultErrors[f.Code].Message
	}
	return defaultMessage(f.Code)
}

// answer is the error a request failed with f.Code gets, with the service's status for the code.
func (f *Fault) answer() *awsError {
	if f.service() == faultSTS {
		return newError(stsFaultErrors[f.Code].Status, f.Code, "%s", f.message())
	}
	return bedrockError(f.Code, "%s", f.message())
}

// validate reports every problem of the fault at once, each naming the field.
func (f *Fault) validate() error {
	var errs []string
	add := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	svc := f.service()
	ops, known := faultOperations[svc]
	if !known {
		add(`service %q: want "bedrock" (the default) or "sts"`, f.Service)
	}
	if f.Code == "" && f.delay() == 0 && !f.Drop && !f.EndEarly && !f.Corrupt {
		add("a fault needs a code, a delay, drop, end_early or corrupt")
	}
	switch {
	case f.Code == "" || !known:
	case svc == faultSTS:
		if _, ok := stsFaultErrors[f.Code]; !ok {
			add("code %q: STS faults take Throttling, ServiceUnavailable or InternalFailure", f.Code)
		}
	case !strings.HasSuffix(f.Code, "Exception"):
		if _, ok := stsFaultErrors[f.Code]; ok {
			add(`code %q is an STS error code: set service "sts" to fail STS requests, or use a Bedrock code (ThrottlingException, ...)`, f.Code)
		} else {
			add("code %q: Bedrock error codes end in Exception (ThrottlingException, ServiceUnavailableException, ...)", f.Code)
		}
	case bedrockErrorStatus[f.Code] == 0:
		add("code %q: no Bedrock Runtime operation declares it, so no SDK would parse it into a typed error; "+
			"the service model declares %s (authentication errors such as UnrecognizedClientException or "+
			"ExpiredTokenException come from the sandbox's own checks: ForgetSessions, ExpireSessions)", f.Code, strings.Join(slices.Sorted(maps.Keys(bedrockErrorStatus)), ", "))
	default:
		f.validateDeclared(add, ops)
	}
	if f.Operation != "" && known && !slices.Contains(ops, f.Operation) {
		add("operation %q: %s faults apply to %s", f.Operation, svc, strings.Join(ops, ", "))
	}
	if svc == faultSTS {
		if f.Model != "" {
			add("model %q: STS requests name no model (model filters Bedrock faults)", f.Model)
		}
		if f.AfterEvents != 0 || f.EndEarly {
			add("after_events and end_early cut Bedrock streams, and STS answers are not streams")
		}
	}
	if f.AfterEvents < 0 {
		add("after_events %d is negative", f.AfterEvents)
	}
	if f.AfterEvents > 0 && svc == faultBedrock && slices.Contains(ops, f.Operation) && !bedrockOperations[f.Operation].stream() {
		add("after_events cuts streams: operation %s is not a stream (use %s)", f.Operation, strings.Join(streamOperations(ops), " or "))
	}
	if f.Drop && f.EndEarly {
		add("drop and end_early are two ends of a stream: a dropped connection or a clean early end, not both")
	}
	if f.Corrupt && (f.AfterEvents == 0 || f.Drop || f.EndEarly || f.Code != "") {
		add("corrupt damages the event after_events names, and takes nothing else: set after_events, and no code, drop or end_early")
	}
	if f.EndEarly && f.AfterEvents == 0 {
		add("end_early needs after_events: the number of events sent before the stream ends")
	}
	if f.EndEarly && f.Code != "" {
		add("end_early sends no exception frame: remove code %q, or remove end_early to cut the stream with it", f.Code)
	}
	if f.Drop && f.AfterEvents == 0 && f.Code != "" {
		add("drop without after_events closes the connection before any answer, so code %q is never sent: remove code, or set after_events to drop a stream mid-way", f.Code)
	}
	if f.Count < 0 {
		add("count %d is negative", f.Count)
	}
	if f.Rate < 0 || f.Rate > 1 {
		add("rate %v is outside 0..1", f.Rate)
	}
	if f.Count > 0 && f.Rate > 0 {
		add("count and rate are alternatives: count fails the next N matching requests, rate a share of them")
	}
	if f.Delay < 0 || f.DelayMillis < 0 {
		add("delay is negative")
	}
	if f.For < 0 || f.ForMillis < 0 {
		add("for_ms is negative")
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid fault: %s", strings.Join(errs, "; "))
	}
	return nil
}

// validateDeclared checks a Bedrock fault's code against what the operations it can match declare: its
// Operation, or with none every operation of ops (the stream operations, with AfterEvents). A code that the
// operation does not declare would reach boto3 or the Go SDK as an error they cannot type (an exception
// frame outside the stream union even as an empty code), which Bedrock never sends.
func (f *Fault) validateDeclared(add func(string, ...any), ops []string) {
	mid := f.AfterEvents > 0
	if f.Operation != "" {
		if !slices.Contains(ops, f.Operation) || mid && !bedrockOperations[f.Operation].stream() {
			return // said elsewhere
		}
		if declares(f.Operation, f.Code, mid) {
			return
		}
		if mid {
			add("code %q with after_events: operation %s's stream does not declare it in Bedrock Runtime's service model (its exception events: %s)", f.Code, f.Operation, declaredList(f.Operation, true))
		} else {
			add("code %q: operation %s does not declare it in Bedrock Runtime's service model (it declares %s)", f.Code, f.Operation, declaredList(f.Operation, false))
		}
		return
	}
	if mid {
		streams := streamOperations(ops)
		if len(declaredBy(streams, f.Code, true)) == 0 {
			texts := make([]string, len(streams))
			for i, op := range streams {
				texts[i] = op + "'s: " + declaredList(op, true)
			}
			add("code %q with after_events: no stream declares it as an exception event (%s)", f.Code, strings.Join(texts, "; "))
		}
		return
	}
	if len(declaredBy(ops, f.Code, false)) == 0 {
		add("code %q: none of %s declares it in Bedrock Runtime's service model", f.Code, strings.Join(ops, ", "))
	}
}

// AddFault installs a fault, or says what is wrong with it.
func (s *Sandbox) AddFault(f Fault) error {
	if err := f.validate(); err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	st := &faultState{Fault: f, left: f.Count}
	s.mu.Lock()
	if d := f.activeFor(); d > 0 {
		st.until = s.clock().Add(d)
	}
	s.faults = append(s.faults, st)
	s.mu.Unlock()
	return nil
}

// FailNext makes the next f.Count (default 1) matching requests fail with f.Code. It panics on an invalid
// fault: it is meant for tests, where that is a bug in the test.
func (s *Sandbox) FailNext(f Fault) {
	if f.Count == 0 {
		f.Count = 1
	}
	if err := s.AddFault(f); err != nil {
		panic(err)
	}
}

// ClearFaults removes every fault.
func (s *Sandbox) ClearFaults() {
	s.mu.Lock()
	s.faults = nil
	s.mu.Unlock()
}

// takeFault returns the first fault that applies to a request of svc ("bedrock" or "sts"), consuming one
// use of it. Faults past their For are removed first. A Bedrock handler calls it with the operation's name
// in faultOperations and bedrockOperations, e.g. s.takeFault(faultBedrock, "ApplyGuardrail", ...).
func (s *Sandbox) takeFault(svc, op, acct, region, calledID, modelID string, stream bool) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	s.faults = slices.DeleteFunc(s.faults, func(f *faultState) bool { return !f.until.IsZero() && !now.Before(f.until) })
	for i, f := range s.faults {
		if f.service() != svc || (f.Account != "" && f.Account != acct) || (f.Region != "" && f.Region != region) ||
			(f.Operation != "" && f.Operation != op) || (f.Model != "" && f.Model != calledID && f.Model != modelID) ||
			(f.AfterEvents > 0 && !stream) || (svc == faultBedrock && f.Code != "" && !declares(op, f.Code, f.AfterEvents > 0)) {
			// A fault without Operation fails only the operations that declare its code.
			continue
		}
		if f.Count > 0 {
			f.left--
			if f.left <= 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
			out := f.Fault
			return &out
		}
		if f.Rate > 0 && s.rng.Float64() >= f.Rate {
			continue
		}
		out := f.Fault
		return &out
	}
	return nil
}

// dropConnection closes the client's connection without an answer, as when a service is unreachable: the
// client's transport sees the connection closed before any response.
func dropConnection(w http.ResponseWriter) {
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		conn.Close()
		return
	}
	// A connection that cannot be hijacked (HTTP/2): the server resets the stream instead.
	panic(http.ErrAbortHandler)
}
