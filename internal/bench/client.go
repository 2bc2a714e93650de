package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go/encoding/httpbinding"
)

// op is one kind of request the load sends.
type op struct {
	name      string // for the report
	path      string // Bedrock: the operation after /model/{id}/; OpenAI: the URL path
	openai    bool   // the OpenAI chat completions API (the relay only)
	anthropic bool   // the Anthropic Messages API (the relay only)
	stream    bool
	body      []byte
}

const benchModel = "jp.anthropic.claude-sonnet-4-5-20250929-v1:0"

// ops builds the request shapes; words is the answer length in tokens the sandbox makes.
func ops(words int) map[string]op {
	prompt := fmt.Sprintf("Say hello to the benchmark. words:%d", words)
	return map[string]op{
		"InvokeModel": {name: "InvokeModel", path: "invoke",
			body: []byte(`{"anthropic_version":"bedrock-2023-05-31","max_tokens":1024,"messages":[{"role":"user","content":"` + prompt + `"}]}`)},
		"Converse": {name: "Converse", path: "converse",
			body: []byte(`{"messages":[{"role":"user","content":[{"text":"` + prompt + `"}]}],"inferenceConfig":{"maxTokens":1024}}`)},
		"ConverseStream": {name: "ConverseStream", path: "converse-stream", stream: true,
			body: []byte(`{"messages":[{"role":"user","content":[{"text":"` + prompt + `"}]}],"inferenceConfig":{"maxTokens":1024}}`)},
		"OpenAI": {name: "OpenAI chat", path: "/v1/chat/completions", openai: true,
			body: []byte(`{"model":"` + benchModel + `","max_tokens":1024,"messages":[{"role":"user","content":"` + prompt + `"}]}`)},
		"OpenAIStream": {name: "OpenAI chat stream", path: "/v1/chat/completions", openai: true, stream: true,
			body: []byte(`{"model":"` + benchModel + `","max_tokens":1024,"stream":true,"messages":[{"role":"user","content":"` + prompt + `"}]}`)},
		"InvokeModelWithResponseStream": {name: "InvokeModelWithResponseStream", path: "invoke-with-response-stream", stream: true,
			body: []byte(`{"anthropic_version":"bedrock-2023-05-31","max_tokens":1024,"messages":[{"role":"user","content":"` + prompt + `"}]}`)},
		"Anthropic": {name: "Anthropic messages", path: "/v1/messages", anthropic: true,
			body: []byte(`{"model":"` + benchModel + `","max_tokens":1024,"messages":[{"role":"user","content":"` + prompt + `"}]}`)},
		"AnthropicStream": {name: "Anthropic messages stream", path: "/v1/messages", anthropic: true, stream: true,
			body: []byte(`{"model":"` + benchModel + `","max_tokens":1024,"stream":true,"messages":[{"role":"user","content":"` + prompt + `"}]}`)},
	}
}

// relayOnly says the op is one of the relay's translated APIs, which the proxy and Bedrock do not speak: it
// is compared with the Bedrock operation the relay answers it with (baselineOp).
func (o op) relayOnly() bool { return o.openai || o.anthropic }

// sut is a system under test: where requests go and which process does the work.
type sut struct {
	name   string
	url    string
	pid    int        // the process whose CPU and memory are its cost (0: none besides the sandbox)
	signer *presigner // non-nil: requests must carry SigV4 for the target (the sandbox itself)
	child  *child
	extra  []string // the proxy's extra flags, to start it again
	// replicas, when set, are the processes that make up the system (relays sharing a state backend): the
	// load goes to each in turn and their CPU is summed; url and pid are then unused.
	replicas []*sut
	sent     atomic.Uint64 // requests handed to replicas, for per-request counts of the store's work
	store    int           // the pid of a process the replicas depend on (redis-server): its CPU is counted apart
	header   http.Header   // sent with every request (a peer gateway's provider settings)
}

// next is where the next request goes: the system itself, or its replicas in turn.
func (s *sut) next() *sut {
	if len(s.replicas) == 0 {
		return s
	}
	return s.replicas[(s.sent.Add(1)-1)%uint64(len(s.replicas))]
}

