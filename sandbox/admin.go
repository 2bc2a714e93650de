package sandbox

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// serveAdmin is the JSON admin API under /_sandbox/, the knobs for black-box tests and benchmarks. It is not
// authenticated: the sandbox is a local test tool and binds loopback by default.
func (s *Sandbox) serveAdmin(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/_sandbox"), "/")
	type route struct{ method, path string }
	reply := func(v any) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(v)
	}
	ok := func() { reply(map[string]bool{"ok": true}) }
	bad := func(err error) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
	}
	decode := func(v any) bool {
		dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			bad(fmt.Errorf("request body: %w", err))
			return false
		}
		return true
	}
	switch (route{r.Method, path}) {
	case route{"GET", ""}:
		reply(map[string]any{"endpoints": adminEndpoints})
	case route{"GET", "/stats"}:
		reply(s.Stats())
	case route{"GET", "/calls"}:
		reply(s.Calls())
	case route{"GET", "/env"}:
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, EnvLines("http://"+r.Host, s.scenario.DefaultRegion, s.CallerCredentials()))
	case route{"POST", "/reset"}:
		if err := s.Reset(); err != nil {
			bad(err)
			return
		}
		ok()
	case route{"POST", "/quota"}:
		var in struct {
			Account string `json:"account"`
			Region  string `json:"region"`
			Model   string `json:"model"`
			Quota
		}
		if !decode(&in) {
			return
		}
		if in.Account == "" || in.Model == "" {
			bad(fmt.Errorf("account and model are required"))
			return
		}
		s.SetRegionQuota(in.Account, in.Region, in.Model, in.Quota)
		ok()
	case route{"POST", "/faults"}:
		var f Fault
		if !decode(&f) {
			return
		}
		if err := s.AddFault(f); err != nil {
			bad(err)
			return
		}
		ok()
	case route{"DELETE", "/faults"}:
		s.ClearFaults()
		ok()
	case route{"POST", "/credential-lifetime"}:
		var in struct {
			Seconds int `json:"seconds"`
		}
		if !decode(&in) {
			return
		}
		s.SetCredentialLifetime(time.Duration(in.Seconds) * time.Second)
		ok()
	case route{"POST", "/expire-sessions"}:
		var in struct {
			RoleARN string `json:"role_arn"`
		}
		if !decode(&in) {
			return
		}
		s.ExpireSessions(in.RoleARN)
		ok()
	case route{"POST", "/forget-sessions"}:
		s.ForgetSessions()
		ok()
	case route{"POST", "/latency"}:
		var in struct {
			Model string `json:"model"`
			Latency
		}
		if !decode(&in) {
			return
		}
		if in.Model == "" {
			in.Model = "*"
		}
		s.SetLatency(in.Model, in.Latency)
		ok()
	case route{"POST", "/strict"}:
		var in struct {
			Enabled bool `json:"enabled"`
		}
		if !decode(&in) {
			return
		}
		s.SetStrict(in.Enabled)
		ok()
	case route{"PUT", "/trust-policy"}, route{"PUT", "/role-policy"}:
		var in struct {
			RoleARN string          `json:"role_arn"`
			Name    string          `json:"name"`
			Policy  json.RawMessage `json:"policy"`
		}
		if !decode(&in) {
			return
		}
		var err error
		if path == "/trust-policy" {
			err = s.SetTrustPolicy(in.RoleARN, string(in.Policy))
		} else {
			doc := string(in.Policy)
			if doc == "null" {
				doc = ""
			}
			err = s.SetRolePolicy(in.RoleARN, in.Name, doc)
		}
		if err != nil {
			bad(err)
			return
		}
		ok()
	case route{"POST", "/model-access"}:
		var in struct {
			Account string `json:"account"`
			Model   string `json:"model"`
			Enabled bool   `json:"enabled"`
		}
		if !decode(&in) {
			return
		}
		if err := s.SetModelAccess(in.Account, in.Model, in.Enabled); err != nil {
			bad(err)
			return
		}
		ok()
	case route{"POST", "/region"}:
		var in struct {
			Account string `json:"account"`
			Region  string `json:"region"`
			Enabled bool   `json:"enabled"`
		}
		if !decode(&in) {
			return
		}
		if err := s.SetRegionEnabled(in.Account, in.Region, in.Enabled); err != nil {
			bad(err)
			return
		}
		ok()
	case route{"PUT", "/scp"}:
		var in struct {
			Account  string            `json:"account"`
			Policies []json.RawMessage `json:"policies"`
		}
		if !decode(&in) {
			return
		}
		docs := make([]string, len(in.Policies))
		for i, p := range in.Policies {
			docs[i] = string(p)
		}
		if err := s.SetSCP(in.Account, docs...); err != nil {
			bad(err)
			return
		}
		ok()
	case route{"GET", "/bucket"}:
		// The objects asynchronous invocations wrote, as text: their outputs are JSON.
		type object struct {
			BucketObject
			Size int    `json:"size"`
			Text string `json:"text"`
		}
		q := r.URL.Query()
		objects := []object{}
		for _, o := range s.Bucket(q.Get("account"), q.Get("uri")) {
			objects = append(objects, object{BucketObject: o, Size: len(o.Body), Text: string(o.Body)})
		}
		reply(map[string]any{"objects": objects})
	case route{"POST", "/async-invoke"}:
		var in struct {
			DurationMillis int `json:"duration_ms"`
		}
		if !decode(&in) {
			return
		}
		if in.DurationMillis < 0 {
			bad(fmt.Errorf("duration_ms %d is negative", in.DurationMillis))
			return
		}
		s.SetAsyncInvokeDuration(time.Duration(in.DurationMillis) * time.Millisecond)
		ok()
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(map[string]any{"error": fmt.Sprintf("no admin endpoint %s %s", r.Method, r.URL.Path), "endpoints": adminEndpoints})
	}
}

