package upstream

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"strings"
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

// chunkUsageLongWay is ChunkUsage without the base64 prefilter: every chunk decoded, as before it.
func chunkUsageLongWay(payload []byte) (Usage, bool) {
	i := bytes.Index(payload, chunkBytesKey)
	if i < 0 {
		return Usage{}, false
	}
	enc := payload[i+len(chunkBytesKey):]
	if j := bytes.IndexByte(enc, '"'); j >= 0 {
		enc = enc[:j]
	}
	dec, err := base64.StdEncoding.DecodeString(string(enc))
	if err != nil {
		return Usage{}, false
	}
	return InvocationMetrics(dec)
}

// TestChunkUsageEveryAlignment finds the metrics wherever the key falls against base64's 3-byte groups.
func TestChunkUsageEveryAlignment(t *testing.T) {
	for pad := 0; pad < 7; pad++ {
		ev := `{"type":"message_stop"` + strings.Repeat(" ", pad) + `,"amazon-bedrock-invocationMetrics":{"inputTokenCount":6,"outputTokenCount":20,"invocationLatency":40}}`
		payload := []byte(`{"bytes":"` + base64.StdEncoding.EncodeToString([]byte(ev)) + `"}`)
		got, ok, _ := ChunkUsage(payload, nil)
		if want := (Usage{InputTokens: 6, OutputTokens: 20, Latency: 40 * time.Millisecond}); !ok || got != want {
			t.Errorf("key at offset %d: got %+v, %v; want %+v", 23+pad, got, ok, want)
		}
	}
}

// FuzzChunkUsage holds the base64 prefilter to the long way: the same answer for any event.
func FuzzChunkUsage(f *testing.F) {
	f.Add([]byte(`{"type":"content_block_delta","delta":{"text":"hi"}}`))
	f.Add([]byte(`{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":6,"outputTokenCount":20}}`))
	f.Add([]byte(`x"amazon-bedrock-invocationMetrics":{"inputTokenCount":1}`))
	f.Fuzz(func(t *testing.T, ev []byte) {
		for _, payload := range [][]byte{
			[]byte(`{"bytes":"` + base64.StdEncoding.EncodeToString(ev) + `"}`),
			append([]byte(`{"bytes":"`), ev...),
		} {
			got, ok, _ := ChunkUsage(payload, nil)
			want, wok := chunkUsageLongWay(payload)
			if got != want || ok != wok {
				t.Fatalf("%q: prefiltered %+v, %v; long way %+v, %v", payload, got, ok, want, wok)
			}
		}
	})
}
