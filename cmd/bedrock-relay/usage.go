package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bedrock-relay/bedrock-relay/internal/httpapi"
	ledger "github.com/bedrock-relay/bedrock-relay/usage"
)

func init() {
	register(command{name: "usage", synopsis: "what each key used and spent: usage --admin http://127.0.0.1:9090 [--from DAY --to DAY] [--key NAME] [--group-by key,model] [--csv]", run: runUsage})
}

const usageSynopsis = "usage --admin URL [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--key NAME] [--group-by day,key,group,model,target] [--csv]"

func runUsage(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "usage", usageSynopsis)
	admin := fs.String("admin", e.getenv("BEDROCK_RELAY_ADMIN_URL"), "the relay's admin endpoint, as serve prints it (default $BEDROCK_RELAY_ADMIN_URL)")
	from := fs.String("from", "", "first UTC day, YYYY-MM-DD (default: today)")
	to := fs.String("to", "", "last UTC day, YYYY-MM-DD (default: --from)")
	key := fs.String("key", "", "only this key")
	groupBy := fs.String("group-by", "key,model", "what the rows are per: a comma list of day, key, group, model, target")
	asCSV := fs.Bool("csv", false, "print the relay's CSV instead of a table")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := fs.noArgs(); err != nil {
		return err
	}
	if *admin == "" {
		fmt.Fprintln(e.stderr, "bedrock-relay usage: --admin is required: the relay's admin address, e.g. http://127.0.0.1:9090 (serve prints it)")
		return errUsage
	}
	u, err := url.Parse(strings.TrimSuffix(*admin, "/metrics"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fmt.Fprintf(e.stderr, "bedrock-relay usage: --admin %q: want http://HOST:PORT\n", *admin)
		return errUsage
	}
	q := url.Values{"group_by": {*groupBy}}
	for k, v := range map[string]string{"from": *from, "to": *to, "key": *key} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if *asCSV {
		q.Set("format", "csv")
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/usage"
	u.RawQuery = q.Encode()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("usage: ask the relay's admin endpoint: %w (is serve running, with this admin address?)", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("usage: read the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var msg struct{ Error string }
		if json.Unmarshal(body, &msg) == nil && msg.Error != "" {
			return fmt.Errorf("usage: the relay answered %d: %s", resp.StatusCode, msg.Error)
		}
		return fmt.Errorf("usage: the relay answered %d (is %s a bedrock-relay admin endpoint?)", resp.StatusCode, *admin)
	}
	if *asCSV {
		_, err := e.stdout.Write(body)
		return err
	}
	var rep httpapi.UsageReport
	if err := json.Unmarshal(body, &rep); err != nil || len(rep.GroupBy) == 0 {
		if err == nil {
			err = errors.New("it groups by nothing")
		}
		return fmt.Errorf("usage: the relay's answer is not a usage report: %w", err)
	}
	return printUsage(e.stdout, rep)
}

// printUsage writes rep as a table a person reads: the dimensions grouped by, then the totals, with a total
// line; costs in dollars, tokens with thousands separators.
func printUsage(w io.Writer, rep httpapi.UsageReport) error {
	period := rep.From
	if rep.To != rep.From {
		period += " to " + rep.To
	}
	fmt.Fprintf(w, "Usage %s (UTC), per %s\n\n", period, strings.Join(rep.GroupBy, " × "))
	if len(rep.Rows) == 0 {
		fmt.Fprintln(w, "No requests in this period.")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	dim := func(r ledger.Row, d string) string {
		v := map[string]string{"day": r.Day, "key": r.Key, "group": r.Group, "model": r.Model, "target": r.Target}[d]
		if v == "" && d == "key" {
			return "(none)"
		}
		return v
	}
	var head []string
	for _, d := range rep.GroupBy {
		head = append(head, strings.ToUpper(d))
	}
	head = append(head, "REQUESTS", "ERRORS", "INPUT", "OUTPUT", "CACHE READ", "CACHE WRITE", "COST (USD)")
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	line := func(cells []string, r ledger.Row) {
		cost := fmt.Sprintf("%.4f", r.CostUSD)
		if r.Unpriced > 0 {
			cost += fmt.Sprintf(" +%d unpriced", r.Unpriced)
		}
		cells = append(cells, httpapi.Count(r.Requests), httpapi.Count(r.Errors), httpapi.Count(r.InputTokens), httpapi.Count(r.OutputTokens),
			httpapi.Count(r.CacheReadTokens), httpapi.Count(r.CacheWriteTokens), cost)
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	for _, r := range rep.Rows {
		var cells []string
		for _, d := range rep.GroupBy {
			cells = append(cells, dim(r, d))
		}
		line(cells, r)
	}
	total := make([]string, len(rep.GroupBy))
	total[0] = "total"
	line(total, rep.Total)
	return tw.Flush()
}
