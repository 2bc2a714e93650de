package httpapi

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bedrock-relay/bedrock-relay/usage"
)

// UsageReport is the JSON answer of GET /usage.
type UsageReport struct {
	From    string      `json:"from"`
	To      string      `json:"to"`
	GroupBy []string    `json:"group_by"`
	Rows    []usage.Row `json:"rows"`
	Total   usage.Row   `json:"total"`
}

// usageDims are what rows can be grouped by, in the order rows are keyed.
var usageDims = []string{"day", "key", "group", "model", "target"}

// NewUsageHandler serves GET /usage on the admin port: the usage totals of store per key × model × target ×
// UTC day, summed over what group_by leaves out.
//
//	from, to   UTC days YYYY-MM-DD, both included (default: today; to defaults to from)
//	key        only this key's rows ("" under auth: none is key=-)
//	group_by   a comma list of day, key, group, model, target (default: key,model)
//	format     json (default) or csv
func NewUsageHandler(store usage.Store, now func() time.Time) http.Handler {
	if now == nil {
		now = time.Now
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		fail := func(status int, msg string) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			json.NewEncoder(w).Encode(map[string]string{"error": msg})
		}
		for name := range q {
			if !slices.Contains([]string{"from", "to", "key", "group_by", "format"}, name) {
				fail(http.StatusBadRequest, "unknown parameter "+strconv.Quote(name)+": want from, to, key, group_by, format")
				return
			}
		}
		from := q.Get("from")
		if from == "" {
			from = usage.Day(now())
		}
		to := q.Get("to")
		if to == "" {
			to = from
		}
		groupBy := []string{"key", "model"}
		if g := q.Get("group_by"); g != "" {
			groupBy = nil
			for _, d := range strings.Split(g, ",") {
				d = strings.TrimSpace(d)
				if !slices.Contains(usageDims, d) {
					fail(http.StatusBadRequest, "group_by "+strconv.Quote(d)+": want a comma list of "+strings.Join(usageDims, ", "))
					return
				}
				if !slices.Contains(groupBy, d) {
					groupBy = append(groupBy, d)
				}
			}
		}
		format := q.Get("format")
		if format != "" && format != "json" && format != "csv" {
			fail(http.StatusBadRequest, "format "+strconv.Quote(format)+": want json or csv")
			return
		}
		rows, err := store.Rows(from, to)
		if err != nil {
			status := http.StatusBadRequest
			if !strings.HasPrefix(err.Error(), "usage: ") {
				status = http.StatusServiceUnavailable // the ledger could not be read
			}
			fail(status, err.Error())
			return
		}
		if _, ok := q["key"]; ok {
			key := q.Get("key")
			if key == "-" {
				key = ""
			}
			rows = slices.DeleteFunc(rows, func(r usage.Row) bool { return r.Key != key })
		}
		rep := UsageReport{From: from, To: to, GroupBy: groupBy, Rows: groupRows(rows, groupBy)}
		for _, row := range rep.Rows {
			rep.Total.Merge(row)
		}
		if format == "csv" {
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
			writeUsageCSV(w, rep)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if rep.Rows == nil {
			rep.Rows = []usage.Row{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	})
}

// groupRows sums rows over the dimensions groupBy leaves out (those are blank in the result).
func groupRows(rows []usage.Row, groupBy []string) []usage.Row {
	keep := map[string]bool{}
	for _, d := range groupBy {
		keep[d] = true
	}
	sums := map[usage.RowKey]*usage.Row{}
	var order []usage.RowKey
	for _, r := range rows {
		k := r.ID()
		if !keep["day"] {
			k.Day = ""
		}
		if !keep["key"] {
			k.Key = ""
		}
		if !keep["group"] {
			k.Group = ""
		}
		if !keep["model"] {
			k.Model = ""
		}
		if !keep["target"] {
			k.Target = ""
		}
		s := sums[k]
		if s == nil {
			s = &usage.Row{Day: k.Day, Key: k.Key, Group: k.Group, Model: k.Model, Target: k.Target}
			sums[k] = s
			order = append(order, k)
		}
		s.Merge(r)
	}
	out := make([]usage.Row, 0, len(order))
	for _, k := range order {
		out = append(out, *sums[k])
	}
	usage.Sort(out)
	return out
}

// usageCSVHeader are the CSV columns: every dimension, then every total.
var usageCSVHeader = []string{"day", "key", "group", "model", "target", "requests", "errors", "input_tokens", "output_tokens",
	"cache_read_tokens", "cache_write_tokens", "cost_usd", "unpriced"}

func writeUsageCSV(w http.ResponseWriter, rep UsageReport) {
	c := csv.NewWriter(w)
	c.Write(usageCSVHeader)
	for _, r := range rep.Rows {
		c.Write([]string{r.Day, r.Key, r.Group, r.Model, r.Target, itoa(r.Requests), itoa(r.Errors), itoa(r.InputTokens),
			itoa(r.OutputTokens), itoa(r.CacheReadTokens), itoa(r.CacheWriteTokens), strconv.FormatFloat(r.CostUSD, 'f', 6, 64), itoa(r.Unpriced)})
	}
	c.Flush()
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
