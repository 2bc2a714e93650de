package catalog

import (
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

//go:embed catalog.yaml
var defaultData []byte

// ErrUnknownGeography is returned for a profile prefix the catalogue has no destination regions for.
var ErrUnknownGeography = errors.New("unknown inference profile geography")

// ErrUnknownModel is returned for a foundation-model id the catalogue does not list.
var ErrUnknownModel = errors.New("unknown model")

// Geography is one system inference profile prefix and where it routes.
type Geography struct {
	Prefix             string   `yaml:"-"`
	Partition          string   `yaml:"partition"`
	Global             bool     `yaml:"global"`
	SourceRegions      []string `yaml:"source_regions"`
	DestinationRegions []string `yaml:"destination_regions"`
}

// Model is a foundation model.
type Model struct {
	ID              string `yaml:"id"`
	Name            string `yaml:"name"`
	Provider        string `yaml:"provider"`
	Family          string `yaml:"family"` // request body dialect: anthropic-messages, amazon-nova
	OutputBurndown  int    `yaml:"output_burndown"`
	MaxOutputTokens int    `yaml:"max_output_tokens"`
	// OnDemandRegions are the regions where the foundation-model id itself may be invoked. Empty means the
	// model is only served through inference profiles.
	OnDemandRegions []string `yaml:"on_demand_regions"`
	// Profiles maps a geography prefix to the destination regions of that model's profile; nil means the
	// geography's default destinations.
	Profiles map[string][]string `yaml:"profiles"`
	// Source says where the entry's ids come from: "AWS docs", or a client's model table (Claude Code's),
	// which is a client's view, not AWS's word.
	Source string `yaml:"source"`
	// AnthropicVersions and AnthropicBetas add to the anthropic tables (catalog.yaml's anthropic section) for
	// this model: for models added from a relay config, which has no rows of its own.
	AnthropicVersions []string `yaml:"anthropic_versions"`
	AnthropicBetas    []string `yaml:"anthropic_betas"`
	// PromptCache is how the model caches prompt prefixes marked with cache points; nil means it does not,
	// and Bedrock refuses cache points for it.
	PromptCache *PromptCache `yaml:"prompt_cache"`
}

// PromptCache is a model's explicit prompt caching on Bedrock, as AWS's prompt-caching page tables it.
type PromptCache struct {
	// MinTokens is the minimum number of tokens per cache checkpoint: a shorter prefix is not cached.
	MinTokens int `yaml:"min_tokens"`
	// MaxPoints is the maximum number of cache checkpoints per request.
	MaxPoints int `yaml:"max_points"`
	// TTLs are the cache lifetimes a checkpoint may ask for ("5m", "1h"); the first is the default.
	TTLs []string `yaml:"ttls"`
	// Fields are the request fields that accept checkpoints: system, messages, tools.
	Fields []string `yaml:"fields"`
	// Source says where the numbers come from.
	Source string `yaml:"source"`
}

// ProfileOnly reports whether calling the foundation-model id directly is refused with the on-demand
// ValidationException.
func (m Model) ProfileOnly() bool { return len(m.OnDemandRegions) == 0 }

// Catalog is a parsed catalogue.
type Catalog struct {
	Geographies map[string]Geography `yaml:"geographies"`
	Models      []Model              `yaml:"models"`
	// Anthropic is the compatibility table of the Anthropic models (compat.go).
	Anthropic AnthropicTable `yaml:"anthropic"`
	// ConverseRows are the rows of what Converse's additionalModelRequestFields may hold (fields.go).
	ConverseRows []ConverseFieldRow `yaml:"converse_fields"`
	byID         map[string]int
	compat       map[string]Compat
	fields       map[string][]string
}

var (
	defaultOnce sync.Once
	defaultCat  *Catalog
)

// Default returns the embedded catalogue.
func Default() *Catalog {
	defaultOnce.Do(func() {
		c, err := Parse(defaultData)
		if err != nil {
			panic("catalog: embedded catalog.yaml is invalid: " + err.Error())
		}
		defaultCat = c
	})
	return defaultCat
}

// Parse reads a catalogue in the catalog.yaml format.
func Parse(data []byte) (*Catalog, error) {
	var c Catalog
	if err := yaml.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("parse catalog: %w", err)
	}
	if err := c.index(); err != nil {
		return nil, fmt.Errorf("parse catalog: %w", err)
	}
	return &c, nil
}

