package router_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bedrock-relay/bedrock-relay/catalog"
	"github.com/bedrock-relay/bedrock-relay/router"
	"github.com/bedrock-relay/bedrock-relay/upstream"
)

// recordingSender answers every request with a canned message and keeps what it was sent.
type recordingSender struct {
	mu   sync.Mutex
	sent []upstream.Request
}

func (s *recordingSender) Do(ctx context.Context, r *upstream.Request) (*http.Response, error) {
	s.mu.Lock()
	s.sent = append(s.sent, *r)
	s.mu.Unlock()
	b := invokeAnswer.body
	return &http.Response{StatusCode: 200, Header: invokeAnswer.header, Body: io.NopCloser(bytes.NewReader(b)), ContentLength: int64(len(b))}, nil
}

func (s *recordingSender) last(t *testing.T) upstream.Request {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sent) == 0 {
		t.Fatal("nothing was sent upstream")
	}
	return s.sent[len(s.sent)-1]
}

// shimRouter is a router with one target calling model (a foundation-model id) through a recordingSender.
func shimRouter(t *testing.T, model string, policy router.BetaPolicy) (*router.Router, *recordingSender) {
	t.Helper()
	m := &router.Member{Name: "t", Account: "222222222222", Region: "us-east-1", Models: map[string]string{model: model}}
	r, err := router.New([]*router.Member{m}, router.Options{Betas: policy})
	if err != nil {
		t.Fatal(err)
	}
	s := &recordingSender{}
	r.SetSender(m, s)
	return r, s
}

// TestShimTable walks the whole anthropic table: every Anthropic model of the catalogue × every
// anthropic_version (the table's and one it does not know) × every beta policy, with a body asking for every
// beta flag the table lists and one it does not. The expectation is computed from the catalogue's Compat, so
// a row added to catalog.yaml is tested by this loop.
func TestShimTable(t *testing.T) {
	cat := catalog.Default()
	var flags []string
	for _, row := range cat.Anthropic.Betas {
		if !slices.Contains(flags, row.Flag) {
			flags = append(flags, row.Flag)
		}
	}
	flags = append(flags, "no-such-beta-2099-01-01")
	versions := []string{"2023-06-01"}
	for _, row := range cat.Anthropic.Versions {
		versions = append(versions, row.Version)
	}
	policies := []router.BetaPolicy{router.BetasDrop, router.BetasPass, router.BetasReject}
	rows := 0
	for _, m := range cat.Models {
		cp, ok := cat.Compat(m.ID)
		if !ok {
			continue
		}
		for _, version := range versions {
			for _, policy := range policies {
				rows++
				t.Run(m.ID+"/"+version+"/"+policy.String(), func(t *testing.T) {
					in := map[string]any{"anthropic_version": version, "anthropic_beta": flags, "max_tokens": 64,
						"messages": []any{map[string]any{"role": "user", "content": "hi"}}}
					body, _ := json.Marshal(in)
					r, s := shimRouter(t, m.ID, policy)
					_, err := r.Do(context.Background(), &router.Request{Op: upstream.OpInvoke, Model: m.ID, Body: body})

					var accepted, refused []any
					for _, f := range flags {
						if cp.AcceptsBeta(f) {
							accepted = append(accepted, f)
						} else {
							refused = append(refused, f)
						}
					}
					if policy == router.BetasReject && len(refused) > 0 {
						var ce *router.CallerError
						if !errors.As(err, &ce) || ce.Code != "ValidationException" {
							t.Fatalf("got %v, want a ValidationException CallerError for the refused flags", err)
						}
						return
					}
					if err != nil {
						t.Fatalf("Do: %v", err)
					}
					want := map[string]any{}
					_ = json.Unmarshal(body, &want)
					if !cp.AcceptsVersion(version) {
						if row, ok := cat.APIVersion(version); ok && row.RewriteTo != "" && cp.AcceptsVersion(row.RewriteTo) {
							want["anthropic_version"] = row.RewriteTo
						}
					}
					if policy == router.BetasDrop && len(refused) > 0 {
						if len(accepted) == 0 {
							delete(want, "anthropic_beta")
						} else {
							want["anthropic_beta"] = accepted
						}
					}
					sent := s.last(t).Body
					var got map[string]any
					if err := json.Unmarshal(sent, &got); err != nil {
						t.Fatalf("sent body %s is not JSON: %v", sent, err)
					}
					if diff := cmp.Diff(want, got); diff != "" {
						t.Errorf("sent body (-want +got):\n%s", diff)
					}
					if cmp.Equal(want, map[string]any(mustDecode(t, body))) && !bytes.Equal(sent, body) {
						t.Errorf("a body that needed no change was re-encoded: sent %s, got %s", sent, body)
					}
				})
			}
		}
	}
	if rows < 100 {
		t.Errorf("walked %d rows; the table lost models or versions", rows)
	}
}

func mustDecode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
