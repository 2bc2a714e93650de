package catalog

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The current Claude generations and their profile ids.
func TestCurrentClaudeModels(t *testing.T) {
	c := Default()
	for _, id := range []string{
		"us.anthropic.claude-opus-4-7", "eu.anthropic.claude-opus-4-7", "jp.anthropic.claude-opus-4-7", "au.anthropic.claude-opus-4-7", "global.anthropic.claude-opus-4-7",
		"us.anthropic.claude-sonnet-4-6", "jp.anthropic.claude-sonnet-4-6", "global.anthropic.claude-sonnet-4-6",
		"us.anthropic.claude-opus-4-6-v1", "global.anthropic.claude-opus-4-6-v1",
		"us.anthropic.claude-opus-4-5-20251101-v1:0", "global.anthropic.claude-opus-4-5-20251101-v1:0",
		"jp.anthropic.claude-haiku-4-5-20251001-v1:0", "us.anthropic.claude-opus-4-1-20250805-v1:0",
	} {
		p, err := c.Profile(id)
		if err != nil {
			t.Errorf("Profile(%s): %v", id, err)
			continue
		}
		if p.Model.Source == "" {
			t.Errorf("%s: no source", p.Model.ID)
		}
	}
	for _, m := range c.Models {
		if m.Source == "" {
			t.Errorf("%s has no source: say where its ids come from", m.ID)
		}
	}
}

func TestCompat(t *testing.T) {
	c := Default()
	tests := []struct {
		model     string
		versions  []string
		accepts   []string
		refuses   []string
		anthropic bool
	}{
		{"anthropic.claude-opus-4-7", []string{"bedrock-2023-05-31", "2026-10-21"}, []string{"interleaved-thinking-2025-05-14"},
			[]string{"claude-code-20250219", "context-1m-2025-08-07", "x"}, true},
		{"anthropic.claude-opus-4-6-v1", []string{"bedrock-2023-05-31"}, []string{"claude-code-20250219", "context-1m-2025-08-07"}, []string{"output-128k-2025-02-19"}, true},
		{"anthropic.claude-sonnet-4-5-20250929-v1:0", []string{"bedrock-2023-05-31"},
			[]string{"interleaved-thinking-2025-05-14", "context-1m-2025-08-07", "token-efficient-tools-2025-02-19"}, []string{"output-128k-2025-02-19"}, true},
		{"anthropic.claude-3-7-sonnet-20250219-v1:0", []string{"bedrock-2023-05-31"}, []string{"output-128k-2025-02-19", "computer-use-2025-01-24"}, []string{"interleaved-thinking-2025-05-14"}, true},
		{"anthropic.claude-3-haiku-20240307-v1:0", []string{"bedrock-2023-05-31"}, nil, []string{"interleaved-thinking-2025-05-14"}, true},
		{"amazon.nova-pro-v1:0", nil, nil, nil, false},
	}
	for _, tt := range tests {
		cp, ok := c.Compat(tt.model)
		if ok != tt.anthropic {
			t.Errorf("Compat(%s): ok %v, want %v", tt.model, ok, tt.anthropic)
			continue
		}
		if !ok {
			continue
		}
		if diff := cmp.Diff(tt.versions, cp.Versions); diff != "" {
			t.Errorf("%s versions (-want +got):\n%s", tt.model, diff)
		}
		for _, b := range tt.accepts {
			if !cp.AcceptsBeta(b) {
				t.Errorf("%s: refuses %s, want it accepted", tt.model, b)
			}
		}
		for _, b := range tt.refuses {
			if cp.AcceptsBeta(b) {
				t.Errorf("%s: accepts %s, want it refused", tt.model, b)
			}
		}
	}
	// Every Anthropic model serves bedrock-2023-05-31; only Claude 4.7 and later serve 2026-10-21.
	newer := map[string]bool{"anthropic.claude-opus-4-7": true, "anthropic.claude-opus-4-8": true, "anthropic.claude-opus-5": true,
		"anthropic.claude-opus-5-5": true, "anthropic.claude-sonnet-5": true, "anthropic.claude-sonnet-5-5": true, "anthropic.claude-haiku-5-5": true}
	for _, m := range c.Models {
		cp, ok := c.Compat(m.ID)
		if !ok {
			continue
		}
		if !cp.AcceptsVersion("bedrock-2023-05-31") {
			t.Errorf("%s does not accept bedrock-2023-05-31", m.ID)
		}
		if cp.AcceptsVersion("2026-10-21") != newer[m.ID] {
			t.Errorf("%s: accepts 2026-10-21 = %v", m.ID, cp.AcceptsVersion("2026-10-21"))
		}
	}
	v, ok := c.APIVersion("2026-10-21")
	if !ok || v.RewriteTo != "bedrock-2023-05-31" || v.Evidence != EvidenceDocumented {
		t.Errorf("APIVersion(2026-10-21) = %+v, %v", v, ok)
	}
}

