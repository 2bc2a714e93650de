package sandbox

import (
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/arn"
)

// GuardrailSpec is a Bedrock guardrail of an account, as a scenario declares it. The sandbox's guardrails have
// one policy: a word list. A text that contains one of the words (case-insensitively, as a whole word) is
// blocked, and the guardrail answers with its blocked message instead of the model's text.
type GuardrailSpec struct {
	// ID is the guardrail's id (guardrailIdentifier, or the last part of its ARN
	// arn:aws:bedrock:REGION:ACCOUNT:guardrail/ID).
	ID string `yaml:"id" json:"id"`
	// Name is its name (shown in traces); default the id.
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// Versions it has: "DRAFT" and numbered versions ("1", "2"). Empty means DRAFT and 1.
	Versions []string `yaml:"versions,omitempty" json:"versions,omitempty"`
	// Regions it exists in; empty means every region.
	Regions []string `yaml:"regions,omitempty" json:"regions,omitempty"`
	// BlockedWords trigger an intervention (the word policy's custom words).
	BlockedWords []string `yaml:"blocked_words" json:"blocked_words"`
	// BlockedInputMessage and BlockedOutputMessage replace a blocked prompt's or answer's text.
	BlockedInputMessage  string `yaml:"blocked_input_message,omitempty" json:"blocked_input_message,omitempty"`
	BlockedOutputMessage string `yaml:"blocked_output_message,omitempty" json:"blocked_output_message,omitempty"`
}

const (
	defaultBlockedInput  = "Sorry, the model cannot answer this question."
	defaultBlockedOutput = "Sorry, the model cannot answer this question."
	msgInvalidGuardrail  = "The provided guardrail identifier is invalid."
)

func (g *GuardrailSpec) versions() []string {
	if len(g.Versions) == 0 {
		return []string{"DRAFT", "1"}
	}
	return g.Versions
}

func (g *GuardrailSpec) name() string {
	if g.Name != "" {
		return g.Name
	}
	return g.ID
}

func (g *GuardrailSpec) blockedMessage(source string) string {
	if source == "INPUT" {
		if g.BlockedInputMessage != "" {
			return g.BlockedInputMessage
		}
		return defaultBlockedInput
	}
	if g.BlockedOutputMessage != "" {
		return g.BlockedOutputMessage
	}
	return defaultBlockedOutput
}

// ARN is the guardrail's ARN in a region of an account.
func guardrailARN(partition, region, acct, id string) string {
	return "arn:" + partition + ":bedrock:" + region + ":" + acct + ":guardrail/" + id
}

// guardrail finds the guardrail an identifier (id or ARN) and version name in acct's region. It answers nil
// when there is none; callers choose the error their operation returns.
func (s *Sandbox) guardrail(acct, region, ident, version string) *GuardrailSpec {
	id := ident
	if a, err := arn.Parse(ident); err == nil {
		if a.Service != "bedrock" || a.AccountID != acct || a.Region != region {
			return nil
		}
		var ok bool
		if id, ok = strings.CutPrefix(a.Resource, "guardrail/"); !ok {
			return nil
		}
	}
	spec := s.scenario.Accounts[acct]
	if spec == nil {
		return nil
	}
	for i := range spec.Guardrails {
		g := &spec.Guardrails[i]
		if g.ID != id || (len(g.Regions) > 0 && !slices.Contains(g.Regions, region)) {
			continue
		}
		if version != "" && !slices.Contains(g.versions(), version) {
			return nil
		}
		return g
	}
	return nil
}

// blocked returns the guardrail's words that text contains, each once, in the order of the word list.
func (g *GuardrailSpec) blocked(text string) []string {
	words := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !(r == '-' || r == '_' || r == '\'' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r > 127)
	})
	var out []string
	for _, w := range g.BlockedWords {
		lw := strings.ToLower(w)
		if strings.Contains(lw, " ") {
			if strings.Contains(" "+strings.Join(words, " ")+" ", " "+lw+" ") {
				out = append(out, w)
			}
			continue
		}
		if slices.Contains(words, lw) {
			out = append(out, w)
		}
	}
	return out
}

