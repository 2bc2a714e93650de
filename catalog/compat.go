package catalog

import (
	"fmt"
	"slices"
	"sort"
)

// AnthropicTable is what the Anthropic models accept in an InvokeModel body on Bedrock: which
// anthropic_version values, which anthropic_beta flags and which thinking types. It is kept as rows, one per
// version, flag or type and kind of evidence, so that each row says how it is known (Evidence, Source);
// Compat is the same data per model.
type AnthropicTable struct {
	Versions []VersionRow  `yaml:"versions"`
	Betas    []BetaRow     `yaml:"betas"`
	Thinking []ThinkingRow `yaml:"thinking"`
}

// VersionRow is one anthropic_version value and the models that accept it.
type VersionRow struct {
	Version string `yaml:"version"`
	// Models accept the version; "*" is every model of family anthropic-messages.
	Models   []string `yaml:"models"`
	Evidence string   `yaml:"evidence"`
	Source   string   `yaml:"source"`
	// Fields are the top-level members a body of this version may have.
	Fields []string `yaml:"fields"`
	// RewriteTo names an older version under which a body of this one means the same when it uses only the
	// older version's fields (and passes the relay's few value checks); the relay sends it so to a model
	// that does not accept this version. Empty: never rewritten.
	RewriteTo string `yaml:"rewrite_to"`
}

// BetaRow is one anthropic_beta flag and the models known, reported or guessed to accept it.
type BetaRow struct {
	Flag     string   `yaml:"flag"`
	Models   []string `yaml:"models"`
	Evidence string   `yaml:"evidence"`
	Source   string   `yaml:"source"`
}

// ThinkingRow is one thinking.type value and the models that take it: enabled (extended thinking with a
// budget_tokens) or adaptive (the model decides how much to think). disabled needs no row: every model takes
// it. A model no row names does not think, and refuses thinking.
type ThinkingRow struct {
	Type     string   `yaml:"type"`
	Models   []string `yaml:"models"`
	Evidence string   `yaml:"evidence"`
	Source   string   `yaml:"source"`
}

// The thinking types a ThinkingRow may name.
const (
	ThinkingEnabled  = "enabled"
	ThinkingAdaptive = "adaptive"
	ThinkingDisabled = "disabled"
)

// How a row of the anthropic table is known.
const (
	EvidenceDocumented = "documented" // AWS's or Anthropic's documentation says so
	EvidenceReported   = "reported"   // observed answers of Bedrock, reported in public issues
	EvidenceGuessed    = "guessed"    // inferred (a model family's habit, a client's table); may be wrong
	EvidenceConfig     = "config"     // a relay config added it (Model.AnthropicVersions, AnthropicBetas)
)

// Compat is what one Anthropic model accepts on Bedrock's InvokeModel.
type Compat struct {
	Model string
	// Versions are the accepted anthropic_version values, in the table's order (oldest first).
	Versions []string
	// Betas are the accepted anthropic_beta flags, sorted. A flag not listed is refused by Bedrock with
	// "invalid beta flag".
	Betas []string
	// Thinking are the thinking types the model takes besides disabled (enabled, adaptive), in the table's
	// order; empty for a model that does not think.
	Thinking []string
}

// AcceptsVersion reports whether the model accepts anthropic_version v.
func (c Compat) AcceptsVersion(v string) bool { return slices.Contains(c.Versions, v) }

// AcceptsBeta reports whether the model accepts the anthropic_beta flag.
func (c Compat) AcceptsBeta(flag string) bool {
	_, ok := slices.BinarySearch(c.Betas, flag)
	return ok
}

// AcceptsThinking reports whether the model takes thinking.type t; every model takes disabled.
func (c Compat) AcceptsThinking(t string) bool {
	return t == ThinkingDisabled || slices.Contains(c.Thinking, t)
}

// Compat is the compatibility of the Anthropic model with this id; false for a model the catalogue does not
// list or that is not of family anthropic-messages.
func (c *Catalog) Compat(modelID string) (Compat, bool) {
	cp, ok := c.compat[modelID]
	return cp, ok
}

// APIVersion is the row of an anthropic_version value.
func (c *Catalog) APIVersion(v string) (VersionRow, bool) { return c.Anthropic.version(v) }

func (t AnthropicTable) version(v string) (VersionRow, bool) {
	for _, r := range t.Versions {
		if r.Version == v {
			return r, true
		}
	}
	return VersionRow{}, false
}

func (t AnthropicTable) versionNames() []string {
	var out []string
	for _, r := range t.Versions {
		out = append(out, r.Version)
	}
	return out
}

