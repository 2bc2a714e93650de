package setup

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// testRelayConfig is a relay config for the Function URL relay, with a value holding template sequences of
// both kinds of template (they must reach the function unchanged).
func testRelayConfig() map[string]any {
	return map[string]any{
		"auth": map[string]any{"mode": "keys", "keys": []any{
			map[string]any{"name": "team-a", "sha256": strings.Repeat("ab", 32), "models": []any{"*"}, "budgets": map[string]any{"requests_per_minute": 60}},
		}},
		"server":  map[string]any{"access_log": true},
		"routing": map[string]any{"anthropic_betas": "${not-a-substitution} %{nor-this}", "max_attempts": 3, "wait_for_capacity": "2s"},
		"targets": []any{map[string]any{"role_arn": seedTarget, "region": seedRegion, "models": []any{seedProfile}, "weight": 2.5}},
	}
}

func jsonRoundTrip(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestRelayConfigForLambda: the function's copy of a config keeps what the relay serves and leaves out the
// listener and the source of credentials, saying so.
func TestRelayConfigForLambda(t *testing.T) {
	cfg, notes, err := RelayConfigForLambda([]byte(`
auth: {mode: keys, keys: [{name: a, sha256: "` + strings.Repeat("0", 64) + `"}]}
server: {addr: "0.0.0.0:8443", tls_cert_file: /etc/cert.pem, access_log: false}
source: {endpoint: "https://vpce.example", region: eu-west-1}
targets: [{role_arn: "` + seedTarget + `", region: ap-northeast-1, models: [m]}]
`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"auth":    map[string]any{"mode": "keys", "keys": []any{map[string]any{"name": "a", "sha256": strings.Repeat("0", 64)}}},
		"server":  map[string]any{"access_log": false},
		"source":  map[string]any{"region": "eu-west-1"},
		"targets": []any{map[string]any{"role_arn": seedTarget, "region": "ap-northeast-1", "models": []any{"m"}}},
	}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if got := strings.Join(notes, "\n"); !strings.Contains(got, "server.addr, server.tls_cert_file") || !strings.Contains(got, "source.endpoint") {
		t.Errorf("notes %q: want the left-out keys named", got)
	}
	for name, bad := range map[string]string{"not YAML": "auth: [", "a non-string key": "targets: [{1: x}]"} {
		if _, _, err := RelayConfigForLambda([]byte(bad)); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
	cfg, notes, err = RelayConfigForLambda(nil)
	if err != nil || len(cfg) != 0 || len(notes) != 0 {
		t.Errorf("an empty file: %v %v %v, want an empty config", cfg, notes, err)
	}
}

// TestFunctionURLConfigEscapes: a config value that looks like a substitution reaches the function unchanged
// through CloudFormation's Fn::Sub.
func TestFunctionURLConfigEscapes(t *testing.T) {
	p, err := New(twoAccounts())
	if err != nil {
		t.Fatal(err)
	}
	files, err := CloudFormation(p, TemplateOptions{RelayConfig: testRelayConfig(), FunctionURL: true, SharedState: &SharedState{}})
	if err != nil {
		t.Fatal(err)
	}
	tpl := readTemplate(t, files[0].Body)
	fn := tpl.Resources["Function"].Properties
	sub := fn["Environment"].(map[string]any)["Variables"].(map[string]any)[RelayConfigVar].(map[string]any)["Fn::Sub"].(string)
	// What CloudFormation makes of it: ${!x} is a literal ${x}; the two substitutions are the cache's endpoint.
	resolved := strings.NewReplacer("${!", "${", "${Cache.Endpoint.Address}", "cache.example", "${Cache.Endpoint.Port}", "6379").Replace(sub)
	var got map[string]any
	if err := json.Unmarshal([]byte(resolved), &got); err != nil {
		t.Fatalf("%s: %v", resolved, err)
	}
	want := jsonRoundTrip(t, testRelayConfig())
	want["state"] = map[string]any{"backend": "redis", "redis": map[string]any{"addrs": []any{"cache.example:6379"}, "cluster": true, "tls": true}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the function's config after Fn::Sub (-want +got):\n%s", diff)
	}
	if strings.Count(sub, "${Cache.") != 2 {
		t.Errorf("Fn::Sub %s: want exactly the two endpoint substitutions", sub)
	}
	if _, err := CloudFormation(p, TemplateOptions{FunctionURL: true}); err == nil {
		t.Error("a Function URL without a relay config: want an error")
	}
}

// TestRelayConfigOddValues: YAML values JSON has no kind for (a timestamp) and numbers beyond float64's
// precision reach both templates as JSON would carry them, without a panic.
func TestRelayConfigOddValues(t *testing.T) {
	cfg, _, err := RelayConfigForLambda([]byte("auth: {mode: keys}\nwhen: 2026-12-01\nbig: 12345678901234567890\nbin: !!binary aGk=\n"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(twoAccounts())
	if err != nil {
		t.Fatal(err)
	}
	o := TemplateOptions{RelayConfig: cfg, FunctionURL: true}
	files, err := CloudFormation(p, o)
	if err != nil {
		t.Fatal(err)
	}
	tf, err := Terraform(p, o)
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"cloudformation": string(files[0].Body), "terraform": string(tf)} {
		for _, want := range []string{"2026-12-01T00:00:00Z", "12345678901234567890"} {
			if !strings.Contains(body, want) {
				t.Errorf("%s: no %s in the function's config", name, want)
			}
		}
	}
}
