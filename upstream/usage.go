package upstream

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// Usage is what one invocation consumed, as Bedrock reports it: the token-count headers of InvokeModel,
// the usage object of Converse, the metadata event of ConverseStream, or the invocation metrics Bedrock
// appends to the last chunk of an InvokeModelWithResponseStream.
type Usage struct {
	InputTokens, OutputTokens int
	// CacheReadInputTokens and CacheWriteInputTokens are the prompt-cache counts, where Bedrock reports them
	// (a request with cache points); InputTokens counts neither.
	CacheReadInputTokens, CacheWriteInputTokens int
	// Latency is Bedrock's own measure of the invocation, where it says (0 otherwise).
	Latency time.Duration
}

// UsageFromHeaders reads the X-Amzn-Bedrock-*-Token-Count and -Invocation-Latency headers of an InvokeModel
// (or Converse) answer.
func UsageFromHeaders(h http.Header) Usage {
	in, _ := strconv.Atoi(h.Get("X-Amzn-Bedrock-Input-Token-Count"))
	out, _ := strconv.Atoi(h.Get("X-Amzn-Bedrock-Output-Token-Count"))
	u := Usage{InputTokens: in, OutputTokens: out}
	// Absent without cache points: parsed only when present, so that the common answer makes no error value.
	if v := h.Get("X-Amzn-Bedrock-Cache-Read-Input-Token-Count"); v != "" {
		u.CacheReadInputTokens, _ = strconv.Atoi(v)
	}
	if v := h.Get("X-Amzn-Bedrock-Cache-Write-Input-Token-Count"); v != "" {
		u.CacheWriteInputTokens, _ = strconv.Atoi(v)
	}
	if ms, err := strconv.Atoi(h.Get("X-Amzn-Bedrock-Invocation-Latency")); err == nil {
		u.Latency = time.Duration(ms) * time.Millisecond
	}
	return u
}

// UsageFromResponse reads the usage of a non-stream answer: the token-count headers, or for Converse the
// body's usage object when the headers are absent.
func UsageFromResponse(op string, h http.Header, body []byte) Usage {
	u := UsageFromHeaders(h)
	if u.InputTokens > 0 || u.OutputTokens > 0 || op != OpConverse {
		return u
	}
	var b struct {
		Usage converseUsage `json:"usage"`
	}
	_ = json.Unmarshal(body, &b)
	u.InputTokens, u.OutputTokens = b.Usage.InputTokens, b.Usage.OutputTokens
	u.CacheReadInputTokens, u.CacheWriteInputTokens = b.Usage.CacheReadInputTokens, b.Usage.CacheWriteInputTokens
	return u
}

// converseUsage is Converse's TokenUsage.
type converseUsage struct {
	InputTokens           int `json:"inputTokens"`
	OutputTokens          int `json:"outputTokens"`
	CacheReadInputTokens  int `json:"cacheReadInputTokens"`
	CacheWriteInputTokens int `json:"cacheWriteInputTokens"`
}

// ConverseMetadataUsage reads the usage of a ConverseStream metadata event's payload.
func ConverseMetadataUsage(payload []byte) (Usage, bool) {
	var b struct {
		Usage   *converseUsage `json:"usage"`
		Metrics struct {
			LatencyMs int64 `json:"latencyMs"`
		} `json:"metrics"`
	}
	if json.Unmarshal(payload, &b) != nil || b.Usage == nil {
		return Usage{}, false
	}
	return Usage{InputTokens: b.Usage.InputTokens, OutputTokens: b.Usage.OutputTokens,
		CacheReadInputTokens: b.Usage.CacheReadInputTokens, CacheWriteInputTokens: b.Usage.CacheWriteInputTokens,
		Latency: time.Duration(b.Metrics.LatencyMs) * time.Millisecond}, true
}

var invocationMetricsKey = []byte(`"amazon-bedrock-invocationMetrics"`)

// InvocationMetrics reads the amazon-bedrock-invocationMetrics object Bedrock adds to the last model event of
// an InvokeModelWithResponseStream (event is the decoded chunk: the model's own JSON event).
func InvocationMetrics(event []byte) (Usage, bool) {
	if !bytes.Contains(event, invocationMetricsKey) {
		return Usage{}, false
	}
	var ev struct {
		M *struct {
			InputTokenCount           int   `json:"inputTokenCount"`
			OutputTokenCount          int   `json:"outputTokenCount"`
			CacheReadInputTokenCount  int   `json:"cacheReadInputTokenCount"`
			CacheWriteInputTokenCount int   `json:"cacheWriteInputTokenCount"`
			InvocationLatency         int64 `json:"invocationLatency"`
		} `json:"amazon-bedrock-invocationMetrics"`
	}
	if json.Unmarshal(event, &ev) != nil || ev.M == nil {
		return Usage{}, false
	}
	return Usage{InputTokens: ev.M.InputTokenCount, OutputTokens: ev.M.OutputTokenCount,
		CacheReadInputTokens: ev.M.CacheReadInputTokenCount, CacheWriteInputTokens: ev.M.CacheWriteInputTokenCount,
		Latency: time.Duration(ev.M.InvocationLatency) * time.Millisecond}, true
}

var chunkBytesKey = []byte(`"bytes":"`)

// metricsInBase64 are the invocation-metrics key as it reads in base64 text at each of the three alignments
// a byte string can have against base64's 3-byte groups: the key's bytes from the first group boundary it
// crosses, as many whole groups as it spans, encoded. Where the key is in the decoded bytes, one of the three
// is in the text; where none is, the key is not there and the chunk need not be decoded.
var metricsInBase64 = func() [3][]byte {
	key := invocationMetricsKey[1 : len(invocationMetricsKey)-1] // the name, without its quotes
	var out [3][]byte
	for k := range out {
		whole := key[k:]
		whole = whole[:len(whole)/3*3]
		out[k] = []byte(base64.StdEncoding.EncodeToString(whole))
	}
	return out
}()

// mayHoldMetrics reports whether the base64 text enc may encode the invocation-metrics key (false: it
// certainly does not). Base64 broken by raw line feeds, which a JSON string cannot hold, is not looked into.
func mayHoldMetrics(enc []byte) bool {
	for _, p := range metricsInBase64 {
		if bytes.Contains(enc, p) {
			return true
		}
	}
	return false
}

// ChunkUsage reads the invocation metrics of an InvokeModelWithResponseStream chunk event's payload
// ({"bytes":"<base64 model event>"}) without decoding its JSON or, for the chunks without them (all but the
// last), its base64: the key is looked for in the base64 text, and only a chunk that has it is decoded and
// its event unmarshalled. buf is scratch space for the decoded bytes, reused across calls (it is returned,
// grown if need be).
func ChunkUsage(payload, buf []byte) (Usage, bool, []byte) {
	i := bytes.Index(payload, chunkBytesKey)
	if i < 0 {
		return Usage{}, false, buf
	}
	enc := payload[i+len(chunkBytesKey):]
	if j := bytes.IndexByte(enc, '"'); j >= 0 {
		enc = enc[:j]
	}
	if !mayHoldMetrics(enc) {
		return Usage{}, false, buf
	}
	n := base64.StdEncoding.DecodedLen(len(enc))
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	dec := buf[:n]
	n, err := base64.StdEncoding.Decode(dec, enc)
	if err != nil {
		return Usage{}, false, buf
	}
	u, ok := InvocationMetrics(dec[:n])
	return u, ok, buf
}