// guardrailCheck is one guardrail's verdict on some texts: the words it found, the units it spent and how
// long it took. ApplyGuardrail answers it as assessments and usage, Converse and InvokeModel as a trace.
type guardrailCheck struct {
	Guardrail *GuardrailSpec
	Source    string   // INPUT or OUTPUT
	Matches   []string // blocked words found; empty: no intervention
	Units     int      // word-policy text units: one per started 1,000 characters
	Chars     int
}

// check assesses texts against the guardrail's word list.
func (g *GuardrailSpec) check(source string, texts ...string) guardrailCheck {
	c := guardrailCheck{Guardrail: g, Source: source}
	seen := map[string]bool{}
	for _, t := range texts {
		c.Chars += len([]rune(t))
		c.Units += (len([]rune(t)) + 999) / 1000
		for _, w := range g.blocked(t) {
			if !seen[w] {
				seen[w] = true
				c.Matches = append(c.Matches, w)
			}
		}
	}
	return c
}

// Intervened reports whether the guardrail blocks the texts.
func (c guardrailCheck) Intervened() bool { return len(c.Matches) > 0 }

// assessment is the check as a GuardrailAssessment (botocore's shape): the word policy's custom words found,
// and invocation metrics. With nothing found the word policy is left out, as Bedrock does.
func (c guardrailCheck) assessment() map[string]any {
	a := map[string]any{"invocationMetrics": map[string]any{
		"guardrailProcessingLatency": 1,
		"usage":                      c.usage(),
		"guardrailCoverage":          map[string]any{"textCharacters": map[string]any{"guarded": c.Chars, "total": c.Chars}},
	}}
	if c.Intervened() {
		words := make([]map[string]any, 0, len(c.Matches))
		for _, m := range c.Matches {
			words = append(words, map[string]any{"match": m, "action": "BLOCKED", "detected": true})
		}
		a["wordPolicy"] = map[string]any{"customWords": words, "managedWordLists": []any{}}
	}
	return a
}

// usage is the check's GuardrailUsage: only the word policy spends units here.
func (c guardrailCheck) usage() map[string]any {
	return map[string]any{
		"topicPolicyUnits": 0, "contentPolicyUnits": 0, "wordPolicyUnits": c.Units,
		"sensitiveInformationPolicyUnits": 0, "sensitiveInformationPolicyFreeUnits": 0,
		"contextualGroundingPolicyUnits": 0,
	}
}

// blockedText is what replaces the guarded text when the guardrail intervenes.
func (c guardrailCheck) blockedText() string { return c.Guardrail.blockedMessage(c.Source) }

// GuardrailID is the id of the guardrail DefaultScenario and PoolScenario give each Bedrock account: "gr" and
// the account id, so that a bare id names one account, as AWS's generated ids do. It has versions DRAFT and
// 1, exists in every region and blocks DefaultGuardrailWords.
func GuardrailID(account string) string { return "gr" + account }

// DefaultGuardrailWords are the words the default scenario's guardrails block.
var DefaultGuardrailWords = []string{"forbidden", "top secret"}

func defaultGuardrail(account string) GuardrailSpec {
	return GuardrailSpec{ID: GuardrailID(account), Name: "sandbox-guardrail", BlockedWords: slices.Clone(DefaultGuardrailWords)}
}

// guardrailsAndAsync is the default scenario's policy for a Bedrock account's role beside invoking: applying
// the account's guardrails, and reading its asynchronous invocations (StartAsyncInvoke needs only
// bedrock:InvokeModel on the model, which BedrockInvoke allows).
func guardrailsAndAsync(account string) PolicyText {
	return PolicyText(`{"Version":"2012-10-17","Statement":[` +
		`{"Effect":"Allow","Action":"bedrock:ApplyGuardrail","Resource":"arn:aws:bedrock:*:` + account + `:guardrail/*"},` +
		`{"Effect":"Allow","Action":["bedrock:GetAsyncInvoke","bedrock:ListAsyncInvokes"],"Resource":"*"}]}`)
}
