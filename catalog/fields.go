package catalog

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// ConverseFieldRow is one member that Converse's additionalModelRequestFields may hold for some models: the
// model's own request fields that Converse does not model (Claude's top_k, thinking and anthropic_beta;
// Nova's inferenceConfig.topK). Bedrock hands that object to the model with the request, and the model
// refuses a member it does not know (Claude: "The model returned the following errors: KEY: Extra inputs are
// not permitted"). Like the anthropic table, it is kept as rows that each say how they are known.
type ConverseFieldRow struct {
	// Field is a member of additionalModelRequestFields, or a dotted path to a member of one of its object
	// members ("inferenceConfig.topK"): an object member with listed children may hold only those.
	Field string `yaml:"field"`
	// Models take the field; "*" is every model of Family.
	Models   []string `yaml:"models"`
	Family   string   `yaml:"family"`
	Evidence string   `yaml:"evidence"`
	Source   string   `yaml:"source"`
}

// ConverseFields are the members Converse's additionalModelRequestFields may hold for the model, as the
// dotted paths of the rows (sorted); ok is false for a model no row names, whose fields are not known.
func (c *Catalog) ConverseFields(modelID string) (fields []string, ok bool) {
	f, ok := c.fields[modelID]
	return f, ok
}

// indexFields checks the converse_fields rows against the models and builds ConverseFields per model.
func (c *Catalog) indexFields() error {
	c.fields = map[string][]string{}
	for _, r := range c.ConverseRows {
		row := "converse field " + r.Field
		if r.Field == "" || strings.HasPrefix(r.Field, ".") || strings.HasSuffix(r.Field, ".") || strings.Contains(r.Field, "..") {
			return fmt.Errorf("converse_fields: a row has no field, or a malformed path (%q)", r.Field)
		}
		if !slices.Contains(evidences, r.Evidence) {
			return fmt.Errorf("converse_fields: %s: evidence %q, want one of %v", row, r.Evidence, evidences)
		}
		if r.Family != "" && r.Family != FamilyAnthropic && r.Family != FamilyNova {
			return fmt.Errorf("converse_fields: %s: family %q, want %s or %s", row, r.Family, FamilyAnthropic, FamilyNova)
		}
		var ids []string
		for _, id := range r.Models {
			if id == "*" {
				if r.Family == "" {
					return fmt.Errorf("converse_fields: %s names every model (*) but no family", row)
				}
				for _, m := range c.Models {
					if m.Family == r.Family {
						ids = append(ids, m.ID)
					}
				}
				continue
			}
			m, ok := c.Model(id)
			if !ok || (r.Family != "" && m.Family != r.Family) {
				return fmt.Errorf("converse_fields: %s names %q, which is not a model of the catalogue (of family %q)", row, id, r.Family)
			}
			ids = append(ids, id)
		}
		for _, id := range ids {
			c.fields[id] = append(c.fields[id], r.Field)
		}
	}
	for id, f := range c.fields {
		sort.Strings(f)
		c.fields[id] = slices.Compact(f)
	}
	return nil
}
