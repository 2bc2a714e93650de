package catalog

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestThinkingTypes(t *testing.T) {
	c := Default()
	for _, tt := range []struct {
		model string
		want  []string
	}{
		{"anthropic.claude-sonnet-4-5-20250929-v1:0", []string{ThinkingEnabled}},
		{"anthropic.claude-opus-4-1-20250805-v1:0", []string{ThinkingEnabled}},
		{"anthropic.claude-sonnet-4-6", []string{ThinkingEnabled, ThinkingAdaptive}},
		{"anthropic.claude-opus-4-7", []string{ThinkingAdaptive}},
		{"anthropic.claude-haiku-5-5", []string{ThinkingAdaptive}},
		{"anthropic.claude-3-5-sonnet-20241022-v2:0", nil},
		{"anthropic.claude-3-haiku-20240307-v1:0", nil},
	} {
		cp, ok := c.Compat(tt.model)
		if !ok {
			t.Fatalf("Compat(%s): not found", tt.model)
		}
		if diff := cmp.Diff(tt.want, cp.Thinking); diff != "" {
			t.Errorf("%s thinking (-want +got):\n%s", tt.model, diff)
		}
		if !cp.AcceptsThinking(ThinkingDisabled) {
			t.Errorf("%s refuses thinking disabled", tt.model)
		}
	}
	for _, r := range c.Anthropic.Thinking {
		if r.Source == "" || len(r.Models) == 0 {
			t.Errorf("thinking row %s (%s): no source or no models", r.Type, r.Evidence)
		}
	}
}

func TestConverseFields(t *testing.T) {
	c := Default()
	for _, tt := range []struct {
		model string
		want  []string
	}{
		{"anthropic.claude-sonnet-4-5-20250929-v1:0", []string{"anthropic_beta", "context_management", "thinking", "top_k"}},
		{"anthropic.claude-opus-4-7", []string{"anthropic_beta", "output_config", "thinking", "top_k"}},
		{"anthropic.claude-3-haiku-20240307-v1:0", []string{"anthropic_beta", "thinking", "top_k"}},
		{"amazon.nova-lite-v1:0", []string{"inferenceConfig.topK"}},
	} {
		got, ok := c.ConverseFields(tt.model)
		if !ok {
			t.Fatalf("ConverseFields(%s): not known", tt.model)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.model, diff)
		}
	}
	if _, ok := c.ConverseFields("anthropic.no-such-model"); ok {
		t.Error("a model the catalogue does not list has known fields")
	}
	for _, r := range c.ConverseRows {
		if r.Source == "" || len(r.Models) == 0 {
			t.Errorf("converse field row %s: no source or no models", r.Field)
		}
	}
	// A copy with more models keeps the rows.
	m, _ := c.Model("amazon.nova-pro-v1:0")
	m.MaxOutputTokens = 5
	w, err := c.With([]Model{m})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := w.ConverseFields(m.ID); len(got) != 1 {
		t.Errorf("With: fields %v", got)
	}
}

func TestThinkingAndFieldRowErrors(t *testing.T) {
	const geo = "geographies: {us: {source_regions: [us-east-1], destination_regions: [us-east-1]}}\n" +
		"models: [{id: anthropic.m, family: anthropic-messages, profiles: {us: null}}, {id: amazon.n, family: amazon-nova, profiles: {us: null}}]\n"
	for name, tc := range map[string]struct{ yaml, want string }{
		"thinking type":        {geo + "anthropic: {thinking: [{type: disabled, models: [anthropic.m], evidence: documented}]}", `thinking type "disabled"`},
		"thinking model":       {geo + "anthropic: {thinking: [{type: enabled, models: [amazon.n], evidence: documented}]}", `"amazon.n"`},
		"thinking evidence":    {geo + "anthropic: {thinking: [{type: adaptive, models: [anthropic.m], evidence: rumour}]}", "evidence"},
		"field path":           {geo + "converse_fields: [{field: a., models: [anthropic.m], evidence: documented}]", "malformed path"},
		"field star":           {geo + "converse_fields: [{field: a, models: ['*'], evidence: documented}]", "no family"},
		"field family":         {geo + "converse_fields: [{field: a, family: amazon-nova, models: [anthropic.m], evidence: documented}]", `"anthropic.m"`},
		"field unknown family": {geo + "converse_fields: [{field: a, family: meta, models: ['*'], evidence: documented}]", `family "meta"`},
		"field evidence":       {geo + "converse_fields: [{field: a, models: [anthropic.m], evidence: said}]", "evidence"},
	} {
		_, err := Parse([]byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error about %s", name, err, tc.want)
		}
	}
}
