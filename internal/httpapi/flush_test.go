package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

// A stream is written to its caller in batches of what arrived together (router.Stream.Pending), never by
// holding a frame back for the next: at a model's pace, every delta reaches the caller as it is made, on
// each API that streams.
func TestPacedStreamsAreNotHeldBack(t *testing.T) {
	e := newOpenEnv(t)
	e.sb.SetLatency(sandbox.SeedProfile, sandbox.Latency{TokensPerSecond: 40})
	e.sb.SetLatency(sonnet, sandbox.Latency{TokensPerSecond: 40})
	for _, tt := range []struct {
		name, path, body, delta string
		hdr                     []string
	}{
		{"ConverseStream", "/model/" + sandbox.SeedProfile + "/converse-stream",
			`{"messages":[{"role":"user","content":[{"text":"pace words:24"}]}]}`, "contentBlockDelta",
			[]string{"Authorization", "Bearer " + keyAll, "Accept", "application/vnd.amazon.eventstream"}},
		{"OpenAI", "/v1/chat/completions",
			`{"model":"` + sandbox.SeedProfile + `","stream":true,"messages":[{"role":"user","content":"pace words:24"}]}`, `"delta":{"content"`,
			[]string{"Authorization", "Bearer " + keyAll}},
		{"Anthropic", "/v1/messages", userBody("claude-sonnet-4-5", "pace words:24", `,"stream":true`), "content_block_delta",
			[]string{"X-Api-Key", keyAll, "Anthropic-Version", "2023-06-01"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, e.srv.URL+tt.path, strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			for i := 0; i+1 < len(tt.hdr); i += 2 {
				req.Header.Set(tt.hdr[i], tt.hdr[i+1])
			}
			resp, err := e.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("HTTP %d", resp.StatusCode)
			}
			// The reads that carried deltas, and when.
			var reads []time.Time
			deltas := 0
			buf := make([]byte, 64<<10)
			for {
				n, err := resp.Body.Read(buf)
				if c := strings.Count(string(buf[:n]), tt.delta); c > 0 {
					deltas += c
					reads = append(reads, time.Now())
				}
				if err != nil {
					break
				}
			}
			// 24 tokens at 40 a second take 600 ms to make: held back to the end, the deltas would come in a
			// read or two at once.
			if deltas < 3 || len(reads) < 3 || reads[len(reads)-1].Sub(reads[0]) < 300*time.Millisecond {
				t.Errorf("%d deltas came in %d reads over %v: want them as they were made, over about 600 ms", deltas, len(reads), reads[len(reads)-1].Sub(reads[0]))
			}
		})
	}
}
