package sandbox_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	brtypes "github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/google/go-cmp/cmp"

	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

// manualClock is a clock a test moves by hand, within SigV4's 15-minute skew window.
func manualClock() (now func() time.Time, advance func(time.Duration)) {
	var (
		mu sync.Mutex
		t  = time.Now()
	)
	return func() time.Time { mu.Lock(); defer mu.Unlock(); return t },
		func(d time.Duration) { mu.Lock(); t = t.Add(d); mu.Unlock() }
}

// outputEnv is the default scenario on a clock the test moves, with the 222222222222 role allowed every
// Bedrock action and no quota; the client records the last response's headers.
func outputEnv(t *testing.T) (*env, *bedrockruntime.Client, *headerRecorder, func(time.Duration)) {
	t.Helper()
	clock, advance := manualClock()
	e := newEnvWith(t, nil, sandbox.WithClock(clock))
	role := sandbox.TargetRoleARN(sandbox.SmallAccount)
	e.allowAllBedrock(t, role)
	for _, m := range []string{sandbox.SeedProfile, "amazon.nova-pro-v1:0", "anthropic.claude-3-haiku-20240307-v1:0"} {
		e.sb.SetQuota(sandbox.SmallAccount, m, sandbox.Quota{})
	}
	rec := &headerRecorder{base: sandbox.SDKHTTPClient(nil)}
	cfg := e.session(t, role)
	cfg.HTTPClient = rec
	return e, bedrockruntime.NewFromConfig(cfg), rec, advance
}

// longText is n tokens by the sandbox's count (one per word).
func longText(n int) string { return strings.TrimSpace(strings.Repeat("cache ", n)) }

// cachedConverse is a Converse request whose 1,500-token system prompt ends with a cache point of ttl.
func cachedConverse(question string, ttl brtypes.CacheTTL) *bedrockruntime.ConverseInput {
	return &bedrockruntime.ConverseInput{
		ModelId: aws.String(sandbox.SeedProfile),
		System: []brtypes.SystemContentBlock{
			&brtypes.SystemContentBlockMemberText{Value: longText(1500)},
			&brtypes.SystemContentBlockMemberCachePoint{Value: brtypes.CachePointBlock{Type: brtypes.CachePointTypeDefault, Ttl: ttl}},
		},
		Messages: userText(question),
	}
}

// The prefix up to the cache point: the request's 3 tokens of framing and the system prompt's 1,500. The
// question's turn adds its 4 tokens of framing and its words.
const cachedPrefix = 1503

type cacheCounts struct{ Input, Read, Write int }

func tokenUsage(u *brtypes.TokenUsage) cacheCounts {
	return cacheCounts{int(aws.ToInt32(u.InputTokens)), int(aws.ToInt32(u.CacheReadInputTokens)), int(aws.ToInt32(u.CacheWriteInputTokens))}
}

// cacheStep is one call of a sequence: the clock moved by advance, then a call whose cache point has ttl.
type cacheStep struct {
	name    string
	advance time.Duration
	ttl     brtypes.CacheTTL
	want    cacheCounts
}