var evidences = []string{EvidenceDocumented, EvidenceReported, EvidenceGuessed, EvidenceConfig}

// indexCompat checks the anthropic table against the models and builds Compat per Anthropic model.
func (c *Catalog) indexCompat() error {
	c.compat = map[string]Compat{}
	for _, m := range c.Models {
		if m.Family == FamilyAnthropic {
			c.compat[m.ID] = Compat{Model: m.ID}
		}
	}
	names := func(row string, models []string, star bool) ([]string, error) {
		var out []string
		for _, id := range models {
			if id == "*" && star {
				for mid := range c.compat {
					out = append(out, mid)
				}
				continue
			}
			if _, ok := c.compat[id]; !ok {
				return nil, fmt.Errorf("anthropic table: %s names %q, which is not an %s model of the catalogue", row, id, FamilyAnthropic)
			}
			out = append(out, id)
		}
		return out, nil
	}
	seen := map[string]bool{}
	for _, r := range c.Anthropic.Versions {
		row := "version " + r.Version
		if r.Version == "" || seen[r.Version] {
			return fmt.Errorf("anthropic table: a version row has no version, or repeats one (%q)", r.Version)
		}
		seen[r.Version] = true
		if !slices.Contains(evidences, r.Evidence) {
			return fmt.Errorf("anthropic table: %s: evidence %q, want one of %v", row, r.Evidence, evidences)
		}
		if len(r.Fields) == 0 {
			return fmt.Errorf("anthropic table: %s lists no fields", row)
		}
		ids, err := names(row, r.Models, true)
		if err != nil {
			return err
		}
		for _, id := range ids {
			cp := c.compat[id]
			cp.Versions = append(cp.Versions, r.Version)
			c.compat[id] = cp
		}
	}
	for _, r := range c.Anthropic.Versions {
		if r.RewriteTo != "" && (r.RewriteTo == r.Version || !seen[r.RewriteTo]) {
			return fmt.Errorf("anthropic table: version %s: rewrite_to %q is not another version of the table", r.Version, r.RewriteTo)
		}
	}
	for _, r := range c.Anthropic.Betas {
		row := "beta " + r.Flag
		if r.Flag == "" {
			return fmt.Errorf("anthropic table: a beta row has no flag")
		}
		if !slices.Contains(evidences, r.Evidence) {
			return fmt.Errorf("anthropic table: %s: evidence %q, want one of %v", row, r.Evidence, evidences)
		}
		ids, err := names(row, r.Models, false)
		if err != nil {
			return err
		}
		for _, id := range ids {
			cp := c.compat[id]
			cp.Betas = append(cp.Betas, r.Flag)
			c.compat[id] = cp
		}
	}
	for _, r := range c.Anthropic.Thinking {
		row := "thinking " + r.Type
		if r.Type != ThinkingEnabled && r.Type != ThinkingAdaptive {
			return fmt.Errorf("anthropic table: thinking type %q, want %s or %s (%s needs no row)", r.Type, ThinkingEnabled, ThinkingAdaptive, ThinkingDisabled)
		}
		if !slices.Contains(evidences, r.Evidence) {
			return fmt.Errorf("anthropic table: %s: evidence %q, want one of %v", row, r.Evidence, evidences)
		}
		ids, err := names(row, r.Models, false)
		if err != nil {
			return err
		}
		for _, id := range ids {
			cp := c.compat[id]
			if !slices.Contains(cp.Thinking, r.Type) {
				cp.Thinking = append(cp.Thinking, r.Type)
			}
			c.compat[id] = cp
		}
	}
	for _, m := range c.Models {
		cp, ok := c.compat[m.ID]
		if !ok {
			continue
		}
		for _, v := range m.AnthropicVersions {
			if !seen[v] {
				return fmt.Errorf("model %s: anthropic_versions names %q, which the anthropic table does not list", m.ID, v)
			}
			cp.Versions = append(cp.Versions, v)
		}
		cp.Betas = append(cp.Betas, m.AnthropicBetas...)
		// Versions in the table's order, each once; betas sorted for AcceptsBeta.
		var vs []string
		for _, r := range c.Anthropic.Versions {
			if slices.Contains(cp.Versions, r.Version) {
				vs = append(vs, r.Version)
			}
		}
		cp.Versions = vs
		sort.Strings(cp.Betas)
		cp.Betas = slices.Compact(cp.Betas)
		c.compat[m.ID] = cp
	}
	return nil
}
