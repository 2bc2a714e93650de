package main

import (
	"bufio"
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

// docBlock is a fenced shell block of a document, marked runnable: "```sh runnable".
type docBlock struct {
	file   string
	line   int
	script string
}

// runnableBlocks reads the runnable shell blocks of README.md and docs/*.md.
func runnableBlocks(t *testing.T, root string) []docBlock {
	t.Helper()
	files := []string{filepath.Join(root, "README.md")}
	more, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	files = append(files, more...)
	var blocks []docBlock
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		n, in := 0, false
		var b docBlock
		for sc.Scan() {
			n++
			line := sc.Text()
			switch {
			case !in && strings.TrimSpace(line) == "```sh runnable":
				in, b = true, docBlock{file: strings.TrimPrefix(f, root+"/"), line: n}
			case in && strings.TrimSpace(line) == "```":
				in = false
				blocks = append(blocks, b)
			case in:
				b.script += line + "\n"
			}
		}
		fh.Close()
	}
	return blocks
}

// TestDocsCommands runs every shell block of README.md and docs/*.md marked runnable, as written, against a
// sandbox and `serve --sandbox`, so that a documented command that stops working fails here. The only changes
// made to a block: `go run ./cmd/bedrock-relay` is the built command (the same program, built once), `sandbox
// env` names the test's sandbox address, the documented relay address 127.0.0.1:8080 (admin 127.0.0.1:9090) is
// the test relay's, and the placeholder key brk-... is a key (serve --sandbox takes any). go install installs
// into a directory of the test's.
func TestDocsCommands(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	blocks := runnableBlocks(t, root)
	if len(blocks) == 0 {
		t.Fatal("no runnable shell blocks in README.md or docs/*.md")
	}
	bin := filepath.Dir(relayBinary(t))
	sb, err := sandbox.New(sandbox.DefaultScenario())
	if err != nil {
		t.Fatal(err)
	}
	sbSrv := httptest.NewServer(sb)
	defer sbSrv.Close()
	relay, admin, relayLog, _ := startServe(t, []string{"serve", "--sandbox", "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"}, noEnv)

	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "PATH=") {
			env = append(env, kv)
		}
	}
	// go install puts its binary in GOBIN, here the test's own directory rather than the developer's.
	env = append(env, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "GOBIN="+t.TempDir())
	for _, b := range blocks {
		t.Run(b.file+":"+strconv.Itoa(b.line), func(t *testing.T) {
			script := strings.NewReplacer(
				"go run ./cmd/bedrock-relay", "bedrock-relay",
				"sandbox env", "sandbox env --addr "+strings.TrimPrefix(sbSrv.URL, "http://"),
				"http://127.0.0.1:8080", relay,
				"http://127.0.0.1:9090", admin,
				"brk-...", "brk-docs-test-key",
			).Replace(b.script)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // make lambda links four zips
			defer cancel()
			cmd := exec.CommandContext(ctx, "sh", "-e", "-c", script)
			cmd.Dir, cmd.Env = root, env
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("%s:%d as written fails: %v\nscript:\n%s\noutput:\n%s\nrelay log:\n%s", b.file, b.line, err, script, out, tail(relayLog.String(), 2048))
			}
		})
	}
}
