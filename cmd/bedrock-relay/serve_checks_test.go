package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

// A config that validates but cannot serve fails before serve claims to serve.
func TestServeFailsBeforeItsBanner(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "relay.yaml")
	cfg := "server:\n  addr: 127.0.0.1:0\n  admin_addr: \"\"\n  tls_cert_file: " + filepath.Join(dir, "missing.crt") +
		"\n  tls_key_file: " + filepath.Join(dir, "missing.key") + "\nauth:\n  mode: none\nsource:\n  endpoint: http://127.0.0.1:1\n" +
		"targets:\n  - name: t\n    role_arn: " + sandbox.TargetRoleARN(sandbox.LargeAccount) + "\n    region: ap-northeast-1\n    models: [" + sandbox.SeedProfile + "]\n"
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"serve", "--config", path}, noEnv, strings.NewReader(""), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "tls_cert_file") {
		t.Fatalf("got %v, want an error naming server.tls_cert_file", err)
	}
	if strings.Contains(stdout.String(), "serving") {
		t.Errorf("serve printed its banner before failing:\n%s", stdout.String())
	}
}

// --log-format picks one format for every line of the process, the access log's included; a bad value is
// a usage error.
func TestServeLogFormat(t *testing.T) {
	for _, bad := range [][]string{{"--log-format", "xml"}, {"--log-level", "loud"}} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), append([]string{"serve", "--sandbox"}, bad...), noEnv, strings.NewReader(""), &stdout, &stderr)
		if code := exitCode(err, &stderr); code != 2 {
			t.Errorf("serve %v: exit %d, want 2", bad, code)
		}
	}
	_, _, stderr, stop := startServe(t, []string{"serve", "--sandbox", "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--log-format", "text"}, noEnv)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		if strings.HasPrefix(line, "{") {
			t.Errorf("a JSON line under --log-format text: %s", line)
		}
	}
}
