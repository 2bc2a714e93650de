package sandbox

import (
	"maps"
	"sort"
	"strings"
	"time"

	relay "github.com/bedrock-relay/bedrock-relay"
)

// Call is one recorded request.
type Call struct {
	Time         time.Time `json:"time"`
	RequestID    string    `json:"request_id,omitempty"`
	Service      string    `json:"service"`
	Operation    string    `json:"operation"`
	Principal    string    `json:"principal,omitempty"`
	Account      string    `json:"account,omitempty"`
	Region       string    `json:"region,omitempty"`
	ServedRegion string    `json:"served_region,omitempty"`
	Model        string    `json:"model,omitempty"`
	Target       string    `json:"target,omitempty"` // AssumeRole's role
	// Session and Tags are, for AssumeRole, the role session name asked for and the session tags passed
	// (whether or not STS granted them: see Outcome); for any other call by a role session, the calling
	// session's name and the tags it was issued with. Bedrock's cost and usage data and CloudTrail name the
	// calling session the same way (arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION).
	Session      string            `json:"session,omitempty"`
	Tags         map[string]string `json:"tags,omitempty"`
	Outcome      string            `json:"outcome"` // "ok" or the error code
	InputTokens  int               `json:"input_tokens,omitempty"`
	OutputTokens int               `json:"output_tokens,omitempty"`

	// Prompt cache tokens (promptcache.go); InputTokens counts neither.
	CacheReadInputTokens  int `json:"cache_read_input_tokens,omitempty"`
	CacheWriteInputTokens int `json:"cache_write_input_tokens,omitempty"`
}

// maxCalls bounds the recorded-call log; counters are kept in full.
const maxCalls = 2000

type stsKey struct{ Operation, Role, Outcome string }
type bedrockKey struct{ Account, Region, Model, Outcome string }

type stats struct {
	sts       map[stsKey]int
	bedrock   map[bedrockKey]int
	Throttles int
	// sessionTags are the session tags of the role sessions issued with some, by session ARN (the latest
	// AssumeRole of that ARN's): what the calls log reports for the session's calls, and the
	// aws:PrincipalTag/ keys of its requests.
	sessionTags map[string]map[string]string
}

func newStats() stats {
	return stats{sts: map[stsKey]int{}, bedrock: map[bedrockKey]int{}, sessionTags: map[string]map[string]string{}}
}

// Stats is a snapshot of the counters.
type Stats struct {
	STS       []STSCount     `json:"sts"`
	Bedrock   []BedrockCount `json:"bedrock"`
	Throttles int            `json:"throttles"`
}

// STSCount counts STS calls by operation, role (the assumed role for AssumeRole, the caller otherwise) and
// outcome.
type STSCount struct {
	Operation string `json:"operation"`
	Role      string `json:"role"`
	Outcome   string `json:"outcome"`
	Count     int    `json:"count"`
}

// BedrockCount counts Bedrock calls by account × region × model × outcome.
type BedrockCount struct {
	Account string `json:"account"`
	Region  string `json:"region"`
	Model   string `json:"model"`
	Outcome string `json:"outcome"`
	Count   int    `json:"count"`
}

// STSCalls counts STS calls of an operation ("" for any), whatever their outcome.
func (st Stats) STSCalls(op string) int {
	n := 0
	for _, c := range st.STS {
		if op == "" || c.Operation == op {
			n += c.Count
		}
	}
	return n
}

// BedrockCalls counts Bedrock calls by account and outcome ("" matches any; outcome "ok" or an error code).
func (st Stats) BedrockCalls(account, outcome string) int {
	n := 0
	for _, c := range st.Bedrock {
		if (account == "" || c.Account == account) && (outcome == "" || c.Outcome == outcome) {
			n += c.Count
		}
	}
	return n
}

// Stats returns the counters.
func (s *Sandbox) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := Stats{Throttles: s.stats.Throttles, STS: []STSCount{}, Bedrock: []BedrockCount{}}
	for k, n := range s.stats.sts {
		out.STS = append(out.STS, STSCount{k.Operation, k.Role, k.Outcome, n})
	}
	for k, n := range s.stats.bedrock {
		out.Bedrock = append(out.Bedrock, BedrockCount{k.Account, k.Region, k.Model, k.Outcome, n})
	}
	sort.Slice(out.STS, func(i, j int) bool {
		a, b := out.STS[i], out.STS[j]
		return a.Operation+a.Role+a.Outcome < b.Operation+b.Role+b.Outcome
	})
	sort.Slice(out.Bedrock, func(i, j int) bool {
		a, b := out.Bedrock[i], out.Bedrock[j]
		return a.Account+a.Region+a.Model+a.Outcome < b.Account+b.Region+b.Model+b.Outcome
	})
	return out
}

// Calls returns the most recent recorded calls, oldest first.
func (s *Sandbox) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

func (s *Sandbox) record(c Call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.Time = s.clock()
	if c.Service != "sts" || c.Operation != "AssumeRole" {
		if _, _, session, ok := splitSessionARN(c.Principal); ok {
			c.Session, c.Tags = session, s.stats.sessionTags[c.Principal]
		}
	}
	// Debug only (the sandbox command's -v): who called what and how it ended; never keys or bodies.
	s.log.Debug("request", "service", c.Service, "operation", c.Operation, "principal", c.Principal,
		"region", c.Region, "served_region", c.ServedRegion, "model", c.Model, "target", c.Target, "session", c.Session, "outcome", c.Outcome)
	switch c.Service {
	case "bedrock":
		s.stats.bedrock[bedrockKey{c.Account, c.Region, c.Model, c.Outcome}]++
	case "sts":
		role := c.Target
		if role == "" {
			role = c.Principal
		}
		s.stats.sts[stsKey{c.Operation, role, c.Outcome}]++
	}
	if len(s.calls) >= maxCalls {
		s.calls = append(s.calls[:0], s.calls[len(s.calls)-maxCalls/2:]...)
	}
	s.calls = append(s.calls, c)
}

func (s *Sandbox) recordSTS(op, principalARN, target, outcome string) {
	s.recordSTSCall(Call{Service: "sts", Operation: op, Principal: principalARN, Target: target, Outcome: outcome})
}

func (s *Sandbox) recordSTSCall(c Call) {
	if len(c.Principal) > 0 {
		if p := relay.AccountOf(c.Principal); p != "" {
			c.Account = p
		}
	}
	s.record(c)
}

// setSessionTags records the tags a role session was issued with (none forgets any an earlier session of the
// same ARN had). Callers hold s.mu.
func (s *Sandbox) setSessionTags(sessionARN string, tags map[string]string) {
	if len(tags) == 0 {
		delete(s.stats.sessionTags, sessionARN)
		return
	}
	s.stats.sessionTags[sessionARN] = maps.Clone(tags)
}

// splitSessionARN takes arn:PARTITION:sts::ACCOUNT:assumed-role/ROLE/SESSION apart.
func splitSessionARN(arn string) (account, role, session string, ok bool) {
	rest, found := strings.CutPrefix(arn, "arn:")
	if !found {
		return "", "", "", false
	}
	parts := strings.SplitN(rest, ":", 5) // partition, sts, "", account, assumed-role/ROLE/SESSION
	if len(parts) != 5 || parts[1] != "sts" {
		return "", "", "", false
	}
	res, found := strings.CutPrefix(parts[4], "assumed-role/")
	if !found {
		return "", "", "", false
	}
	role, session, ok = strings.Cut(res, "/")
	return parts[3], role, session, ok && session != ""
}