// index fills in defaults, checks the references between the sections and builds the lookup tables.
func (c *Catalog) index() error {
	c.byID = make(map[string]int, len(c.Models))
	for prefix, g := range c.Geographies {
		g.Prefix = prefix
		if g.Partition == "" {
			g.Partition = "aws"
		}
		c.Geographies[prefix] = g
	}
	for i, m := range c.Models {
		if m.ID == "" {
			return fmt.Errorf("model %d has no id", i)
		}
		if _, dup := c.byID[m.ID]; dup {
			return fmt.Errorf("model %s is listed twice", m.ID)
		}
		if m.OutputBurndown == 0 {
			c.Models[i].OutputBurndown = 1
		}
		for prefix := range m.Profiles {
			if _, ok := c.Geographies[prefix]; !ok {
				return fmt.Errorf("model %s names geography %q that is not listed", m.ID, prefix)
			}
		}
		c.byID[m.ID] = i
	}
	if err := c.indexCompat(); err != nil {
		return err
	}
	return c.indexFields()
}

// With is a copy of c with models added: a model whose id c already lists replaces that entry, any other is
// appended. It is how a relay config extends the catalogue without a release. Each model must name its
// provider and request-body family, be callable somewhere (on_demand_regions or profiles of a listed
// geography) and name only API versions the anthropic table lists; every problem is reported, one per line.
func (c *Catalog) With(models []Model) (*Catalog, error) {
	out := &Catalog{Geographies: make(map[string]Geography, len(c.Geographies)), Models: slices.Clone(c.Models), Anthropic: c.Anthropic,
		ConverseRows: c.ConverseRows}
	for k, v := range c.Geographies {
		out.Geographies[k] = v
	}
	var errs []error
	seen := map[string]bool{}
	for i, m := range models {
		at := fmt.Sprintf("models[%d]", i)
		if m.ID != "" {
			at = fmt.Sprintf("models[%d] (%s)", i, m.ID)
		}
		bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(at+": "+format, args...)) }
		switch {
		case m.ID == "":
			bad("id: required, a foundation-model id such as anthropic.claude-opus-4-7")
		case strings.HasPrefix(m.ID, "arn:") || strings.ContainsAny(m.ID, "/ \t\n"):
			bad("id %q: want a foundation-model id, not an ARN or a path", m.ID)
		default:
			if _, _, isProfile := SplitProfileID(m.ID); isProfile {
				bad("id %q is an inference profile id; give the foundation-model id and list the geography under profiles", m.ID)
			}
		}
		if seen[m.ID] {
			bad("listed twice")
		}
		seen[m.ID] = true
		if m.Provider == "" {
			bad("provider: required, e.g. anthropic")
		}
		if m.Family != FamilyAnthropic && m.Family != FamilyNova {
			bad("family %q: want %s or %s (the request body dialect)", m.Family, FamilyAnthropic, FamilyNova)
		}
		if m.MaxOutputTokens < 0 || m.OutputBurndown < 0 {
			bad("max_output_tokens and output_burndown: want numbers >= 0")
		}
		if len(m.OnDemandRegions) == 0 && len(m.Profiles) == 0 {
			bad("list on_demand_regions or profiles: where the model can be called")
		}
		for prefix := range m.Profiles {
			if _, ok := c.Geographies[prefix]; !ok {
				bad("profiles.%s: not a geography of the catalogue (known: %s)", prefix, strings.Join(c.Prefixes(), ", "))
			}
		}
		if (len(m.AnthropicVersions) > 0 || len(m.AnthropicBetas) > 0) && m.Family != FamilyAnthropic {
			bad("anthropic_versions and anthropic_betas apply to family %s only", FamilyAnthropic)
		}
		for _, v := range m.AnthropicVersions {
			if _, ok := c.Anthropic.version(v); !ok {
				bad("anthropic_versions: %q is not a version of the anthropic table (known: %s)", v, strings.Join(c.Anthropic.versionNames(), ", "))
			}
		}
		for _, b := range m.AnthropicBetas {
			if b == "" || strings.ContainsAny(b, " ,\"") {
				bad("anthropic_betas: %q is not a beta flag such as interleaved-thinking-2025-05-14", b)
			}
		}
		if m.Source == "" {
			m.Source = "relay config"
		}
		if j := slices.IndexFunc(out.Models, func(o Model) bool { return o.ID == m.ID }); j >= 0 {
			out.Models[j] = m
		} else {
			out.Models = append(out.Models, m)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := out.index(); err != nil {
		return nil, err
	}
	return out, nil
}

