package sandbox

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// BotocoreModel is botocore's Bedrock Runtime service model (data/bedrock-runtime/2023-09-30/service-2.json.gz),
// the part of it the tests read. It is exported for the external tests (conformance_test.go).
type BotocoreModel struct {
	Metadata struct {
		APIVersion string `json:"apiVersion"`
	} `json:"metadata"`
	Operations map[string]struct {
		HTTP struct {
			Method     string `json:"method"`
			RequestURI string `json:"requestUri"`
		} `json:"http"`
		Output *struct {
			Shape string `json:"shape"`
		} `json:"output"`
		Errors []struct {
			Shape string `json:"shape"`
		} `json:"errors"`
	} `json:"operations"`
	Shapes map[string]struct {
		Exception   bool `json:"exception"`
		Eventstream bool `json:"eventstream"`
		Error       *struct {
			HTTPStatusCode int `json:"httpStatusCode"`
		} `json:"error"`
		Members map[string]struct {
			Shape string `json:"shape"`
		} `json:"members"`
	} `json:"shapes"`
}

// LoadBotocoreModel reads the model from the botocore python3 imports. Without botocore it skips, or fails
// when CI is set (.ci/install-deps installs boto3).
func LoadBotocoreModel(t testing.TB) *BotocoreModel {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		what := fmt.Sprintf(format, args...)
		if os.Getenv("CI") != "" {
			t.Fatalf("%s, and CI is set: run .ci/install-deps", what)
		}
		t.Skipf("%s (run .ci/install-deps); skipping outside CI", what)
	}
	out, err := exec.Command("python3", "-c", "import botocore, os; print(os.path.dirname(botocore.__file__))").Output()
	if err != nil {
		missing("botocore is missing (python3 -c 'import botocore': %v)", err)
	}
	path := filepath.Join(strings.TrimSpace(string(out)), "data", "bedrock-runtime", "2023-09-30", "service-2.json.gz")
	f, err := os.Open(path)
	if err != nil {
		missing("botocore has no Bedrock Runtime model: %v", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var m BotocoreModel
	if err := json.NewDecoder(zr).Decode(&m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(m.Operations) == 0 {
		t.Fatalf("%s: no operations", path)
	}
	return &m
}

// OperationNames are the model's operations, sorted.
func (m *BotocoreModel) OperationNames() []string { return slices.Sorted(maps.Keys(m.Operations)) }

// Errors are the error shapes op declares, sorted.
func (m *BotocoreModel) Errors(op string) []string {
	var out []string
	for _, e := range m.Operations[op].Errors {
		out = append(out, e.Shape)
	}
	slices.Sort(out)
	return out
}

// StreamExceptions maps the exception members of op's output event stream (the :exception-type of a frame)
// to their shapes; nil for an operation without an output stream.
func (m *BotocoreModel) StreamExceptions(op string) map[string]string {
	o := m.Operations[op].Output
	if o == nil {
		return nil
	}
	for _, mem := range m.Shapes[o.Shape].Members {
		union := m.Shapes[mem.Shape]
		if !union.Eventstream {
			continue
		}
		out := map[string]string{}
		for name, ev := range union.Members {
			if m.Shapes[ev.Shape].Exception {
				out[name] = ev.Shape
			}
		}
		return out
	}
	return nil
}

// Status is the HTTP status the model gives an error shape (0: none).
func (m *BotocoreModel) Status(shape string) int {
	if e := m.Shapes[shape].Error; e != nil {
		return e.HTTPStatusCode
	}
	return 0
}

// TestOperationTable keeps bedrockOperations and bedrockErrorStatus botocore's: every operation, the errors
// each declares, the exception events of each stream and every error's status.
func TestOperationTable(t *testing.T) {
	m := LoadBotocoreModel(t)
	ops := map[string]bedrockOperation{}
	statuses := map[string]int{}
	for _, name := range m.OperationNames() {
		var op bedrockOperation
		op.Errors = m.Errors(name)
		for _, shape := range op.Errors {
			statuses[shape] = m.Status(shape)
		}
		for member, shape := range m.StreamExceptions(name) {
			// writeException names the frame's :exception-type after the code; botocore reads it as the member.
			if member != lowerFirst(shape) {
				t.Errorf("%s: stream member %s is shape %s, want the shape's name with a lower-case first letter", name, member, shape)
			}
			op.StreamErrors = append(op.StreamErrors, shape)
			statuses[shape] = m.Status(shape)
		}
		slices.Sort(op.StreamErrors)
		ops[name] = op
	}
	if diff := cmp.Diff(ops, bedrockOperations); diff != "" {
		t.Errorf("bedrockOperations is not botocore's model (-botocore +table):\n%s\nThe table as botocore has it, for operations.go:\n%s", diff, renderOperations(ops))
	}
	if diff := cmp.Diff(statuses, bedrockErrorStatus); diff != "" {
		t.Errorf("bedrockErrorStatus is not botocore's model (-botocore +table):\n%s", diff)
	}

	// Every operation is faultable but the one the sandbox does not emulate.
	notEmulated := []string{"InvokeModelWithBidirectionalStream"}
	for name := range bedrockOperations {
		if !slices.Contains(faultOperations[faultBedrock], name) && !slices.Contains(notEmulated, name) {
			t.Errorf("%s is in bedrockOperations but not in faultOperations", name)
		}
	}
	for _, name := range faultOperations[faultBedrock] {
		if _, ok := bedrockOperations[name]; !ok {
			t.Errorf("faultOperations has %s, which Bedrock Runtime's model does not", name)
		}
	}
}

func renderOperations(ops map[string]bedrockOperation) string {
	quote := func(codes []string) string {
		q := make([]string, len(codes))
		for i, c := range codes {
			q[i] = fmt.Sprintf("%q", c)
		}
		return "[]string{" + strings.Join(q, ", ") + "}"
	}
	var b strings.Builder
	b.WriteString("var bedrockOperations = map[string]bedrockOperation{\n")
	for _, name := range slices.Sorted(maps.Keys(ops)) {
		fmt.Fprintf(&b, "\t%q: {\n\t\tErrors: %s,\n", name, quote(ops[name].Errors))
		if len(ops[name].StreamErrors) > 0 {
			fmt.Fprintf(&b, "\t\tStreamErrors: %s,\n", quote(ops[name].StreamErrors))
		}
		b.WriteString("\t},\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// DeclaredErrors is bedrockOperations for the external tests: the errors op declares, and the exception
// events of its stream (nil for an operation without one).
func DeclaredErrors(op string) (errs, streamErrs []string) {
	o := bedrockOperations[op]
	return slices.Clone(o.Errors), slices.Clone(o.StreamErrors)
}

// DeclaredStatus is the HTTP status the service model gives an error code, for the external tests.
func DeclaredStatus(code string) int { return bedrockErrorStatus[code] }