// Every row says how it is known.
func TestCompatRowsHaveEvidence(t *testing.T) {
	c := Default()
	for _, r := range c.Anthropic.Betas {
		if r.Source == "" || len(r.Models) == 0 {
			t.Errorf("beta row %s (%s): no source or no models", r.Flag, r.Evidence)
		}
	}
	for _, r := range c.Anthropic.Versions {
		if r.Source == "" {
			t.Errorf("version row %s: no source", r.Version)
		}
	}
}

func TestCompatTableErrors(t *testing.T) {
	const geo = "geographies: {us: {source_regions: [us-east-1], destination_regions: [us-east-1]}}\n" +
		"models: [{id: anthropic.m, family: anthropic-messages, profiles: {us: null}}]\n"
	for name, tc := range map[string]struct{ yaml, want string }{
		"unknown model":  {geo + "anthropic: {versions: [{version: v1, models: ['*'], evidence: documented, fields: [a]}], betas: [{flag: f, models: [anthropic.x], evidence: guessed}]}", `"anthropic.x"`},
		"bad evidence":   {geo + "anthropic: {versions: [{version: v1, models: ['*'], evidence: hearsay, fields: [a]}]}", "evidence"},
		"bad rewrite_to": {geo + "anthropic: {versions: [{version: v1, models: ['*'], evidence: documented, fields: [a], rewrite_to: v0}]}", "rewrite_to"},
		"no fields":      {geo + "anthropic: {versions: [{version: v1, models: ['*'], evidence: documented}]}", "no fields"},
	} {
		_, err := Parse([]byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error about %s", name, err, tc.want)
		}
	}
}

func TestWith(t *testing.T) {
	base := Default()
	next := Model{ID: "anthropic.claude-opus-9-9", Name: "Claude Opus 9.9", Provider: "anthropic", Family: FamilyAnthropic,
		OutputBurndown: 5, MaxOutputTokens: 128000, Profiles: map[string][]string{"us": nil, "global": nil},
		AnthropicVersions: []string{"2026-10-21"}, AnthropicBetas: []string{"interleaved-thinking-2025-05-14"}}
	c, err := base.With([]Model{next})
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Profile("us.anthropic.claude-opus-9-9")
	if err != nil {
		t.Fatalf("the added model's profile: %v", err)
	}
	if p.Model.Source != "relay config" {
		t.Errorf("source %q, want relay config", p.Model.Source)
	}
	cp, _ := c.Compat(next.ID)
	if diff := cmp.Diff([]string{"bedrock-2023-05-31", "2026-10-21"}, cp.Versions); diff != "" {
		t.Errorf("versions (-want +got):\n%s", diff)
	}
	if !cp.AcceptsBeta("interleaved-thinking-2025-05-14") || cp.AcceptsBeta("claude-code-20250219") {
		t.Errorf("betas %v", cp.Betas)
	}
	if _, ok := base.Model(next.ID); ok {
		t.Error("With changed the catalogue it was called on")
	}
	// Replacing a listed model: the new entry wins, the table's rows still apply.
	repl, _ := base.Model("anthropic.claude-sonnet-4-5-20250929-v1:0")
	repl.MaxOutputTokens = 1000
	c, err = base.With([]Model{repl})
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := c.Model(repl.ID); m.MaxOutputTokens != 1000 || len(c.Models) != len(base.Models) {
		t.Errorf("replace: max %d, %d models; want 1000, %d", m.MaxOutputTokens, len(c.Models), len(base.Models))
	}
	if cp, _ := c.Compat(repl.ID); !cp.AcceptsBeta("context-1m-2025-08-07") {
		t.Error("replace lost the table's rows")
	}

	_, err = base.With([]Model{
		{ID: "us.anthropic.claude-opus-4-8", Provider: "anthropic", Family: FamilyAnthropic, Profiles: map[string][]string{"us": nil}},
		{ID: "anthropic.y", Provider: "anthropic", Family: "anthropic", Profiles: map[string][]string{"mars": nil}, AnthropicVersions: []string{"2099-01-01"}},
		{ID: "", Family: FamilyNova},
	})
	if err == nil {
		t.Fatal("With of bad models: got nil error")
	}
	for _, want := range []string{"inference profile id", `family "anthropic"`, "profiles.mars", `"2099-01-01"`, "id: required", "provider: required", "on_demand_regions or profiles"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