// The request-body dialects of Model.Family.
const (
	FamilyAnthropic = "anthropic-messages"
	FamilyNova      = "amazon-nova"
)

// Model returns the foundation model with this id.
func (c *Catalog) Model(id string) (Model, bool) {
	i, ok := c.byID[id]
	if !ok {
		return Model{}, false
	}
	return c.Models[i], true
}

// Geography returns the geography for a profile prefix such as "jp" (without the dot).
func (c *Catalog) Geography(prefix string) (Geography, bool) {
	g, ok := c.Geographies[prefix]
	return g, ok
}

// Prefixes lists the known geography prefixes, sorted.
func (c *Catalog) Prefixes() []string {
	out := make([]string, 0, len(c.Geographies))
	for p := range c.Geographies {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Profile is a resolved system inference profile: a geography serving one foundation model.
type Profile struct {
	ID                 string // "jp.anthropic.claude-sonnet-4-5-20250929-v1:0"
	Geography          Geography
	Model              Model
	DestinationRegions []string
}

// Profile resolves a system inference profile id. It fails with ErrUnknownGeography for a prefix the catalogue
// does not know and ErrUnknownModel for a model it does not list, or a model not offered in that geography.
func (c *Catalog) Profile(profileID string) (Profile, error) {
	prefix, modelID, ok := SplitProfileID(profileID)
	if !ok {
		return Profile{}, fmt.Errorf("%q is not a system inference profile id (<geography>.<model id>)", profileID)
	}
	g, ok := c.Geographies[prefix]
	if !ok {
		return Profile{}, fmt.Errorf("%w %q in %s (known: %s); pass the destination regions explicitly",
			ErrUnknownGeography, prefix+".", profileID, strings.Join(c.Prefixes(), ", "))
	}
	m, ok := c.Model(modelID)
	if !ok {
		return Profile{}, fmt.Errorf("%w %s", ErrUnknownModel, modelID)
	}
	dests, offered := m.Profiles[prefix]
	if !offered {
		return Profile{}, fmt.Errorf("%w: %s has no %s. inference profile", ErrUnknownModel, modelID, prefix)
	}
	if dests == nil {
		dests = g.DestinationRegions
	}
	return Profile{ID: profileID, Geography: g, Model: m, DestinationRegions: slices.Clone(dests)}, nil
}

// SplitProfileID splits "jp.anthropic.claude-..." into ("jp", "anthropic.claude-...") when the first label is a
// geography-shaped prefix followed by a provider-qualified model id. It does not consult the catalogue, so
// unknown prefixes still split (and then fail in Profile with a helpful error).
func SplitProfileID(id string) (prefix, modelID string, ok bool) {
	prefix, rest, found := strings.Cut(id, ".")
	if !found || prefix == "" || !strings.Contains(rest, ".") {
		return "", "", false
	}
	for _, p := range knownProviders {
		if prefix == p {
			return "", "", false // a foundation-model id such as "anthropic.claude-..."
		}
	}
	return prefix, rest, true
}

// knownProviders are the first labels of foundation-model ids; a label that is one of these is not a profile prefix.
var knownProviders = []string{"anthropic", "amazon", "meta", "mistral", "cohere", "ai21", "deepseek", "openai", "qwen", "writer", "twelvelabs", "stability", "luma"}

// ProfileFor is the system inference profile through which m is best called from region: the first
// geography (by prefix) whose source regions include region, a global one only if no geographic one does.
// callable is false when no profile of m can be called from region; id is then m's first profile, or "" if
// it has none.
func (c *Catalog) ProfileFor(m Model, region string) (id string, callable bool) {
	global, first := "", ""
	for _, prefix := range c.Prefixes() {
		if _, ok := m.Profiles[prefix]; !ok {
			continue
		}
		if first == "" {
			first = prefix + "." + m.ID
		}
		g, _ := c.Geography(prefix)
		if !slices.Contains(g.SourceRegions, region) {
			continue
		}
		if g.Global {
			if global == "" {
				global = prefix + "." + m.ID
			}
			continue
		}
		return prefix + "." + m.ID, true
	}
	if global != "" {
		return global, true
	}
	return first, false
}
