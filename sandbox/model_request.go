package sandbox

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/bedrock-relay/bedrock-relay/catalog"
)

// conversation is a request normalised from whichever dialect it came in (Anthropic Messages or Amazon Nova
// on InvokeModel, Converse), so that replies, token counts and quotas are computed once.
type conversation struct {
	System        string
	Messages      []turn // alternating user/assistant, text of each flattened
	MaxTokens     int
	StopSequences []string
	Temperature   *float64
	Tools         []toolSpec
	ToolChoice    string // "auto", "any", "tool:<name>", "none"
	Images        int    // count of image blocks (base64 data), validated

	// cache, tier (promptcache.go, tier.go); not part of the reply hash.
	Cache *cacheLayout `json:"-"` // the prompt's cache points, when it marks any
	Tier  tierEcho     `json:"-"` // performanceConfig / serviceTier (Converse) or their headers (InvokeModel)

	// thinking (thinking.go); not part of the reply hash.
	Thinking *thinkingSpec `json:"-"` // nil: the request does not think
}

type turn struct {
	Role        string
	Text        string
	ToolResults int
	ToolUses    int
}

type toolSpec struct {
	Name, Description string
	Schema            json.RawMessage
}

const (
	anthropicVersion = "bedrock-2023-05-31"
	// defaultMaxTokens is used when Converse (or a Nova body) does not set a maximum; Converse has no model
	// here, and every model in the catalogue allows at least this many.
	defaultMaxTokens = 4096
	maxStopSequences = 2500
)

const (
	familyAnthropic = "anthropic-messages"
	familyNova      = "amazon-nova"
)

var toolNamePattern = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// parseInvokeBody parses an InvokeModel (or InvokeModelWithResponseStream) body in the model's dialect.
func parseInvokeBody(m catalog.Model, body []byte) (conversation, *awsError) {
	switch m.Family {
	case familyAnthropic:
		return parseAnthropicBody(m, body)
	case familyNova:
		return parseNovaBody(m, body)
	}
	return conversation{}, validationException("The provided model doesn't support on-demand invocation of its request body format (%q).", m.Family)
}

// decodeRequestBody is the prologue every dialect shares: it decodes the request body's top-level JSON object,
// or refuses a body that is not valid JSON or not an object. InvokeModel bodies (schemaWording) are refused by
// Bedrock's JSON-schema validator; Converse and CountTokens bodies (coralWording) by the service model.
func decodeRequestBody(body []byte, wording bodyWording) (map[string]json.RawMessage, *awsError) {
	if !json.Valid(body) {
		if wording == schemaWording {
			return nil, malformedInput("#: body is not valid JSON")
		}
		return nil, validationException("Malformed request body: the body is not valid JSON.")
	}
	obj, ok := decodeObject(body)
	if !ok {
		if wording == schemaWording {
			return nil, malformedInput(fmt.Sprintf("#: expected type: JSONObject, found: %s", jsonKind(body)))
		}
		return nil, typeMismatch("the request body", "a JSON object", body)
	}
	return obj, nil
}

// bodyWording is how decodeRequestBody words its refusal.
type bodyWording int

const (
	schemaWording bodyWording = iota // "Malformed input request: #: ..." (Anthropic and Nova on InvokeModel)
	coralWording                     // "Malformed request body: ..." / "Invalid type for ..." (Converse, CountTokens)
)

// addBlocks parses a message's n content blocks with parse, whatever the dialect: it joins their text into
// t.Text, counts tool uses and results (named toolUse and toolResult in the dialect) and returns the images.
func (t *turn) addBlocks(n int, toolUse, toolResult string, parse func(j int) (text string, images int, kind string, err *awsError)) (int, *awsError) {
	var parts []string
	images := 0
	for j := 0; j < n; j++ {
		text, img, kind, err := parse(j)
		if err != nil {
			return 0, err
		}
		switch kind {
		case toolUse:
			t.ToolUses++
		case toolResult:
			t.ToolResults++
		}
		images += img
		if text != "" {
			parts = append(parts, text)
		}
	}
	t.Text = strings.Join(parts, "\n")
	return images, nil
}

// checkMaxTokens refuses a Converse request whose maximum is above the model's (parseConverseBody has no
// model; the caller applies this once it has resolved one).
func (c conversation) checkMaxTokens(m catalog.Model) *awsError {
	if m.MaxOutputTokens > 0 && c.MaxTokens > m.MaxOutputTokens {
		return validationException("The maximum tokens you requested exceeds the model limit of %d. Try again with a maximum tokens value that is lower than %d.",
			m.MaxOutputTokens, m.MaxOutputTokens)
	}
	return nil
}
