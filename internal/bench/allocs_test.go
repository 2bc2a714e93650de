package bench

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// allocsFile holds the allocations per request recorded for each in-process path (BenchmarkInProcess's
// cases, relay and proxy): the guard below fails when a path grows past its figure.
const allocsFile = "testdata/allocs.tsv"

// allocSlack is how far over its recorded figure a path may measure: sync.Pool emptied by a collection
// during the run, nothing more.
func allocSlack(recorded float64) float64 { return recorded*1.03 + 2 }

// TestAllocationsPerRequest is the regression guard on the hot paths: the allocations per request of each
// path, measured with testing.AllocsPerRun (a count, not a time, so it holds on a busy machine), may not
// grow past the figure in testdata/allocs.tsv. Lowered on purpose, the figures are written again with
// BENCH_UPDATE_ALLOCS=1 go test ./internal/bench -run TestAllocationsPerRequest.
// `make test` runs it without -race (under the race detector it is skipped: see raceEnabled).
func TestAllocationsPerRequest(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts under the race detector are not the relay's; make test runs this without -race")
	}
	recorded, err := readAllocs(allocsFile)
	if err != nil && os.Getenv("BENCH_UPDATE_ALLOCS") == "" {
		t.Fatalf("%v (write it with BENCH_UPDATE_ALLOCS=1)", err)
	}
	measured := map[string]float64{}
	for _, c := range inProcessCases(t) {
		hdr := inProcessHeader(c.op)
		for _, sys := range inProcessSystems(t, c) {
			name := c.name + "/" + sys.name
			if n := serveOnce(t, sys.h, inProcessPath(c.op), c.op.body, hdr); n == 0 {
				t.Fatalf("%s: empty answer", name)
			}
			got := testing.AllocsPerRun(200, func() { serveOnce(t, sys.h, inProcessPath(c.op), c.op.body, hdr) })
			measured[name] = got
			want, ok := recorded[name]
			switch {
			case !ok:
				if os.Getenv("BENCH_UPDATE_ALLOCS") == "" {
					t.Errorf("%s: %.0f allocations per request, and no figure recorded for it in %s", name, got, allocsFile)
				}
			case got > allocSlack(want):
				t.Errorf("%s: %.0f allocations per request, up from the recorded %.0f: find the new ones with "+
					"go test ./internal/bench -run XXX -bench 'InProcess/%s' -memprofile /tmp/mem && go tool pprof -sample_index=alloc_objects -top /tmp/mem",
					name, got, want, c.name)
			case got < 0.9*want:
				t.Logf("%s: %.0f allocations per request, down from the recorded %.0f: record it (BENCH_UPDATE_ALLOCS=1)", name, got, want)
			}
		}
	}
	if os.Getenv("BENCH_UPDATE_ALLOCS") != "" {
		if err := writeAllocs(allocsFile, measured); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", allocsFile)
	}
}

func readAllocs(path string) (map[string]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, v, ok := strings.Cut(line, "\t")
		n, err := strconv.ParseFloat(v, 64)
		if !ok || err != nil {
			return nil, fmt.Errorf("%s: bad line %q: want path<TAB>allocations", path, line)
		}
		out[name] = n
	}
	return out, sc.Err()
}

func writeAllocs(path string, m map[string]float64) error {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("# allocations per request of each in-process path (BenchmarkInProcess), the ceiling TestAllocationsPerRequest holds\n")
	for _, n := range names {
		fmt.Fprintf(&b, "%s\t%.0f\n", n, m[n])
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
