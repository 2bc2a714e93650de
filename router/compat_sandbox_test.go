package router_test

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/bedrock-relay/bedrock-relay/config"
	"github.com/bedrock-relay/bedrock-relay/router"
	"github.com/bedrock-relay/bedrock-relay/sandbox"
	"github.com/bedrock-relay/bedrock-relay/upstream"
)

const seedFM = "anthropic.claude-sonnet-4-5-20250929-v1:0"

// tap keeps what a pool's targets sent upstream.
type tap struct {
	mu   sync.Mutex
	sent []upstream.Request
}

func (s *tap) requests() []upstream.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]upstream.Request(nil), s.sent...)
}

// tapped passes requests on to a target's real upstream client, recording them in tap.
type tapped struct {
	tap  *tap
	next router.Sender
}

func (s tapped) Do(ctx context.Context, r *upstream.Request) (*http.Response, error) {
	s.tap.mu.Lock()
	s.tap.sent = append(s.tap.sent, upstream.Request{Op: r.Op, ModelID: r.ModelID, Body: append([]byte(nil), r.Body...)})
	s.tap.mu.Unlock()
	return s.next.Do(ctx, r)
}

// tappedPool is newPool with routing.anthropic_betas set and every target's upstream tapped.
func tappedPool(t *testing.T, betas string) (*pool, *tap) {
	t.Helper()
	p := newPool(t, false, func(c *config.Config) { c.Routing.AnthropicBetas = betas })
	tp := &tap{}
	for _, m := range p.r.Targets() {
		p.r.SetSender(m, tapped{tap: tp, next: m.Client})
	}
	return p, tp
}

const claudeCodeBody = `{"anthropic_version":"2026-10-21","anthropic_beta":["claude-code-20250219","interleaved-thinking-2025-05-14","mcp-servers-2099-01-01"],` +
	`"max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":"hello from a 2026 client"}]}`

// The sandbox itself refuses what the shim fixes: the same table on both sides.
func TestSandboxRefusesWhatTheShimFixes(t *testing.T) {
	p := newPool(t, false, nil)
	c := p.r.Targets()[0].Client
	for _, tc := range []struct{ body, want string }{
		{`{"anthropic_version":"2026-10-21","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`, "Invalid API version: 2026-10-21"},
		{`{"anthropic_version":"bedrock-2023-05-31","anthropic_beta":["mcp-servers-2099-01-01"],"max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`, "invalid beta flag"},
	} {
		_, err := c.Do(context.Background(), &upstream.Request{Op: upstream.OpInvoke, ModelID: sandbox.SeedProfile, Body: []byte(tc.body)})
		var ue *upstream.Error
		if !errors.As(err, &ue) || ue.Status != 400 || ue.Code != "ValidationException" || ue.Message != tc.want {
			t.Errorf("direct call: got %v, want 400 ValidationException %q", err, tc.want)
		}
	}
}