// cpuTime is the CPU time the system's own processes have used so far; 0 for a system without one.
func (s *sut) cpuTime() time.Duration {
	if len(s.replicas) == 0 {
		if s.pid == 0 {
			return 0
		}
		t, _ := cpuTime(s.pid)
		return t
	}
	var sum time.Duration
	for _, r := range s.replicas {
		sum += r.cpuTime()
	}
	return sum
}

// presigner signs each request shape once a minute and replays the signature: SigV4 stays valid for 15
// minutes and the sandbox, like AWS, does not reject replays, so the load generator spends no CPU on
// signing and its cost is the same against every system under test.
type presigner struct {
	creds  aws.Credentials
	region string
	signer *v4.Signer
	mu     sync.Mutex
	cache  map[string]signed
}

type signed struct {
	at time.Time
	h  http.Header
}

func (p *presigner) headers(req *http.Request, body []byte) (http.Header, error) {
	key := req.URL.String() + "\x00" + string(body)
	p.mu.Lock()
	defer p.mu.Unlock()
	if s, ok := p.cache[key]; ok && time.Since(s.at) < time.Minute {
		return s.h, nil
	}
	sum := sha256.Sum256(body)
	r := req.Clone(context.Background())
	if err := p.signer.SignHTTP(context.Background(), p.creds, r, hex.EncodeToString(sum[:]), "bedrock", p.region, time.Now()); err != nil {
		return nil, err
	}
	if p.cache == nil {
		p.cache = map[string]signed{}
	}
	p.cache[key] = signed{time.Now(), r.Header}
	return r.Header, nil
}

// client is the load generator's HTTP side, shared by every system under test.
type client struct{ hc *http.Client }

func newClient() *client {
	t := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        4096,
		MaxIdleConnsPerHost: 4096,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &client{hc: &http.Client{Transport: t}}
}

func (c *client) url(s *sut, o op) string {
	if o.relayOnly() {
		return s.url + o.path
	}
	return s.url + "/model/" + httpbinding.EscapePath(benchModel, true) + "/" + o.path
}

// do sends one request and reads the whole answer. A non-2xx status, or an exception frame or error event
// in a stream, is an error.
func (c *client) do(ctx context.Context, s *sut, o op) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url(s, o), bytes.NewReader(o.body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if o.stream && !o.relayOnly() {
		req.Header.Set("Accept", "application/vnd.amazon.eventstream")
	}
	if o.anthropic {
		req.Header.Set("Anthropic-Version", "2023-06-01")
	}
	for k, v := range s.header {
		req.Header[k] = v
	}
	if s.signer != nil {
		h, err := s.signer.headers(req, o.body)
		if err != nil {
			return 0, err
		}
		for k, v := range h {
			req.Header[k] = v
		}
	}
	sent := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return 0, fmt.Errorf("HTTP %d %s: %s", resp.StatusCode, resp.Header.Get("X-Amzn-Errortype"), b)
	}
	if !o.stream {
		_, err := io.Copy(io.Discard, resp.Body)
		return 0, err
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	var ttfb time.Duration
	var tail []byte // the last bytes seen, to find the end marker across reads
	for {
		n, err := resp.Body.Read(*bp)
		if n > 0 {
			if ttfb == 0 {
				ttfb = time.Since(sent)
			}
			chunk := (*bp)[:n]
			if bytes.Contains(chunk, []byte(":exception-type")) && !o.relayOnly() {
				return ttfb, fmt.Errorf("exception frame in the stream: %q", truncate(chunk, 300))
			}
			if o.anthropic && bytes.Contains(chunk, []byte("event: error")) {
				return ttfb, fmt.Errorf("error event in the stream: %q", truncate(chunk, 300))
			}
			tail = append(tail[:0], chunk[max(0, n-128):]...)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return ttfb, err
		}
	}
	if o.openai && !strings.Contains(string(tail), "[DONE]") {
		return ttfb, fmt.Errorf("OpenAI stream did not end with [DONE]: %q", tail)
	}
	if o.anthropic && !strings.Contains(string(tail), "message_stop") {
		return ttfb, fmt.Errorf("Anthropic stream did not end with message_stop: %q", tail)
	}
	return ttfb, nil
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
