package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bedrock-relay/bedrock-relay/internal/httpapi"
	ledger "github.com/bedrock-relay/bedrock-relay/usage"
)

// fakeUsageAdmin serves a canned usage report on /usage, recording the query it was asked.
func fakeUsageAdmin(t *testing.T, status int, body string) (*httptest.Server, *string) {
	t.Helper()
	var query string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/usage" {
			http.NotFound(w, r)
			return
		}
		query = r.URL.RawQuery
		w.WriteHeader(status)
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv, &query
}

// TestUsageTable: `usage` prints the admin endpoint's report as a table (golden file), passes its flags on
// as the endpoint's parameters, and --csv prints the relay's CSV as it is.
func TestUsageTable(t *testing.T) {
	rep := httpapi.UsageReport{From: "2026-12-01", To: "2026-12-02", GroupBy: []string{"key", "model"}, Rows: []ledger.Row{
		{Key: "batch-jobs", Model: "anthropic.claude-haiku-4-5-20251001-v1:0", Requests: 12840, Errors: 3, InputTokens: 9_120_400, OutputTokens: 1_200_000,
			CacheReadTokens: 40_000_000, CostUSD: 19.1204},
		{Key: "team-chat", Model: "anthropic.claude-sonnet-4-5-20250929-v1:0", Requests: 412, InputTokens: 310_200, OutputTokens: 98_100,
			CacheWriteTokens: 52_000, CostUSD: 2.6961},
		{Key: "", Model: "amazon.nova-pro-v1:0", Requests: 2, InputTokens: 40, OutputTokens: 10, Unpriced: 2},
	}}
	for _, r := range rep.Rows {
		rep.Total.Merge(r)
	}
	b, _ := json.Marshal(rep)
	srv, query := fakeUsageAdmin(t, 200, string(b))
	out, errOut, code := runCLI(t, "usage", "--admin", srv.URL, "--from", "2026-12-01", "--to", "2026-12-02")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	golden(t, "usage-table.golden", out)
	if *query != "from=2026-12-01&group_by=key%2Cmodel&to=2026-12-02" {
		t.Errorf("asked %q", *query)
	}

	srv, query = fakeUsageAdmin(t, 200, "day,key\n2026-12-02,team-chat\n")
	out, _, code = runCLI(t, "usage", "--admin", srv.URL+"/metrics", "--csv", "--key", "team-chat", "--group-by", "day,key")
	if code != 0 || out != "day,key\n2026-12-02,team-chat\n" || !strings.Contains(*query, "format=csv") || !strings.Contains(*query, "key=team-chat") {
		t.Errorf("--csv: exit %d, %q, asked %q", code, out, *query)
	}

	empty, _ := json.Marshal(httpapi.UsageReport{From: "2026-12-02", To: "2026-12-02", GroupBy: []string{"key", "model"}})
	srv, _ = fakeUsageAdmin(t, 200, string(empty))
	if out, _, _ := runCLI(t, "usage", "--admin", srv.URL); !strings.Contains(out, "No requests in this period.") {
		t.Errorf("an empty period: %q", out)
	}
}

// TestUsageErrors: what `usage` says when it cannot get a report.
func TestUsageErrors(t *testing.T) {
	srv, _ := fakeUsageAdmin(t, 400, `{"error":"usage: from \"yesterday\": want YYYY-MM-DD"}`)
	notRelay := httptest.NewServer(http.NotFoundHandler())
	defer notRelay.Close()
	garbage, _ := fakeUsageAdmin(t, 200, "<html>")
	shapeless, _ := fakeUsageAdmin(t, 200, `{"rows":[{"key":"a","requests":1}]}`)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"usage"}, "--admin is required"},
		{[]string{"usage", "--admin", "ftp://x"}, "want http://HOST:PORT"},
		{[]string{"usage", "--admin", srv.URL, "--from", "yesterday"}, `the relay answered 400: usage: from "yesterday": want YYYY-MM-DD`},
		{[]string{"usage", "--admin", notRelay.URL}, "is " + notRelay.URL + " a bedrock-relay admin endpoint?"},
		{[]string{"usage", "--admin", garbage.URL}, "not a usage report"},
		{[]string{"usage", "--admin", shapeless.URL}, "not a usage report: it groups by nothing"},
		{[]string{"usage", "--admin", "http://127.0.0.1:1"}, "is serve running"},
	} {
		_, errOut, code := runCLI(t, tt.args...)
		if code == 0 || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want it to say %q", tt.args, code, errOut, tt.want)
		}
	}
}