// TestPromptCacheConverse moves the sandbox's clock; each sequence stays within SigV4's 15-minute skew (the
// client signs by the real clock), and unit tests in promptcache_test.go take the hour.
func TestPromptCacheConverse(t *testing.T) {
	t.Run("5 minutes", func(t *testing.T) {
		e := runCacheSteps(t, []cacheStep{
			{"first call writes", 0, "", cacheCounts{6, 0, cachedPrefix}},
			{"second call reads", time.Second, "", cacheCounts{6, cachedPrefix, 0}},
			{"within five minutes of the read", 4*time.Minute + 59*time.Second, "", cacheCounts{6, cachedPrefix, 0}},
			{"five minutes after the last read writes again", 5 * time.Minute, "", cacheCounts{6, 0, cachedPrefix}},
		})
		calls := e.sb.Calls()
		last := calls[len(calls)-1]
		if last.CacheReadInputTokens != 0 || last.CacheWriteInputTokens != cachedPrefix || last.InputTokens != 6 {
			t.Errorf("recorded call: %+v, want the cache write recorded", last)
		}
	})
	t.Run("1 hour", func(t *testing.T) {
		e := runCacheSteps(t, []cacheStep{
			{"first call writes", 0, brtypes.CacheTTLOneHour, cacheCounts{6, 0, cachedPrefix}},
			{"an hour's entry outlives five minutes", 10 * time.Minute, brtypes.CacheTTLOneHour, cacheCounts{6, cachedPrefix, 0}},
			{"a five-minute point reads it too", 4 * time.Minute, brtypes.CacheTTLFiveMinutes, cacheCounts{6, cachedPrefix, 0}},
		})
		calls := e.sb.Calls()
		last := calls[len(calls)-1]
		if last.CacheReadInputTokens != cachedPrefix || last.CacheWriteInputTokens != 0 || last.InputTokens != 6 {
			t.Errorf("recorded call: %+v, want the cache read recorded", last)
		}
	})
}

func runCacheSteps(t *testing.T, steps []cacheStep) *env {
	t.Helper()
	ctx := context.Background()
	e, c, _, advance := outputEnv(t)
	for i, s := range steps {
		advance(s.advance)
		out, err := c.Converse(ctx, cachedConverse("question "+strconv.Itoa(i), s.ttl))
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if out.Usage.CacheReadInputTokens == nil || out.Usage.CacheWriteInputTokens == nil {
			t.Errorf("%s: usage %+v, want both cache counts set", s.name, out.Usage)
		}
		if got := tokenUsage(out.Usage); got != s.want {
			t.Errorf("%s: got %+v, want %+v", s.name, got, s.want)
		}
		u := tokenUsage(out.Usage)
		if got, want := int(aws.ToInt32(out.Usage.TotalTokens)), u.Input+u.Read+u.Write+int(aws.ToInt32(out.Usage.OutputTokens)); got != want {
			t.Errorf("%s: totalTokens %d, want %d (input, cache and output)", s.name, got, want)
		}
	}
	return e
}

