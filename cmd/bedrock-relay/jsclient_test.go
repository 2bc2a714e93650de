package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

// needJSTool skips a test whose tool is missing, unless CI is set: then the missing tool is a failure, since
// .ci/install-deps should have installed it.
func needJSTool(t *testing.T, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed, and CI is set: .ci/install-deps should have installed it", what)
	}
	t.Skipf("%s is not installed; skipping (the test fails instead when CI is set)", what)
}

// The AWS SDK for JavaScript v3 with its default request handler speaks HTTP/2 with prior knowledge to an
// http:// Bedrock Runtime endpoint; the relay's plain listener answers it (and HTTP/1.1 clients alike).
func TestJSClientDefaultHandlerOverPlainHTTP(t *testing.T) {
	_, err := exec.LookPath("node")
	needJSTool(t, err == nil, "node")
	_, err = os.Stat("../../sandbox/clients/node_modules/@aws-sdk/client-bedrock-runtime")
	needJSTool(t, err == nil, "sandbox/clients/node_modules (.ci/install-js-deps)")
	endpoint, _, stderr, _ := startServe(t, []string{"serve", "--sandbox", "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"}, noEnv)
	cmd := exec.Command("node", "../../sandbox/clients/relay_js_check.mjs")
	// No AWS_BEARER_TOKEN_BEDROCK at all: set, even empty, it switches the SDK to bearer auth.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "RELAY_ENDPOINT="+endpoint, "MODEL_ID="+sandbox.SeedProfile)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("node: %v\n%s\nrelay stderr: %s", err, ee.Stderr, stderr.String())
		}
		t.Fatal(err)
	}
	var got map[string]string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got["handler"] != "NodeHttp2Handler" {
		t.Errorf("the client used %s; this test is about the default HTTP/2 handler", got["handler"])
	}
	for _, k := range []string{"invoke_model", "invoke_model_with_response_stream", "converse", "converse_stream"} {
		if got[k] == "" {
			t.Errorf("%s: empty answer (%s)", k, out)
		}
	}
	if got["converse_stream_stop"] == "" {
		t.Errorf("ConverseStream ended without messageStop (%s)", out)
	}
}
