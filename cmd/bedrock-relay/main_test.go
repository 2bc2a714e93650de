package main

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"runtime/debug"
	"sort"
	"strings"
	"testing"
)

// runCLI runs the CLI in-process with an empty environment, as main does, and returns what it printed and
// its exit code.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, func(string) string { return "" }, strings.NewReader(""), &out, &errOut)
	code = exitCode(err, &errOut) // it prints what main would
	return out.String(), errOut.String(), code
}

// commandNames lists the registered subcommands, so that a new one is covered by these tests without edits.
func commandNames() []string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// flagLine matches a flag as flag.PrintDefaults lists it: "  -name".
var flagLine = regexp.MustCompile(`(?m)^  -[a-z][a-z0-9-]*`)

// noFlags are the subcommands without flags of their own; their -h prints the usage line only.
var noFlags = map[string]bool{"version": true}

func TestHelp(t *testing.T) {
	for _, name := range commandNames() {
		for _, args := range [][]string{{name, "-h"}, {name, "--help"}, {"help", name}} {
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				stdout, stderr, code := runCLI(t, args...)
				if code != 0 {
					t.Fatalf("exit code %d, want 0\nstderr: %s", code, stderr)
				}
				if stdout != "" {
					t.Errorf("stdout = %q, want the usage on stderr only", stdout)
				}
				if !strings.Contains(stderr, "usage: bedrock-relay "+name) {
					t.Errorf("stderr lacks %q:\n%s", "usage: bedrock-relay "+name, stderr)
				}
				if !noFlags[name] && !flagLine.MatchString(stderr) {
					t.Errorf("stderr lists no flags:\n%s", stderr)
				}
			})
		}
	}
}

// TestHelpSubcommands asks for the flags of the subcommands below a command.
func TestHelpSubcommands(t *testing.T) {
	for _, args := range [][]string{
		{"keys", "new", "-h"},
		{"policy", "trust", "-h"},
		{"policy", "permissions", "-h"},
		{"policy", "caller", "-h"},
		{"template", "cloudformation", "-h"},
		{"template", "terraform", "-h"},
		{"sandbox", "env", "-h"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			_, stderr, code := runCLI(t, args...)
			if code != 0 || !flagLine.MatchString(stderr) {
				t.Errorf("exit code %d, want 0 with the flags listed:\n%s", code, stderr)
			}
		})
	}
}

func TestTopLevelHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}} {
		_, stderr, code := runCLI(t, args...)
		if code != 0 {
			t.Errorf("%q: exit code %d, want 0", args, code)
		}
		for _, name := range commandNames() {
			if !strings.Contains(stderr, "  "+name+" ") {
				t.Errorf("%q: the command list lacks %s:\n%s", args, name, stderr)
			}
		}
	}
	if _, _, code := runCLI(t); code != 2 {
		t.Errorf("no arguments: exit code %d, want 2", code)
	}
}

func TestUnknownFlag(t *testing.T) {
	for _, name := range commandNames() {
		t.Run(name, func(t *testing.T) {
			_, stderr, code := runCLI(t, name, "--no-such-flag")
			if code != 2 {
				t.Errorf("exit code %d, want 2\nstderr: %s", code, stderr)
			}
			if !strings.Contains(stderr, "no-such-flag") {
				t.Errorf("stderr does not name the flag:\n%s", stderr)
			}
		})
	}
}

func TestUnknownCommand(t *testing.T) {
	for _, args := range [][]string{{"bogus"}, {"help", "bogus"}} {
		_, stderr, code := runCLI(t, args...)
		if code != 2 || !strings.Contains(stderr, `unknown command "bogus"`) {
			t.Errorf("%q: exit code %d, want 2 naming the command:\n%s", args, code, stderr)
		}
	}
}