func TestShimThroughSandbox(t *testing.T) {
	ctx := context.Background()
	t.Run("drop: a 2026 body with Claude Code's betas is served by Sonnet 4.5", func(t *testing.T) {
		p, tp := tappedPool(t, "")
		res, err := p.r.Do(ctx, &router.Request{Op: upstream.OpInvoke, Model: sandbox.SeedProfile, Body: []byte(claudeCodeBody)})
		if err != nil {
			t.Fatalf("Do: %v", err)
		}
		if !strings.Contains(string(res.Body), `"type":"message"`) {
			t.Errorf("answer %s is not a message", res.Body)
		}
		sent := string(tp.requests()[0].Body)
		want := `{"anthropic_version":"bedrock-2023-05-31","anthropic_beta":["claude-code-20250219","interleaved-thinking-2025-05-14"],` +
			`"max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":"hello from a 2026 client"}]}`
		if sent != want {
			t.Errorf("sent  %s\nwant %s", sent, want)
		}
	})
	t.Run("drop: a stream", func(t *testing.T) {
		p, _ := tappedPool(t, "")
		res, err := p.r.Do(ctx, &router.Request{Op: upstream.OpInvokeStream, Model: sandbox.SeedProfile, Body: []byte(claudeCodeBody)})
		if err != nil {
			t.Fatalf("Do: %v", err)
		}
		defer res.Stream.Close()
		frames := 0
		for {
			if _, err := res.Stream.Next(); err == io.EOF {
				break
			} else if err != nil {
				t.Fatal(err)
			}
			frames++
		}
		if res.Stream.Err() != nil || frames < 3 {
			t.Errorf("stream: %d frames, err %v; want a whole stream", frames, res.Stream.Err())
		}
	})
	t.Run("pass: Bedrock's invalid beta flag comes back, not failed over", func(t *testing.T) {
		p, tp := tappedPool(t, "pass")
		_, err := p.r.Do(ctx, &router.Request{Op: upstream.OpInvoke, Model: sandbox.SeedProfile, Body: []byte(claudeCodeBody)})
		var fe *router.FinalError
		if !errors.As(err, &fe) || fe.Err == nil || fe.Err.Message != "invalid beta flag" {
			t.Fatalf("got %v, want the upstream's invalid beta flag", err)
		}
		if n := len(tp.requests()); n != 1 {
			t.Errorf("%d upstream calls, want 1 (a ValidationException is not retried elsewhere)", n)
		}
	})
	t.Run("reject: refused before any target", func(t *testing.T) {
		p, tp := tappedPool(t, "reject")
		_, err := p.r.Do(ctx, &router.Request{Op: upstream.OpInvoke, Model: sandbox.SeedProfile, Body: []byte(claudeCodeBody)})
		var ce *router.CallerError
		if !errors.As(err, &ce) || !strings.Contains(ce.Message, `"mcp-servers-2099-01-01"`) {
			t.Fatalf("got %v, want a CallerError naming the refused flag", err)
		}
		if n := len(tp.requests()); n != 0 || p.sb.Stats().BedrockCalls("", "") != 0 {
			t.Errorf("%d upstream calls, want none", n)
		}
	})
	t.Run("a 2026-only field is refused, named, before any target", func(t *testing.T) {
		p, tp := tappedPool(t, "")
		body := `{"anthropic_version":"2026-10-21","max_tokens":10,"user_profile_id":"up_1","messages":[{"role":"user","content":"hi"}]}`
		_, err := p.r.Do(ctx, &router.Request{Op: upstream.OpInvoke, Model: sandbox.SeedProfile, Body: []byte(body)})
		var ce *router.CallerError
		if !errors.As(err, &ce) || ce.Code != "ValidationException" || !strings.Contains(ce.Message, `"user_profile_id"`) {
			t.Fatalf("got %v, want a ValidationException naming user_profile_id", err)
		}
		if n := len(tp.requests()); n != 0 {
			t.Errorf("%d upstream calls, want none", n)
		}
	})
}

// CountTokens is sent with the foundation-model id, not the target's profile id, and its inner InvokeModel
// body is adapted like a plain one.
func TestCountTokensCallsTheFoundationModel(t *testing.T) {
	p, tp := tappedPool(t, "")
	inner := base64.StdEncoding.EncodeToString([]byte(claudeCodeBody))
	res, err := p.r.Do(context.Background(), &router.Request{Op: upstream.OpCountTokens, Model: sandbox.SeedProfile,
		Body: []byte(`{"input":{"invokeModel":{"body":"` + inner + `"}}}`)})
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	if res.Called != seedFM {
		t.Errorf("Result.Called = %s, want %s", res.Called, seedFM)
	}
	sent := tp.requests()
	if len(sent) != 1 || sent[0].ModelID != seedFM {
		t.Fatalf("sent %+v, want one call to %s", sent, seedFM)
	}
	if !strings.Contains(string(res.Body), `"inputTokens"`) {
		t.Errorf("answer %s has no inputTokens", res.Body)
	}
}