// TestPromptCacheDetails checks cacheDetails: the tokens written per TTL, 1h before 5m.
func TestPromptCacheDetailsSDK(t *testing.T) {
	_, c, _, _ := outputEnv(t)
	in := &bedrockruntime.ConverseInput{
		ModelId: aws.String(sandbox.SeedProfile),
		System: []brtypes.SystemContentBlock{
			&brtypes.SystemContentBlockMemberText{Value: longText(1500)},
			&brtypes.SystemContentBlockMemberCachePoint{Value: brtypes.CachePointBlock{Type: brtypes.CachePointTypeDefault, Ttl: brtypes.CacheTTLOneHour}},
		},
		Messages: []brtypes.Message{{Role: brtypes.ConversationRoleUser, Content: []brtypes.ContentBlock{
			&brtypes.ContentBlockMemberText{Value: longText(100)},
			&brtypes.ContentBlockMemberCachePoint{Value: brtypes.CachePointBlock{Type: brtypes.CachePointTypeDefault}},
			&brtypes.ContentBlockMemberText{Value: "and what now"},
		}}},
	}
	out, err := c.Converse(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range out.Usage.CacheDetails {
		got = append(got, string(d.Ttl)+"="+strconv.Itoa(int(aws.ToInt32(d.InputTokens))))
	}
	if diff := cmp.Diff([]string{"1h=1503", "5m=104"}, got); diff != "" {
		t.Errorf("cacheDetails (-want +got):\n%s", diff)
	}
	if got, want := tokenUsage(out.Usage), (cacheCounts{3, 0, 1607}); got != want {
		t.Errorf("usage: got %+v, want %+v", got, want)
	}
}

func TestPromptCacheToolsAndMessages(t *testing.T) {
	ctx := context.Background()
	_, c, _, _ := outputEnv(t)
	schema := brtypes.ToolInputSchemaMemberJson{Value: document.NewLazyDocument(map[string]any{"type": "object", "properties": map[string]any{"q": map[string]any{"type": "string"}}})}
	in := func(q string) *bedrockruntime.ConverseInput {
		return &bedrockruntime.ConverseInput{
			ModelId: aws.String(sandbox.SeedProfile),
			ToolConfig: &brtypes.ToolConfiguration{Tools: []brtypes.Tool{
				&brtypes.ToolMemberToolSpec{Value: brtypes.ToolSpecification{Name: aws.String("search"), Description: aws.String(longText(1200)), InputSchema: &schema}},
				&brtypes.ToolMemberCachePoint{Value: brtypes.CachePointBlock{Type: brtypes.CachePointTypeDefault}},
			}},
			Messages: userText(q),
		}
	}
	first, err := c.Converse(ctx, in("first"))
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.Converse(ctx, in("second"))
	if err != nil {
		t.Fatal(err)
	}
	w, r := tokenUsage(first.Usage), tokenUsage(second.Usage)
	if w.Write == 0 || w.Read != 0 || r.Read != w.Write || r.Write != 0 || r.Input != w.Input {
		t.Errorf("tools cache point: first %+v, second %+v; want a write, then the same tokens read", w, r)
	}
}

func TestPromptCacheConverseStream(t *testing.T) {
	ctx := context.Background()
	_, c, _, _ := outputEnv(t)
	var got []cacheCounts
	for i := 0; i < 2; i++ {
		in := cachedConverse("streamed "+strconv.Itoa(i), "")
		out, err := c.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{ModelId: in.ModelId, System: in.System, Messages: in.Messages,
			PerformanceConfig: &brtypes.PerformanceConfiguration{Latency: brtypes.PerformanceConfigLatencyOptimized},
			ServiceTier:       &brtypes.ServiceTier{Type: brtypes.ServiceTierTypeFlex}})
		if err != nil {
			t.Fatal(err)
		}
		var md *brtypes.ConverseStreamMetadataEvent
		for ev := range out.GetStream().Events() {
			if m, ok := ev.(*brtypes.ConverseStreamOutputMemberMetadata); ok {
				md = &m.Value
			}
		}
		if err := out.GetStream().Err(); err != nil {
			t.Fatal(err)
		}
		if md == nil {
			t.Fatal("no metadata event")
		}
		got = append(got, tokenUsage(md.Usage))
		if md.PerformanceConfig == nil || md.PerformanceConfig.Latency != brtypes.PerformanceConfigLatencyOptimized {
			t.Errorf("metadata performanceConfig %+v, want optimized", md.PerformanceConfig)
		}
		if md.ServiceTier == nil || md.ServiceTier.Type != brtypes.ServiceTierTypeFlex {
			t.Errorf("metadata serviceTier %+v, want flex", md.ServiceTier)
		}
	}
	if diff := cmp.Diff([]cacheCounts{{6, 0, cachedPrefix}, {6, cachedPrefix, 0}}, got); diff != "" {
		t.Errorf("metadata usage (-want +got):\n%s", diff)
	}
}

// anthropicCached is a Messages body whose 1,500-token system prompt carries cache_control.
func anthropicCached(question string) []byte {
	return []byte(`{"anthropic_version":"bedrock-2023-05-31","max_tokens":200,
	 "system":[{"type":"text","text":"` + longText(1500) + `","cache_control":{"type":"ephemeral"}}],
	 "messages":[{"role":"user","content":"` + question + `"}]}`)
}

type anthropicCacheUsage struct {
	InputTokens              int `json:"input_tokens"`
	CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int `json:"cache_read_input_tokens"`
}

