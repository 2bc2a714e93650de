package router

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/bedrock-relay/bedrock-relay/catalog"
)

const (
	sonnet45 = "anthropic.claude-sonnet-4-5-20250929-v1:0"
	opus47   = "anthropic.claude-opus-4-7"
	nova     = "amazon.nova-pro-v1:0"
)

// TestShimRules are the shim's rules on exact bytes: what is rewritten, what is kept byte for byte, what is
// refused and with which field named.
func TestShimRules(t *testing.T) {
	const msgs = `"messages":[{"role":"user","content":"hi"}]`
	tests := []struct {
		name   string
		model  string
		policy BetaPolicy
		in     string
		want   string // "" with wantErr
		// wantErr is a fragment of the CallerError's message.
		wantErr string
	}{
		{"2023 body to an old model is untouched", sonnet45, BetasDrop,
			`{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,` + msgs + `}`, "", ""},
		{"2026 body to an old model is rewritten in place", sonnet45, BetasDrop,
			`{"anthropic_version":"2026-10-21","max_tokens":10,` + msgs + `}`,
			`{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,` + msgs + `}`, ""},
		{"whitespace and key order are kept", sonnet45, BetasDrop,
			"{\n  \"max_tokens\" : 10,\n  " + msgs + ",\n  \"anthropic_version\" :\t\"2026-10-21\"\n}\n",
			"{\n  \"max_tokens\" : 10,\n  " + msgs + ",\n  \"anthropic_version\" :\t\"bedrock-2023-05-31\"\n}\n", ""},
		{"2026 body to Opus 4.7 is untouched", opus47, BetasDrop,
			`{"anthropic_version":"2026-10-21","max_tokens":10,"cache_control":{"type":"ephemeral"},` + msgs + `}`, "", ""},
		{"an unknown version is Bedrock's to answer", sonnet45, BetasDrop,
			`{"anthropic_version":"2023-06-01","max_tokens":10,` + msgs + `}`, "", ""},
		{"thinking enabled with a budget is the same under both", sonnet45, BetasDrop,
			`{"anthropic_version":"2026-10-21","max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":1024},` + msgs + `}`,
			`{"anthropic_version":"bedrock-2023-05-31","max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":1024},` + msgs + `}`, ""},
		{"a nested anthropic_version is not the body's", sonnet45, BetasDrop,
			`{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"metadata":{"anthropic_version":"2026-10-21"},` + msgs + `}`, "", ""},
		{"a version in a prompt is text", sonnet45, BetasDrop,
			`{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[{"role":"user","content":"say \"anthropic_version\":\"2026-10-21\""}]}`, "", ""},
		{"a field only 2026 has is refused, named", sonnet45, BetasDrop,
			`{"anthropic_version":"2026-10-21","max_tokens":10,"user_profile_id":"up_1",` + msgs + `}`, "", `"user_profile_id"`},
		{"cache_control at the top is 2026's", sonnet45, BetasDrop,
			`{"anthropic_version":"2026-10-21","max_tokens":10,"cache_control":{"type":"ephemeral"},` + msgs + `}`, "", `"cache_control"`},
		{"max_tokens 0 means something else in 2026", sonnet45, BetasDrop,
			`{"anthropic_version":"2026-10-21","max_tokens":0,` + msgs + `}`, "", "max_tokens 0"},
		{"a thinking type 2023 lacks", sonnet45, BetasDrop,
			`{"anthropic_version":"2026-10-21","max_tokens":10,"thinking":{"type":"between_tools"},` + msgs + `}`, "", `thinking.type "between_tools"`},
		{"a thinking setting 2023 lacks", sonnet45, BetasDrop,
			`{"anthropic_version":"2026-10-21","max_tokens":10,"thinking":{"type":"adaptive","display":"omitted"},` + msgs + `}`, "", "thinking.display"},
		{"the refusal names who serves the version", sonnet45, BetasDrop,
			`{"anthropic_version":"2026-10-21","max_tokens":10,"speed":"fast",` + msgs + `}`, "", opus47},
		{"drop: refused flags leave, accepted ones stay in order", sonnet45, BetasDrop,
			`{"anthropic_version":"bedrock-2023-05-31","anthropic_beta":["x-2099-01-01","interleaved-thinking-2025-05-14", "claude-code-20250219"],"max_tokens":10,` + msgs + `}`,
			`{"anthropic_version":"bedrock-2023-05-31","anthropic_beta":["interleaved-thinking-2025-05-14","claude-code-20250219"],"max_tokens":10,` + msgs + `}`, ""},
		{"drop: no flag left removes the member (middle)", opus47, BetasDrop,
			`{"anthropic_version":"2026-10-21","anthropic_beta":["claude-code-20250219"],"max_tokens":10,` + msgs + `}`,
			`{"anthropic_version":"2026-10-21","max_tokens":10,` + msgs + `}`, ""},
		{"drop: no flag left removes the member (first)", opus47, BetasDrop,
			`{"anthropic_beta":["claude-code-20250219"], "anthropic_version":"2026-10-21","max_tokens":10,` + msgs + `}`,
			`{"anthropic_version":"2026-10-21","max_tokens":10,` + msgs + `}`, ""},
		{"drop: no flag left removes the member (last)", opus47, BetasDrop,
			`{"anthropic_version":"2026-10-21","max_tokens":10,` + msgs + `,"anthropic_beta":["claude-code-20250219"]}`,
			`{"anthropic_version":"2026-10-21","max_tokens":10,` + msgs + `}`, ""},
		{"drop: all accepted is untouched", opus47, BetasDrop,
			`{"anthropic_version":"2026-10-21","anthropic_beta":["interleaved-thinking-2025-05-14"],"max_tokens":10,` + msgs + `}`, "", ""},
		{"drop and rewrite together", sonnet45, BetasDrop,
			`{"anthropic_version":"2026-10-21","anthropic_beta":["x-2099-01-01"],"max_tokens":10,` + msgs + `}`,
			`{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,` + msgs + `}`, ""},
		{"pass: flags go as they came", opus47, BetasPass,
			`{"anthropic_version":"2026-10-21","anthropic_beta":["claude-code-20250219"],"max_tokens":10,` + msgs + `}`, "", ""},
		{"pass still rewrites the version", sonnet45, BetasPass,
			`{"anthropic_version":"2026-10-21","anthropic_beta":["x-2099-01-01"],"max_tokens":10,` + msgs + `}`,
			`{"anthropic_version":"bedrock-2023-05-31","anthropic_beta":["x-2099-01-01"],"max_tokens":10,` + msgs + `}`, ""},
		{"reject names the flags", opus47, BetasReject,
			`{"anthropic_version":"2026-10-21","anthropic_beta":["interleaved-thinking-2025-05-14","claude-code-20250219","effort-2025-11-24"],"max_tokens":10,` + msgs + `}`,
			"", `does not accept "claude-code-20250219", "effort-2025-11-24"`},
		{"beta that is not an array is Bedrock's to answer", sonnet45, BetasDrop,
			`{"anthropic_version":"bedrock-2023-05-31","anthropic_beta":"x-2099-01-01","max_tokens":10,` + msgs + `}`, "", ""},
		{"beta with a non-string element is Bedrock's to answer", sonnet45, BetasDrop,
			`{"anthropic_version":"bedrock-2023-05-31","anthropic_beta":["x-2099-01-01",1],"max_tokens":10,` + msgs + `}`, "", ""},
		{"malformed JSON is Bedrock's to answer", sonnet45, BetasDrop,
			`{"anthropic_version":"2026-10-21","max_tokens":10,` + msgs, "", ""},
		{"two objects are Bedrock's to answer", sonnet45, BetasDrop,
			`{"anthropic_version":"2026-10-21"}{}`, "", ""},
		{"both duplicate versions are rewritten", sonnet45, BetasDrop,
			`{"anthropic_version":"2026-10-21","anthropic_version":"2026-10-21","max_tokens":10,` + msgs + `}`,
			`{"anthropic_version":"bedrock-2023-05-31","anthropic_version":"bedrock-2023-05-31","max_tokens":10,` + msgs + `}`, ""},
		{"Nova has no anthropic row", nova, BetasReject,
			`{"anthropic_beta":["x"],"messages":[]}`, "", ""},
	}
	cat := catalog.Default()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mc := compileCompat(cat, tt.model)
			got, _, err := mc.adapt([]byte(tt.in), tt.policy)
			if tt.wantErr != "" {
				if err == nil || err.Code != "ValidationException" || !strings.Contains(err.Message, tt.wantErr) {
					t.Fatalf("got %v (body %s), want a ValidationException naming %s", err, got, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got %v, want no error", err)
			}
			want := tt.want
			if want == "" {
				want = tt.in
			}
			if string(got) != want {
				t.Errorf("got  %s\nwant %s", got, want)
			}
		})
	}
}

