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
}

// ProfileOnly reports whether calling the foundation-model id directly is refused with the on-demand
// ValidationException.
func (m Model) ProfileOnly() bool { return len(m.OnDemandRegions) == 0 }

// Catalog is a parsed catalogue.
type Catalog struct {
	Geographies map[string]Geography `yaml:"geographies"`
	Models      []Model              `yaml:"models"`
	byID        map[string]int
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
			return nil, fmt.Errorf("parse catalog: model %d has no id", i)
		}
		if m.OutputBurndown == 0 {
			c.Models[i].OutputBurndown = 1
		}
		for prefix := range m.Profiles {
			if _, ok := c.Geographies[prefix]; !ok {
				return nil, fmt.Errorf("parse catalog: model %s names geography %q that is not listed", m.ID, prefix)
			}
		}
		c.byID[m.ID] = i
	}
	return &c, nil
}

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