func TestPromptCacheInvokeModel(t *testing.T) {
	ctx := context.Background()
	_, c, rec, _ := outputEnv(t)
	want := []anthropicCacheUsage{{6, cachedPrefix, 0}, {6, 0, cachedPrefix}}
	for i, w := range want {
		out, err := c.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(sandbox.SeedProfile),
			Body: anthropicCached("question " + strconv.Itoa(i)), ContentType: aws.String("application/json"),
			PerformanceConfigLatency: brtypes.PerformanceConfigLatencyStandard, ServiceTier: brtypes.ServiceTierTypePriority})
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Usage anthropicCacheUsage }
		must(t, json.Unmarshal(out.Body, &body))
		if body.Usage != w {
			t.Errorf("call %d: usage %+v, want %+v", i, body.Usage, w)
		}
		h := rec.Header()
		for name, v := range map[string]int{"X-Amzn-Bedrock-Input-Token-Count": w.InputTokens,
			"X-Amzn-Bedrock-Cache-Read-Input-Token-Count": w.CacheReadInputTokens, "X-Amzn-Bedrock-Cache-Write-Input-Token-Count": w.CacheCreationInputTokens} {
			if got := h.Get(name); got != strconv.Itoa(v) {
				t.Errorf("call %d: %s = %q, want %d", i, name, got, v)
			}
		}
		if out.PerformanceConfigLatency != brtypes.PerformanceConfigLatencyStandard || out.ServiceTier != brtypes.ServiceTierTypePriority {
			t.Errorf("call %d: echoed latency %q and tier %q, want standard and priority", i, out.PerformanceConfigLatency, out.ServiceTier)
		}
	}
}

func TestPromptCacheInvokeModelStream(t *testing.T) {
	ctx := context.Background()
	_, c, _, _ := outputEnv(t)
	type metrics struct {
		InputTokenCount           int  `json:"inputTokenCount"`
		CacheReadInputTokenCount  *int `json:"cacheReadInputTokenCount"`
		CacheWriteInputTokenCount *int `json:"cacheWriteInputTokenCount"`
	}
	for i, want := range []anthropicCacheUsage{{6, cachedPrefix, 0}, {6, 0, cachedPrefix}} {
		out, err := c.InvokeModelWithResponseStream(ctx, &bedrockruntime.InvokeModelWithResponseStreamInput{ModelId: aws.String(sandbox.SeedProfile),
			Body: anthropicCached("streamed " + strconv.Itoa(i)), ContentType: aws.String("application/json"), ServiceTier: brtypes.ServiceTierTypeDefault})
		if err != nil {
			t.Fatal(err)
		}
		if out.ServiceTier != brtypes.ServiceTierTypeDefault {
			t.Errorf("stream %d: tier header %q, want default", i, out.ServiceTier)
		}
		var start anthropicCacheUsage
		var m *metrics
		for ev := range out.GetStream().Events() {
			ch, ok := ev.(*brtypes.ResponseStreamMemberChunk)
			if !ok {
				continue
			}
			var e struct {
				Type    string
				Message struct{ Usage anthropicCacheUsage }
				Metrics *metrics `json:"amazon-bedrock-invocationMetrics"`
			}
			must(t, json.Unmarshal(ch.Value.Bytes, &e))
			if e.Type == "message_start" {
				start = e.Message.Usage
			}
			if e.Metrics != nil {
				m = e.Metrics
			}
		}
		if start != want {
			t.Errorf("stream %d: message_start usage %+v, want %+v", i, start, want)
		}
		if m == nil || m.CacheReadInputTokenCount == nil || m.CacheWriteInputTokenCount == nil {
			t.Fatalf("stream %d: invocation metrics %+v, want both cache counts", i, m)
		}
		if got := (anthropicCacheUsage{m.InputTokenCount, *m.CacheWriteInputTokenCount, *m.CacheReadInputTokenCount}); got != want {
			t.Errorf("stream %d: invocation metrics %+v, want %+v", i, got, want)
		}
	}
}

