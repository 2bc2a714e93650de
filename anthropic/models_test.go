package anthropic

import (
	"testing"

	"github.com/bedrock-relay/bedrock-relay/catalog"
)

// testCatalog lists Claude models the way catalog.yaml does, with a second snapshot of one base, a model
// without Bedrock's version suffix, and a model of another family.
const testCatalog = `
geographies:
  us: {source_regions: [us-east-1], destination_regions: [us-east-1]}
models:
  - {id: anthropic.claude-sonnet-4-5-20250929-v1:0, provider: anthropic, family: anthropic-messages, profiles: {us: null}}
  - {id: anthropic.claude-sonnet-4-20250514-v1:0, provider: anthropic, family: anthropic-messages, profiles: {us: null}}
  - {id: anthropic.claude-opus-4-1-20250805-v1:0, provider: anthropic, family: anthropic-messages, profiles: {us: null}}
  - {id: anthropic.claude-3-5-sonnet-20240620-v1:0, provider: anthropic, family: anthropic-messages, profiles: {us: null}}
  - {id: anthropic.claude-3-5-sonnet-20241022-v2:0, provider: anthropic, family: anthropic-messages, profiles: {us: null}}
  - {id: anthropic.claude-opus-4-7, provider: anthropic, family: anthropic-messages, profiles: {us: null}}
  - {id: amazon.nova-pro-v1:0, provider: amazon, family: amazon-nova, profiles: {us: null}}
`

func TestModels(t *testing.T) {
	cat, err := catalog.Parse([]byte(testCatalog))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		served []string
		lookup map[string]string // "" : not a name
	}{
		{
			name: "from the catalogue alone",
			lookup: map[string]string{
				"claude-sonnet-4-5-20250929":                "anthropic.claude-sonnet-4-5-20250929-v1:0",
				"claude-sonnet-4-5":                         "anthropic.claude-sonnet-4-5-20250929-v1:0",
				"claude-sonnet-4-5-latest":                  "anthropic.claude-sonnet-4-5-20250929-v1:0",
				"claude-sonnet-4-20250514":                  "anthropic.claude-sonnet-4-20250514-v1:0",
				"claude-sonnet-4-0":                         "anthropic.claude-sonnet-4-20250514-v1:0",
				"claude-sonnet-4":                           "",
				"claude-opus-4-1":                           "anthropic.claude-opus-4-1-20250805-v1:0",
				"claude-opus-4-1-0":                         "",
				"claude-3-5-sonnet-latest":                  "anthropic.claude-3-5-sonnet-20241022-v2:0",
				"claude-3-5-sonnet-20240620":                "anthropic.claude-3-5-sonnet-20240620-v1:0",
				"claude-opus-4-7":                           "anthropic.claude-opus-4-7",
				"nova-pro":                                  "",
				"anthropic.claude-sonnet-4-5-20250929-v1:0": "", // Bedrock ids are the router's to resolve
			},
		},
		{
			name:   "an alias prefers the snapshot the pool serves",
			served: []string{"anthropic.claude-3-5-sonnet-20240620-v1:0"},
			lookup: map[string]string{
				"claude-3-5-sonnet-latest":   "anthropic.claude-3-5-sonnet-20240620-v1:0",
				"claude-3-5-sonnet-20241022": "anthropic.claude-3-5-sonnet-20241022-v2:0",
			},
		},
		{
			name:   "a served model the catalogue does not list",
			served: []string{"anthropic.claude-haiku-5-20270101-v1:0", "meta.llama4-v1:0"},
			lookup: map[string]string{
				"claude-haiku-5":          "",
				"claude-haiku-5-0":        "anthropic.claude-haiku-5-20270101-v1:0",
				"claude-haiku-5-20270101": "anthropic.claude-haiku-5-20270101-v1:0",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewModels(cat, tt.served)
			for name, want := range tt.lookup {
				got, ok := m.Lookup(name)
				if want == "" && ok {
					t.Errorf("Lookup(%q) = %q, want no such name", name, got)
				}
				if want != "" && got != want {
					t.Errorf("Lookup(%q) = %q, %v, want %q", name, got, ok, want)
				}
			}
		})
	}
	m := NewModels(cat, []string{"meta.llama4-v1:0", "anthropic.claude-x-1"})
	for id, want := range map[string]bool{"anthropic.claude-opus-4-7": true, "amazon.nova-pro-v1:0": false, "meta.llama4-v1:0": false, "anthropic.claude-x-1": true} {
		if got := m.Claude(id); got != want {
			t.Errorf("Claude(%s) = %v, want %v", id, got, want)
		}
	}
}

// Every Claude model of the embedded catalogue, whatever gets added to it, has its dated (or own) Anthropic
// name, and that name maps back to it.
func TestModelsOfTheCatalogue(t *testing.T) {
	cat := catalog.Default()
	m := NewModels(cat, nil)
	n := 0
	for _, model := range cat.Models {
		if model.Family != catalog.FamilyAnthropic {
			continue
		}
		name, ok := APIName(model.ID)
		if !ok {
			t.Errorf("%s: no Anthropic API name", model.ID)
			continue
		}
		if got, _ := m.Lookup(name); got != model.ID {
			t.Errorf("Lookup(%q) = %q, want %s", name, got, model.ID)
		}
		n++
	}
	if n == 0 {
		t.Fatal("the catalogue lists no Claude model")
	}
	if got, _ := m.Lookup("claude-sonnet-4-5-20250929"); got != "anthropic.claude-sonnet-4-5-20250929-v1:0" {
		t.Errorf("claude-sonnet-4-5-20250929 = %q, want anthropic.claude-sonnet-4-5-20250929-v1:0", got)
	}
}