var adminEndpoints = []string{
	"GET /_sandbox/stats", "GET /_sandbox/calls", "GET /_sandbox/env", "POST /_sandbox/reset",
	`POST /_sandbox/quota {"account","region","model","requests_per_minute","tokens_per_minute","tokens_per_day"}`,
	`POST /_sandbox/faults {"service","code","message","count","rate","account","region","model","operation","delay_ms","after_events","drop","end_early","for_ms"}`,
	"DELETE /_sandbox/faults",
	`POST /_sandbox/credential-lifetime {"seconds"}`, `POST /_sandbox/expire-sessions {"role_arn"}`, "POST /_sandbox/forget-sessions",
	`POST /_sandbox/latency {"model","first_token_ms","tokens_per_second"}`, `POST /_sandbox/strict {"enabled"}`,
	`PUT /_sandbox/trust-policy {"role_arn","policy"}`, `PUT /_sandbox/role-policy {"role_arn","name","policy"}`,
	`POST /_sandbox/model-access {"account","model","enabled"}`, `POST /_sandbox/region {"account","region","enabled"}`,
	`PUT /_sandbox/scp {"account","policies"}`,
	"GET /_sandbox/bucket?account=&uri=s3://bucket/prefix", `POST /_sandbox/async-invoke {"duration_ms"}`,
}

// EnvLines are the shell export lines that point AWS SDKs and CLIs at a sandbox endpoint as the caller session.
func EnvLines(endpoint, region string, c aws.Credentials) string {
	var b strings.Builder
	for _, kv := range [][2]string{
		{"AWS_ENDPOINT_URL", endpoint},
		{"AWS_REGION", region},
		{"AWS_DEFAULT_REGION", region},
		{"AWS_ACCESS_KEY_ID", c.AccessKeyID},
		{"AWS_SECRET_ACCESS_KEY", c.SecretAccessKey},
		{"AWS_SESSION_TOKEN", c.SessionToken},
	} {
		fmt.Fprintf(&b, "export %s=%s\n", kv[0], shellQuote(kv[1]))
	}
	// A profile or bearer token in the environment would take precedence over these keys in some SDKs.
	b.WriteString("unset AWS_PROFILE AWS_BEARER_TOKEN_BEDROCK\n")
	return b.String()
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:+=@", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
