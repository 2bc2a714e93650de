package sandbox

import (
	"fmt"
	"strings"
	"time"
)

// Fault is an injected failure. A request matches when every non-empty filter does. Count fails the next N
// matching requests (FailNext uses 1); with Count 0, Rate fails each matching request with that probability
// (deterministic sequence), and Rate 0 with Count 0 fails every one until ClearFaults.
type Fault struct {
	// Code is the error: ThrottlingException, ServiceUnavailableException, InternalServerException,
	// ModelNotReadyException, ModelTimeoutException, ModelStreamErrorException, ... Empty with Delay
	// only slows requests down.
	Code    string  `json:"code"`
	Message string  `json:"message,omitempty"`
	Count   int     `json:"count,omitempty"`
	Rate    float64 `json:"rate,omitempty"`
	// Filters.
	Account   string `json:"account,omitempty"`
	Region    string `json:"region,omitempty"`
	Model     string `json:"model,omitempty"`     // the id as called, or its foundation-model id
	Operation string `json:"operation,omitempty"` // InvokeModel, ConverseStream, ...
	// Delay holds the response back before answering (or failing).
	Delay time.Duration `json:"-"`
	// DelayMillis is Delay for the JSON admin API.
	DelayMillis int `json:"delay_ms,omitempty"`
	// AfterEvents cuts a stream after that many events: with an exception frame of Code, or by dropping
	// the connection when Drop is set. Only stream operations match a fault with AfterEvents.
	AfterEvents int  `json:"after_events,omitempty"`
	Drop        bool `json:"drop,omitempty"`
}

type faultState struct {
	Fault
	left int // for Count faults
}

func (f *Fault) delay() time.Duration {
	if f.Delay > 0 {
		return f.Delay
	}
	return time.Duration(f.DelayMillis) * time.Millisecond
}

func (f *Fault) message() string {
	if f.Message != "" {
		return f.Message
	}
	return defaultMessage(f.Code)
}

func (f *Fault) validate() error {
	if f.Code == "" && f.delay() == 0 {
		return fmt.Errorf("a fault needs a code or a delay")
	}
	if f.Code != "" && !strings.HasSuffix(f.Code, "Exception") {
		return fmt.Errorf("fault code %q: Bedrock error codes end in Exception (ThrottlingException, ServiceUnavailableException, ...)", f.Code)
	}
	if f.Drop && f.AfterEvents == 0 {
		return fmt.Errorf("drop needs after_events: the connection is dropped mid-stream")
	}
	if f.Rate < 0 || f.Rate > 1 {
		return fmt.Errorf("rate %v is outside 0..1", f.Rate)
	}
	return nil
}

// AddFault installs a fault.
func (s *Sandbox) AddFault(f Fault) error {
	if err := f.validate(); err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	s.mu.Lock()
	s.faults = append(s.faults, &faultState{Fault: f, left: f.Count})
	s.mu.Unlock()
	return nil
}

// FailNext makes the next f.Count (default 1) matching Bedrock requests fail with f.Code. It panics on an
// invalid fault: it is meant for tests, where that is a bug in the test.
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

// takeFault returns the first fault that applies to a request, consuming one use of it.
func (s *Sandbox) takeFault(op, acct, region, calledID, modelID string, stream bool) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if (f.Account != "" && f.Account != acct) || (f.Region != "" && f.Region != region) ||
			(f.Operation != "" && f.Operation != op) || (f.Model != "" && f.Model != calledID && f.Model != modelID) ||
			(f.AfterEvents > 0 && !stream) {
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