func TestPromptCacheNova(t *testing.T) {
	ctx := context.Background()
	_, c, _, _ := outputEnv(t)
	body := []byte(`{"system":[{"text":"` + longText(1500) + `"},{"cachePoint":{"type":"default"}}],
	 "messages":[{"role":"user","content":[{"text":"hello Nova"}]}]}`)
	var got []cacheCounts
	for i := 0; i < 2; i++ {
		out, err := c.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String("amazon.nova-pro-v1:0"), Body: body, ContentType: aws.String("application/json")})
		if err != nil {
			t.Fatal(err)
		}
		var b struct {
			Usage struct {
				InputTokens               int `json:"inputTokens"`
				CacheReadInputTokenCount  int `json:"cacheReadInputTokenCount"`
				CacheWriteInputTokenCount int `json:"cacheWriteInputTokenCount"`
			} `json:"usage"`
		}
		must(t, json.Unmarshal(out.Body, &b))
		got = append(got, cacheCounts{b.Usage.InputTokens, b.Usage.CacheReadInputTokenCount, b.Usage.CacheWriteInputTokenCount})
	}
	if diff := cmp.Diff([]cacheCounts{{6, 0, cachedPrefix}, {6, cachedPrefix, 0}}, got); diff != "" {
		t.Errorf("Nova usage (-want +got):\n%s", diff)
	}
}

func TestTierEcho(t *testing.T) {
	ctx := context.Background()
	_, c, rec, _ := outputEnv(t)
	out, err := c.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: aws.String(sandbox.SeedProfile), Messages: userText("hello"),
		PerformanceConfig: &brtypes.PerformanceConfiguration{Latency: brtypes.PerformanceConfigLatencyStandard},
		ServiceTier:       &brtypes.ServiceTier{Type: brtypes.ServiceTierTypePriority}})
	if err != nil {
		t.Fatal(err)
	}
	if out.PerformanceConfig == nil || out.PerformanceConfig.Latency != brtypes.PerformanceConfigLatencyStandard {
		t.Errorf("performanceConfig %+v, want standard", out.PerformanceConfig)
	}
	if out.ServiceTier == nil || out.ServiceTier.Type != brtypes.ServiceTierTypePriority {
		t.Errorf("serviceTier %+v, want priority", out.ServiceTier)
	}
	if out.Usage.CacheReadInputTokens != nil {
		t.Errorf("usage %+v: no cache counts for a request without cache points", out.Usage)
	}

	plain, err := c.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: aws.String(sandbox.SeedProfile), Messages: userText("hello")})
	if err != nil {
		t.Fatal(err)
	}
	if plain.PerformanceConfig != nil || plain.ServiceTier != nil {
		t.Errorf("not asked: performanceConfig %+v, serviceTier %+v; want neither", plain.PerformanceConfig, plain.ServiceTier)
	}
	inv, err := c.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(sandbox.SeedProfile), Body: []byte(seedBody),
		ContentType: aws.String("application/json"), PerformanceConfigLatency: brtypes.PerformanceConfigLatencyOptimized, ServiceTier: brtypes.ServiceTierTypeFlex})
	if err != nil {
		t.Fatal(err)
	}
	if inv.PerformanceConfigLatency != brtypes.PerformanceConfigLatencyOptimized || inv.ServiceTier != brtypes.ServiceTierTypeFlex {
		t.Errorf("InvokeModel echoed %q, %q; want optimized, flex", inv.PerformanceConfigLatency, inv.ServiceTier)
	}
	if h := rec.Header(); h.Get("X-Amzn-Bedrock-Cache-Read-Input-Token-Count") != "" {
		t.Errorf("cache headers on a call without cache points: %v", h)
	}
}

// claude37 is a model whose cache points last 5 minutes only, by a profile ap-northeast-1 may call.
const claude37 = "apac.anthropic.claude-3-7-sonnet-20250219-v1:0"