// TestShimNoCopy: a body that needs no change is the caller's slice itself, not a copy.
func TestShimNoCopy(t *testing.T) {
	mc := compileCompat(catalog.Default(), sonnet45)
	for _, in := range []string{
		`{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[]}`,
		`{"anthropic_version":"bedrock-2023-05-31","anthropic_beta":["interleaved-thinking-2025-05-14"],"max_tokens":10,"messages":[]}`,
	} {
		b := []byte(in)
		got, changed, err := mc.adapt(b, BetasDrop)
		if err != nil || changed != 0 || &got[0] != &b[0] {
			t.Errorf("adapt(%s): changed %d, err %v, same slice %v; want the caller's slice unchanged", in, changed, err, &got[0] == &b[0])
		}
	}
}

func TestShimCountTokens(t *testing.T) {
	mc := compileCompat(catalog.Default(), sonnet45)
	inner := `{"anthropic_version":"2026-10-21","anthropic_beta":["x-2099-01-01"],"max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`
	wrap := func(b string) string {
		return `{"input":{"invokeModel":{"body":"` + base64.StdEncoding.EncodeToString([]byte(b)) + `"}}}`
	}
	got, changed, err := mc.adaptCountTokens([]byte(wrap(inner)), BetasDrop)
	if err != nil || changed == 0 {
		t.Fatalf("changed %d, err %v; want the inner body adapted", changed, err)
	}
	want := wrap(`{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`)
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	converse := `{"input":{"converse":{"messages":[{"role":"user","content":[{"text":"hi"}]}]}}}`
	if got, _, err := mc.adaptCountTokens([]byte(converse), BetasDrop); err != nil || string(got) != converse {
		t.Errorf("a Converse input: got %s, %v; want it untouched", got, err)
	}
	refused := wrap(`{"anthropic_version":"2026-10-21","max_tokens":10,"user_profile_id":"u","messages":[]}`)
	if _, _, err := mc.adaptCountTokens([]byte(refused), BetasDrop); err == nil || !strings.Contains(err.Message, "user_profile_id") {
		t.Errorf("got %v, want the inner body's refusal", err)
	}
}

