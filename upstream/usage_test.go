package upstream

import (
	"encoding/base64"
	"net/http"
	"testing"
	"time"
)

// TestUsageCache reads the prompt-cache counts wherever Bedrock reports usage; the other counts are as before.
func TestUsageCache(t *testing.T) {
	want := Usage{InputTokens: 6, OutputTokens: 20, CacheReadInputTokens: 1503, CacheWriteInputTokens: 7, Latency: 40 * time.Millisecond}

	h := http.Header{}
	h.Set("X-Amzn-Bedrock-Input-Token-Count", "6")
	h.Set("X-Amzn-Bedrock-Output-Token-Count", "20")
	h.Set("X-Amzn-Bedrock-Cache-Read-Input-Token-Count", "1503")
	h.Set("X-Amzn-Bedrock-Cache-Write-Input-Token-Count", "7")
	h.Set("X-Amzn-Bedrock-Invocation-Latency", "40")
	if got := UsageFromHeaders(h); got != want {
		t.Errorf("headers: got %+v, want %+v", got, want)
	}

	body := []byte(`{"usage":{"inputTokens":6,"outputTokens":20,"totalTokens":1536,"cacheReadInputTokens":1503,"cacheWriteInputTokens":7}}`)
	noLatency := want
	noLatency.Latency = 0
	if got := UsageFromResponse(OpConverse, http.Header{}, body); got != noLatency {
		t.Errorf("Converse body: got %+v, want %+v", got, noLatency)
	}

	md := []byte(`{"usage":{"inputTokens":6,"outputTokens":20,"totalTokens":1536,"cacheReadInputTokens":1503,"cacheWriteInputTokens":7},"metrics":{"latencyMs":40}}`)
	if got, ok := ConverseMetadataUsage(md); !ok || got != want {
		t.Errorf("ConverseStream metadata: got %+v, %v; want %+v", got, ok, want)
	}

	ev := `{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":6,"outputTokenCount":20,"invocationLatency":40,"firstByteLatency":5,"cacheReadInputTokenCount":1503,"cacheWriteInputTokenCount":7}}`
	payload := []byte(`{"bytes":"` + base64.StdEncoding.EncodeToString([]byte(ev)) + `"}`)
	if got, ok, _ := ChunkUsage(payload, nil); !ok || got != want {
		t.Errorf("invocation metrics: got %+v, %v; want %+v", got, ok, want)
	}

	// Without cache points Bedrock sends no cache counts: zero, as before.
	plain := []byte(`{"usage":{"inputTokens":6,"outputTokens":20,"totalTokens":26}}`)
	if got := UsageFromResponse(OpConverse, http.Header{}, plain); got != (Usage{InputTokens: 6, OutputTokens: 20}) {
		t.Errorf("Converse body without cache counts: got %+v", got)
	}
}
