package relay_test

import (
	"bufio"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/bedrock-relay/bedrock-relay"

// allowedImports reads the table under "## Import directions" in docs/DEVELOPING.md: package → the packages
// of this module it may import ("." is the root package).
func allowedImports(t *testing.T) map[string][]string {
	t.Helper()
	f, err := os.Open("docs/DEVELOPING.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	row := regexp.MustCompile("^\\| `([^`]+)` \\|(.*)\\|$")
	name := regexp.MustCompile("`([^`]+)`")
	allowed := map[string][]string{}
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			in = line == "## Import directions"
			continue
		}
		m := row.FindStringSubmatch(line)
		if !in || m == nil {
			continue
		}
		deps := []string{}
		for _, d := range name.FindAllStringSubmatch(m[2], -1) {
			deps = append(deps, d[1])
		}
		allowed[m[1]] = deps
	}
	if len(allowed) == 0 {
		t.Fatal(`docs/DEVELOPING.md has no "## Import directions" table`)
	}
	return allowed
}

// short is a package path as the table writes it: "." for the root, else relative to the module.
func short(path string) string {
	if path == module {
		return "."
	}
	return strings.TrimPrefix(path, module+"/")
}

// TestImportDirections holds every package's imports to the table in docs/DEVELOPING.md, so that a
// wrong-way import (the router reading config, openai knowing the router, a library linking the sandbox)
// fails here rather than in review.
func TestImportDirections(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatal("go is not on PATH")
	}
	allowed := allowedImports(t)
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}|{{join .Imports \" \"}}|{{join .Deps \" \"}}", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		parts := strings.SplitN(line, "|", 3)
		pkg := short(parts[0])
		if strings.HasPrefix(pkg, "cmd/") {
			continue
		}
		ok, listed := allowed[pkg]
		if !listed {
			t.Errorf("%s is not in the import table of docs/DEVELOPING.md: add its row", pkg)
			continue
		}
		for _, imp := range strings.Fields(parts[1]) {
			if imp != module && !strings.HasPrefix(imp, module+"/") {
				continue
			}
			if !slices.Contains(ok, short(imp)) {
				t.Errorf("%s imports %s, which docs/DEVELOPING.md does not allow (allowed: %s)", pkg, short(imp), strings.Join(ok, ", "))
			}
		}
		if pkg == "bench" || pkg == "internal/bench" || pkg == "sandbox" {
			continue
		}
		for _, dep := range strings.Fields(parts[2]) {
			if dep == module+"/sandbox" {
				t.Errorf("%s links the sandbox (through its imports); only cmd/, bench/ and tests may", pkg)
			}
		}
	}
}