func TestParseBetaPolicy(t *testing.T) {
	for in, want := range map[string]BetaPolicy{"": BetasDrop, "drop": BetasDrop, "pass": BetasPass, "reject": BetasReject} {
		if got, err := ParseBetaPolicy(in); err != nil || got != want {
			t.Errorf("ParseBetaPolicy(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseBetaPolicy("strip"); err == nil {
		t.Error("ParseBetaPolicy(strip): got nil error")
	}
}

// FuzzShim: the shim never panics, and what it sends is either the body itself or valid JSON when the body
// was.
func FuzzShim(f *testing.F) {
	f.Add([]byte(`{"anthropic_version":"2026-10-21","anthropic_beta":["a","interleaved-thinking-2025-05-14"],"max_tokens":10,"messages":[]}`))
	f.Add([]byte(`{"anthropic_beta":["x"]}`))
	f.Add([]byte(`{"anthropic_version":"2026-10-21","thinking":{"type":"enabled"}}`))
	f.Add([]byte(`{"input":{"invokeModel":{"body":"e30="}}}`))
	mc := compileCompat(catalog.Default(), sonnet45)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, p := range []BetaPolicy{BetasDrop, BetasPass, BetasReject} {
			got, changed, err := mc.adapt(body, p)
			if err == nil && changed != 0 && json.Valid(body) && !json.Valid(got) {
				t.Fatalf("adapt(%q) = %q: valid JSON in, invalid out", body, got)
			}
			mc.adaptCountTokens(body, p)
		}
	})
}

// BenchmarkShimAdapt is the shim's cost per attempt: nothing to do (the hot path, no allocation), a beta
// list that needs no change (scanned, not copied), and the rewrites.
func BenchmarkShimAdapt(b *testing.B) {
	mc := compileCompat(catalog.Default(), sonnet45)
	const msgs = `"messages":[{"role":"user","content":"hello hello hello hello hello hello hello hello"}]`
	for _, bc := range []struct{ name, body string }{
		{"none", `{"anthropic_version":"bedrock-2023-05-31","max_tokens":100,` + msgs + `}`},
		{"betas-ok", `{"anthropic_version":"bedrock-2023-05-31","anthropic_beta":["interleaved-thinking-2025-05-14"],"max_tokens":100,` + msgs + `}`},
		{"version", `{"anthropic_version":"2026-10-21","max_tokens":100,` + msgs + `}`},
		{"version+betas", `{"anthropic_version":"2026-10-21","anthropic_beta":["claude-code-20250219","x-2099-01-01"],"max_tokens":100,` + msgs + `}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			body := []byte(bc.body)
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := mc.adapt(body, BetasDrop); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
