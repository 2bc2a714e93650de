package sandbox

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/bedrock-relay/bedrock-relay/catalog"
)

// TestAnthropicCompatTable: the sandbox answers every row of the catalogue's anthropic table as Bedrock
// does. Every Anthropic model × every version (the table's and one it does not know) × every beta flag the
// table lists and one it does not: accepted ones pass, an API version the model does not serve is "Invalid
// API version", a flag it does not take is "invalid beta flag".
func TestAnthropicCompatTable(t *testing.T) {
	cat := catalog.Default()
	flags := []string{"no-such-beta-2099-01-01"}
	for _, r := range cat.Anthropic.Betas {
		flags = append(flags, r.Flag)
	}
	versions := []string{"2023-06-01"}
	for _, r := range cat.Anthropic.Versions {
		versions = append(versions, r.Version)
	}
	for _, m := range cat.Models {
		cp, ok := cat.Compat(m.ID)
		if !ok {
			continue
		}
		for _, v := range versions {
			for _, flag := range append([]string{""}, flags...) {
				in := map[string]any{"anthropic_version": v, "max_tokens": 16, "messages": []any{map[string]any{"role": "user", "content": "hi"}}}
				if flag != "" {
					in["anthropic_beta"] = []string{flag}
				}
				body, _ := json.Marshal(in)
				_, err := parseInvokeBody(m, body)
				want := ""
				switch {
				case !cp.AcceptsVersion(v):
					want = "Invalid API version: " + v
				case flag != "" && !cp.AcceptsBeta(flag):
					want = "invalid beta flag"
				}
				switch {
				case want == "" && err != nil:
					t.Errorf("%s %s %q: got %s, want it accepted", m.ID, v, flag, err.Message)
				case want != "" && (err == nil || err.Code != "ValidationException" || err.Status != 400 || err.Message != want):
					t.Errorf("%s %s %q: got %v, want 400 ValidationException %q", m.ID, v, flag, err, want)
				}
			}
		}
	}
}

// A body's members are those of its version: a 2026-10-21 body to Opus 4.7 may carry cache_control; the
// same member in a bedrock-2023-05-31 body, or in a 2026-10-21 body to a model that does not serve that
// version, is Bedrock's schema error.
func TestAnthropicFieldsFollowTheVersion(t *testing.T) {
	cat := catalog.Default()
	opus, _ := cat.Model("anthropic.claude-opus-4-7")
	sonnet, _ := cat.Model("anthropic.claude-sonnet-4-5-20250929-v1:0")
	const rest = `"max_tokens":16,"cache_control":{"type":"ephemeral"},"messages":[{"role":"user","content":"hi"}]}`
	tests := []struct {
		m       catalog.Model
		body    string
		wantErr string
	}{
		{opus, `{"anthropic_version":"2026-10-21",` + rest, ""},
		{opus, `{"anthropic_version":"bedrock-2023-05-31",` + rest, "extraneous key [cache_control]"},
		{sonnet, `{"anthropic_version":"2026-10-21",` + rest, "extraneous key [cache_control]"},
		{sonnet, `{"anthropic_version":"bedrock-2023-05-31","max_tokens":16,"output_config":{"effort":"high"},"messages":[{"role":"user","content":"hi"}]}`, ""},
	}
	for _, tt := range tests {
		_, err := parseInvokeBody(tt.m, []byte(tt.body))
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s %s: got %s, want it accepted", tt.m.ID, tt.body, err.Message)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Message, tt.wantErr)):
			t.Errorf("%s %s: got %v, want %q", tt.m.ID, tt.body, err, tt.wantErr)
		}
	}
}
