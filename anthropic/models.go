package anthropic

import (
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/bedrock-relay/bedrock-relay/catalog"
)

// Models maps the model names of Anthropic's API (claude-sonnet-4-5-20250929, and aliases such as
// claude-sonnet-4-5 or claude-3-7-sonnet-latest) to Bedrock foundation-model ids. It is derived from model ids
// (the catalogue's and those a router serves), not written down, so a model added to catalog.yaml gets its
// Anthropic names without a change here.
type Models struct {
	names  map[string]string // Anthropic API name → foundation-model id
	claude map[string]bool   // foundation-model ids that take the Messages API body
}

// bedrockClaudeID splits a Claude foundation-model id into its Anthropic API name and Bedrock's version
// suffix: anthropic.claude-sonnet-4-5-20250929-v1:0 → claude-sonnet-4-5-20250929, "-v1:0". Newer ids may
// carry no suffix (anthropic.claude-opus-4-7).
var bedrockClaudeID = regexp.MustCompile(`^anthropic\.(claude-[a-z0-9][a-z0-9.-]*?)(-v(\d+)(?::\d+)?)?$`)

// dated splits an API name into its undated base and its snapshot date: claude-sonnet-4-5-20250929 →
// claude-sonnet-4-5, 20250929.
var dated = regexp.MustCompile(`^(claude-.+)-(\d{8})$`)

// majorOnly is a new-style base with no minor version (claude-sonnet-4), which Anthropic's alias names with
// "-0" (claude-sonnet-4-0).
var majorOnly = regexp.MustCompile(`^claude-[a-z]+-\d+$`)

// APIName is the Anthropic API name of a Bedrock Claude foundation-model id, if it is one.
func APIName(id string) (string, bool) {
	m := bedrockClaudeID.FindStringSubmatch(id)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// NewModels derives the names from cat's Messages-API models and from served, the foundation-model ids a
// router serves (which may include models the catalogue does not list). An undated alias (claude-sonnet-4-5,
// claude-sonnet-4-5-latest, claude-sonnet-4-0) names the newest snapshot of its base that is served, or the
// newest listed if none is. A base without a minor version is aliased only with "-0" (claude-sonnet-4-0).
func NewModels(cat *catalog.Catalog, served []string) *Models {
	ms := &Models{names: map[string]string{}, claude: map[string]bool{}}
	isServed := map[string]bool{}
	for _, id := range served {
		isServed[id] = true
	}
	var ids []string
	if cat != nil {
		for _, m := range cat.Models {
			if m.Family == catalog.FamilyAnthropic {
				ids = append(ids, m.ID)
			}
		}
	}
	for _, id := range served {
		if cat != nil {
			if _, listed := cat.Model(id); listed {
				continue
			}
		}
		if strings.HasPrefix(id, "anthropic.") {
			ids = append(ids, id)
		}
	}
	type snapshot struct {
		id, date string
		version  int
		served   bool
	}
	bases := map[string][]snapshot{}
	for _, id := range ids {
		ms.claude[id] = true
		m := bedrockClaudeID.FindStringSubmatch(id)
		if m == nil {
			continue
		}
		name := m[1]
		version := 0
		for _, c := range m[3] {
			version = version*10 + int(c-'0')
		}
		if prev, ok := ms.names[name]; !ok || preferID(id, prev, isServed) {
			ms.names[name] = id
		}
		base, date := name, ""
		if d := dated.FindStringSubmatch(name); d != nil {
			base, date = d[1], d[2]
		}
		bases[base] = append(bases[base], snapshot{id: id, date: date, version: version, served: isServed[id]})
	}
	baseNames := make([]string, 0, len(bases))
	for b := range bases {
		baseNames = append(baseNames, b)
	}
	slices.Sort(baseNames) // deterministic, should two bases ever claim one alias
	for _, base := range baseNames {
		snaps := bases[base]
		sort.Slice(snaps, func(i, j int) bool {
			a, b := snaps[i], snaps[j]
			if a.served != b.served {
				return a.served
			}
			if a.date != b.date {
				return a.date > b.date
			}
			if a.version != b.version {
				return a.version > b.version
			}
			return a.id < b.id
		})
		aliases := []string{base, base + "-latest"}
		if majorOnly.MatchString(base) {
			// claude-opus-4 alone could be read as the newest Opus 4.x; Anthropic's name for 4.0 is -4-0.
			aliases = []string{base + "-0"}
		}
		for _, a := range aliases {
			if _, taken := ms.names[a]; !taken { // a model's own name wins over an alias
				ms.names[a] = snaps[0].id
			}
		}
	}
	return ms
}

// preferID says whether id should name a dated API name over prev (the same name with another Bedrock
// version suffix): the served one, then the higher version.
func preferID(id, prev string, served map[string]bool) bool {
	if served[id] != served[prev] {
		return served[id]
	}
	return id > prev
}

// Lookup is the foundation-model id an Anthropic API name stands for.
func (m *Models) Lookup(name string) (string, bool) {
	id, ok := m.names[name]
	return id, ok
}

// Claude reports whether a foundation-model id takes the Messages API body (an Anthropic model), as far as the
// catalogue and the served ids say.
func (m *Models) Claude(id string) bool { return m.claude[id] }

// Names lists every Anthropic API name known, sorted.
func (m *Models) Names() []string {
	out := make([]string, 0, len(m.names))
	for n := range m.names {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}