// TestUnexpectedArguments: an argument a command does not take is an error naming it, before the command
// does anything (sandbox and serve would otherwise start serving).
func TestUnexpectedArguments(t *testing.T) {
	tests := [][]string{
		{"sandbox", "bogus"},
		{"sandbox", "--addr", "127.0.0.1:0", "bogus"},
		{"sandbox", "env", "bogus"},
		{"serve", "--sandbox", "bogus"},
		{"demo", "bogus"},
		{"keys", "new", "team-a", "bogus"},
		{"keys", "new", "--models", "*", "team-a", "bogus"},
		{"keys", "bogus"},
		{"check", "--role-arn", seedTargetARN, "bogus"},
		{"policy", "trust", "--caller-role-arn", seedCallerARN, "bogus"},
		{"policy", "permissions", "--target-account", "222222222222", "--model", seedProfileID, "--region", "ap-northeast-1", "bogus"},
		{"policy", "caller", "--target-role-arn", seedTargetARN, "bogus"},
		{"policy", "--config", "testdata/policy-relay.yaml", "--caller-role-arn", seedCallerARN, "bogus"},
		{"template", "terraform", "--config", "testdata/policy-relay.yaml", "--caller-role-arn", seedCallerARN, "bogus"},
		{"template", "bogus"},
		{"version", "bogus"},
		{"help", "version", "bogus"},
	}
	for _, args := range tests {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			stdout, stderr, code := runCLI(t, args...)
			if code != 2 {
				t.Errorf("exit code %d, want 2\nstdout: %s\nstderr: %s", code, stdout, stderr)
			}
			if !strings.Contains(stderr, `"bogus"`) {
				t.Errorf("stderr does not name the argument:\n%s", stderr)
			}
		})
	}
}

// TestUsageErrorsExit2: flags the command cannot use, missing or with a bad value, exit 2 with the reason.
func TestUsageErrorsExit2(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"policy", "trust"}, "--caller-role-arn is required"},
		{[]string{"policy", "trust", "--caller-role-arn", "lambda-execution-role"}, "is not a role ARN"},
		{[]string{"policy", "permissions", "--model", seedProfileID, "--region", "ap-northeast-1"}, "12-digit"},
		{[]string{"policy", "permissions", "--target-account", "222222222222", "--model", seedProfileID, "--region", "us-east-1"}, "jp. profiles cannot be called from us-east-1"},
		{[]string{"policy", "caller", "--target-role-arn", "nope"}, "--target-role-arn"},
		{[]string{"policy"}, "name a document"},
		{[]string{"template", "cloudformation", "--config", "testdata/policy-relay.yaml", "--caller-role-arn", seedCallerARN, "--arch", "sparc"}, "want arm64 or x86_64"},
		{[]string{"demo", "--burst", "0"}, "--burst 0"},
		{[]string{"invoke", "--role-arn", "arn:aws:iam::2222:role/x", "hello"}, "role ARN"},
		{[]string{"keys"}, "usage: bedrock-relay keys new NAME"},
		{[]string{"check"}, "--role-arn (or $TARGET_ROLE_ARN)"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, stderr, code := runCLI(t, tt.args...)
			if code != 2 {
				t.Errorf("exit code %d, want 2\nstderr: %s", code, stderr)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr lacks %q:\n%s", tt.want, stderr)
			}
		})
	}
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		code    int
		printed string
	}{
		{"nil", nil, 0, ""},
		{"usage, already printed", errUsage, 2, ""},
		{"usage with its message", usagef("policy trust: --caller-role-arn: %w", errors.New("not a role ARN")), 2, "bedrock-relay: policy trust: --caller-role-arn: not a role ARN\n"},
		{"failure", errors.New("check: 1 step(s) failed"), 1, "bedrock-relay: check: 1 step(s) failed\n"},
		{"interrupted", context.Canceled, 130, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if got := exitCode(tt.err, &stderr); got != tt.code {
				t.Errorf("got exit code %d, want %d", got, tt.code)
			}
			if stderr.String() != tt.printed {
				t.Errorf("printed %q, want %q", stderr.String(), tt.printed)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		stdout, stderr, code := runCLI(t, args...)
		if code != 0 {
			t.Fatalf("%q: exit code %d, want 0\nstderr: %s", args, code, stderr)
		}
		if !strings.Contains(stdout, "github.com/bedrock-relay/bedrock-relay") && !strings.Contains(stdout, "(devel)") {
			t.Errorf("%q: stdout = %q, want the module path or (devel)", args, stdout)
		}
	}
}

func TestVersionLine(t *testing.T) {
	const mod = "github.com/bedrock-relay/bedrock-relay"
	const rev = "3ac2a15b0c1d2e3f405162738495a6b7c8d9e0f1"
	tests := []struct {
		name string
		bi   *debug.BuildInfo
		want string
	}{
		{"no build info", nil, "bedrock-relay (devel), built without module information"},
		{"go run", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: mod, Version: "(devel)"}},
			mod + " (devel), commit unknown (not built from a VCS checkout), go1.26.0"},
		{"go build in a clean checkout", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: mod, Version: "v0.3.0"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: "false"}}},
			mod + " v0.3.0, commit " + rev + ", go1.26.0"},
		{"go build with uncommitted changes", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: mod, Version: ""},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: "true"}}},
			mod + " (devel), commit " + rev + " with uncommitted changes, go1.26.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := versionLine(tt.bi); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
