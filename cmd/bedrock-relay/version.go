package main

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
)

func init() {
	register(command{name: "version", synopsis: "print the module version and VCS commit this binary was built from (also --version)", run: runVersion})
}

func runVersion(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "version", "version")
	if err := fs.parseNoArgs(args); err != nil {
		return err
	}
	var bi *debug.BuildInfo
	if info, ok := debug.ReadBuildInfo(); ok {
		bi = info
	}
	fmt.Fprintln(e.stdout, versionLine(bi))
	return nil
}

// versionLine says what the go command stamped into the binary: the main module's path and version, "(devel)"
// when it had none to stamp (go run, go test, a build outside a tagged checkout), and the VCS revision, which
// is what tells two (devel) builds apart.
func versionLine(bi *debug.BuildInfo) string {
	if bi == nil {
		return "bedrock-relay (devel), built without module information"
	}
	path, version := bi.Main.Path, bi.Main.Version
	if path == "" {
		path = "bedrock-relay"
	}
	if version == "" {
		version = "(devel)"
	}
	var revision, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", path, version)
	if revision == "" {
		b.WriteString(", commit unknown (not built from a VCS checkout)")
	} else {
		fmt.Fprintf(&b, ", commit %s", revision)
		if modified == "true" {
			b.WriteString(" with uncommitted changes")
		}
	}
	if bi.GoVersion != "" {
		fmt.Fprintf(&b, ", %s", bi.GoVersion)
	}
	return b.String()
}
