package sandbox_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

// TestOutputBoto3 and TestOutputJS read what the answers say beyond their text with boto3 and the JS SDK
// (clients/boto3_output_check.py, clients/js_output_check.mjs): cache usage across calls (a write, a read,
// a write again once the TTL has passed on the sandbox's clock), the tier echoed, every stop directive, and the
// refusals of bad input with their exception class and status.
func TestOutputBoto3(t *testing.T) {
	_, err := exec.LookPath("python3")
	needTool(t, err == nil, "python3")
	needTool(t, exec.Command("python3", "-c", "import boto3").Run() == nil, "boto3")
	checkOutputClient(t, "python3", "clients/boto3_output_check.py")
}

func TestOutputJS(t *testing.T) {
	_, err := exec.LookPath("node")
	needTool(t, err == nil, "node")
	_, err = os.Stat("clients/node_modules/@aws-sdk/client-bedrock-runtime")
	needTool(t, err == nil, "sandbox/clients/node_modules (.ci/install-js-deps)")
	checkOutputClient(t, "node", "clients/js_output_check.mjs")
}

// startSandboxAt is startSandbox on a clock of the test's.
func startSandboxAt(t *testing.T, clock func() time.Time) (*sandbox.Sandbox, string) {
	t.Helper()
	sb, err := sandbox.New(nil, sandbox.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(sb)
	ts.Config.Protocols = new(http.Protocols) // the JS client speaks HTTP/2 with prior knowledge (see startSandbox)
	ts.Config.Protocols.SetHTTP1(true)
	ts.Config.Protocols.SetUnencryptedHTTP2(true)
	ts.Start()
	t.Cleanup(ts.Close)
	return sb, ts.URL
}

type clientCacheUsage struct {
	Input       int    `json:"input"`
	Read        int    `json:"read"`
	Write       int    `json:"write"`
	HeaderRead  string `json:"header_read,omitempty"`
	HeaderWrite string `json:"header_write,omitempty"`
}

func checkOutputClient(t *testing.T, name, script string) {
	clock, advance := manualClock()
	sb, url := startSandboxAt(t, clock)
	env := clientEnv(t, url, sb, "TARGET_ROLE_ARN="+sandbox.TargetRoleARN(sandbox.LargeAccount), "MODEL_ID="+sandbox.SeedProfile, "PYTHONIOENCODING=utf-8")
	// run runs the script once (a client starts slowly) for checks, whose results it decodes into into.
	run := func(checks []string, into ...any) {
		t.Helper()
		out := runClient(t, env, name, append([]string{script}, checks...)...)
		var results []json.RawMessage
		if err := json.Unmarshal(out, &results); err != nil || len(results) != len(into) {
			t.Fatalf("%s %v printed %s: %v", script, checks, out, err)
		}
		for i, r := range results {
			if err := json.Unmarshal(r, into[i]); err != nil {
				t.Fatalf("%s %s printed %s: %v", script, checks[i], r, err)
			}
		}
	}
	type refusal struct {
		Class   *string `json:"class"`
		Code    string  `json:"code"`
		Status  int     `json:"status"`
		Message string  `json:"message"`
	}
	var (
		first, second, third map[string]clientCacheUsage
		echo                 map[string][]string
		stops                map[string]map[string]string
		bad                  map[string]refusal
	)
	run([]string{"cache", "cache", "echo", "stops", "bad"}, &first, &second, &echo, &stops, &bad)
	advance(5*time.Minute + time.Second)
	run([]string{"cache"}, &third)

	// Both calls have the 3 tokens of framing and the 1,500-token system prompt before the cache point; the
	// question's turn ("what is cached?", 3 words) adds 4 + 3.
	write := map[string]clientCacheUsage{"converse": {7, 0, 1503, "", ""}, "invoke": {7, 0, 1503, "0", "1503"}}
	read := map[string]clientCacheUsage{"converse": {7, 1503, 0, "", ""}, "invoke": {7, 1503, 0, "1503", "0"}}
	for i, c := range []struct{ got, want map[string]clientCacheUsage }{{first, write}, {second, read}, {third, write}} {
		if diff := cmp.Diff(c.want, c.got); diff != "" {
			t.Errorf("cache call %d (-want +got):\n%s", i+1, diff)
		}
	}

	if diff := cmp.Diff(map[string][]string{"converse": {"optimized", "flex"}, "converse_stream": {"standard", "priority"},
		"invoke_model": {"optimized", "default"}}, echo); diff != "" {
		t.Errorf("echo (-want +got):\n%s", diff)
	}

	wantStops := map[string]map[string]string{
		"converse": {"content_filtered": "content_filtered", "refusal": "content_filtered", "malformed_model_output": "malformed_model_output",
			"malformed_tool_use": "malformed_tool_use", "model_context_window_exceeded": "model_context_window_exceeded", "pause_turn": "end_turn"},
		"invoke_model": {"content_filtered": "refusal", "refusal": "refusal", "malformed_model_output": "end_turn",
			"malformed_tool_use": "end_turn", "model_context_window_exceeded": "model_context_window_exceeded", "pause_turn": "pause_turn"},
	}
	if diff := cmp.Diff(wantStops, stops); diff != "" {
		t.Errorf("stop reasons (-want +got):\n%s", diff)
	}

	enum := func(value, path, set string) string {
		return "1 validation error detected: Value '" + value + "' at '" + path + "' failed to satisfy constraint: Member must satisfy enum value set: [" + set + "]"
	}
	wantBad := map[string]string{
		"bad cachePoint type":   enum("ephemeral", "system.2.member.cachePoint.type", "default"),
		"bad cachePoint ttl":    enum("2h", "system.2.member.cachePoint.ttl", "5m, 1h"),
		"bad cache_control ttl": "system.0.cache_control.ephemeral.ttl: Input should be '5m' or '1h'",
		"bad latency":           enum("fast", "performanceConfig.latency", "standard, optimized"),
		"bad service tier":      enum("gold", "serviceTier.type", "priority, default, flex, reserved"),
		"bad tier header":       enum("gold", "serviceTier", "priority, default, flex, reserved"),
	}
	for k, msg := range wantBad {
		got, ok := bad[k]
		switch {
		case !ok || got.Class == nil:
			t.Errorf("%s: got %+v, want a ValidationException", k, got)
		case *got.Class != "ValidationException" || got.Code != "ValidationException" || got.Status != 400 || got.Message != msg:
			t.Errorf("%s: got %s %s %d %q; want ValidationException ValidationException 400 %q", k, *got.Class, got.Code, got.Status, got.Message, msg)
		}
	}
}