// TestOutputBadInput is the refusals of cache points and tiers, each with its exception and status.
func TestOutputBadInput(t *testing.T) {
	ctx := context.Background()
	_, c, _, _ := outputEnv(t)
	cp := func(typ brtypes.CachePointType, ttl brtypes.CacheTTL) brtypes.SystemContentBlock {
		return &brtypes.SystemContentBlockMemberCachePoint{Value: brtypes.CachePointBlock{Type: typ, Ttl: ttl}}
	}
	converse := func(model string, system ...brtypes.SystemContentBlock) func() error {
		return func() error {
			_, err := c.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: aws.String(model), Messages: userText("hi"),
				System: append([]brtypes.SystemContentBlock{&brtypes.SystemContentBlockMemberText{Value: "be brief"}}, system...)})
			return err
		}
	}
	invoke := func(model, body string, latency brtypes.PerformanceConfigLatency, tier brtypes.ServiceTierType) func() error {
		return func() error {
			_, err := c.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(model), Body: []byte(body),
				ContentType: aws.String("application/json"), PerformanceConfigLatency: latency, ServiceTier: tier})
			return err
		}
	}
	cc := func(cacheControl string) string {
		return `{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"system":[{"type":"text","text":"be brief","cache_control":` + cacheControl + `}],"messages":[{"role":"user","content":"hi"}]}`
	}
	fivePoints := func() error {
		sys := []brtypes.SystemContentBlock{}
		for i := 0; i < 5; i++ {
			sys = append(sys, &brtypes.SystemContentBlockMemberText{Value: "part " + strconv.Itoa(i)}, cp(brtypes.CachePointTypeDefault, ""))
		}
		_, err := c.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: aws.String(sandbox.SeedProfile), Messages: userText("hi"), System: sys})
		return err
	}
	novaTools := func() error {
		schema := brtypes.ToolInputSchemaMemberJson{Value: document.NewLazyDocument(map[string]any{"type": "object"})}
		_, err := c.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: aws.String("amazon.nova-pro-v1:0"), Messages: userText("hi"),
			ToolConfig: &brtypes.ToolConfiguration{Tools: []brtypes.Tool{
				&brtypes.ToolMemberToolSpec{Value: brtypes.ToolSpecification{Name: aws.String("t"), InputSchema: &schema}},
				&brtypes.ToolMemberCachePoint{Value: brtypes.CachePointBlock{Type: brtypes.CachePointTypeDefault}}}}})
		return err
	}
	tier := func(pc *brtypes.PerformanceConfiguration, st *brtypes.ServiceTier) func() error {
		return func() error {
			_, err := c.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: aws.String(sandbox.SeedProfile), Messages: userText("hi"), PerformanceConfig: pc, ServiceTier: st})
			return err
		}
	}
	tests := []struct {
		name   string
		call   func() error
		code   string
		status int
		msg    string
	}{
		{"bad cachePoint type", converse(sandbox.SeedProfile, cp("ephemeral", "")), "ValidationException", 400,
			"1 validation error detected: Value 'ephemeral' at 'system.2.member.cachePoint.type' failed to satisfy constraint: Member must satisfy enum value set: [default]"},
		{"bad cachePoint ttl", converse(sandbox.SeedProfile, cp(brtypes.CachePointTypeDefault, "2h")), "ValidationException", 400,
			"1 validation error detected: Value '2h' at 'system.2.member.cachePoint.ttl' failed to satisfy constraint: Member must satisfy enum value set: [5m, 1h]"},
		{"cache point for a model without caching", converse("anthropic.claude-3-haiku-20240307-v1:0", cp(brtypes.CachePointTypeDefault, "")), "AccessDeniedException", 403,
			"You invoked an unsupported model or your request did not allow prompt caching. See the documentation for more information."},
		{"1h for a model with 5 minutes only", converse(claude37, cp(brtypes.CachePointTypeDefault, brtypes.CacheTTLOneHour)), "ValidationException", 400,
			"Extra inputs are not permitted"},
		{"1h on Nova", converse("amazon.nova-pro-v1:0", cp(brtypes.CachePointTypeDefault, brtypes.CacheTTLOneHour)), "ValidationException", 400,
			"Extended TTL prompt caching is only supported for Anthropic models"},
		{"a 1h point after a 5m one", converse(sandbox.SeedProfile, cp(brtypes.CachePointTypeDefault, ""), &brtypes.SystemContentBlockMemberText{Value: "more"}, cp(brtypes.CachePointTypeDefault, brtypes.CacheTTLOneHour)),
			"ValidationException", 400, "a ttl='1h' cache_control block must not come after a ttl='5m' cache_control block"},
		{"five cache points", fivePoints, "ValidationException", 400, "A maximum of 4 blocks with cache_control may be provided. Found 5."},
		{"a cache point in Nova's tools", novaTools, "ValidationException", 400,
			"Malformed input request: #/toolConfig/tools/1: extraneous key [cachePoint] is not permitted, please reformat your input and try again."},
		{"bad cache_control type", invoke(sandbox.SeedProfile, cc(`{"type":"persistent"}`), "", ""), "ValidationException", 400,
			"system.0.cache_control: Input tag 'persistent' found using 'type' does not match any of the expected tags: 'ephemeral'"},
		{"bad cache_control ttl", invoke(sandbox.SeedProfile, cc(`{"type":"ephemeral","ttl":"10m"}`), "", ""), "ValidationException", 400,
			"system.0.cache_control.ephemeral.ttl: Input should be '5m' or '1h'"},
		{"cache_control ttl 1h for Claude 3.7 Sonnet's 5 minutes", invoke(claude37, cc(`{"type":"ephemeral","ttl":"1h"}`), "", ""), "ValidationException", 400,
			"system.0.cache_control.ephemeral.ttl: Extra inputs are not permitted"},
		{"cache_control for a model without caching", invoke("anthropic.claude-3-haiku-20240307-v1:0", cc(`{"type":"ephemeral"}`), "", ""), "AccessDeniedException", 403,
			"You invoked an unsupported model or your request did not allow prompt caching. See the documentation for more information."},
		{"bad latency", tier(&brtypes.PerformanceConfiguration{Latency: "fast"}, nil), "ValidationException", 400,
			"1 validation error detected: Value 'fast' at 'performanceConfig.latency' failed to satisfy constraint: Member must satisfy enum value set: [standard, optimized]"},
		{"bad service tier", tier(nil, &brtypes.ServiceTier{Type: "gold"}), "ValidationException", 400,
			"1 validation error detected: Value 'gold' at 'serviceTier.type' failed to satisfy constraint: Member must satisfy enum value set: [priority, default, flex, reserved]"},
		{"both bad", tier(&brtypes.PerformanceConfiguration{Latency: "fast"}, &brtypes.ServiceTier{Type: "gold"}), "ValidationException", 400,
			"2 validation errors detected: Value 'fast' at 'performanceConfig.latency' failed to satisfy constraint: Member must satisfy enum value set: [standard, optimized]; Value 'gold' at 'serviceTier.type' failed to satisfy constraint: Member must satisfy enum value set: [priority, default, flex, reserved]"},
		{"reserved without a reservation", tier(nil, &brtypes.ServiceTier{Type: brtypes.ServiceTierTypeReserved}), "ValidationException", 400, "Reservation not found."},
		{"bad latency header", invoke(sandbox.SeedProfile, seedBody, "fast", ""), "ValidationException", 400,
			"1 validation error detected: Value 'fast' at 'performanceConfigLatency' failed to satisfy constraint: Member must satisfy enum value set: [standard, optimized]"},
		{"bad tier header", invoke(sandbox.SeedProfile, seedBody, "", "gold"), "ValidationException", 400,
			"1 validation error detected: Value 'gold' at 'serviceTier' failed to satisfy constraint: Member must satisfy enum value set: [priority, default, flex, reserved]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if got := apiCode(err); got != tt.code {
				t.Fatalf("got %v, want %s", err, tt.code)
			}
			if got := httpStatus(err); got != tt.status {
				t.Errorf("status %d, want %d", got, tt.status)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("message %q, want %q", err, tt.msg)
			}
		})
	}
}
