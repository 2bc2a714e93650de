package sandbox

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/google/go-cmp/cmp"

	"github.com/bedrock-relay/bedrock-relay/catalog"
)

// These tests hand the bodies and frames to the real aws-sdk-go-v2 client through a fake HTTP transport, so
// the SDK's own deserializers judge the shapes: a misspelt member would decode to a zero value and fail.

type cannedResponse struct {
	contentType string
	body        []byte
}

func (c cannedResponse) Do(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	h := http.Header{}
	h.Set("Content-Type", c.contentType)
	h.Set("x-amzn-RequestId", "test-request")
	return &http.Response{StatusCode: 200, Header: h, Body: io.NopCloser(bytes.NewReader(c.body)),
		ContentLength: int64(len(c.body)), Request: req}, nil
}

func sdkClient(t *testing.T, contentType string, body []byte) *bedrockruntime.Client {
	t.Helper()
	return bedrockruntime.New(bedrockruntime.Options{
		Region:       "ap-northeast-3",
		BaseEndpoint: aws.String("http://sandbox.invalid"),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		HTTPClient:   cannedResponse{contentType, body},
	})
}

func encodeFrames(t *testing.T, events []streamEvent) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := eventstream.NewEncoder()
	for _, e := range events {
		var h eventstream.Headers
		h.Set(":message-type", eventstream.StringValue("event"))
		h.Set(":event-type", eventstream.StringValue(e.EventType))
		h.Set(":content-type", eventstream.StringValue("application/json"))
		if err := enc.Encode(&buf, eventstream.Message{Headers: h, Payload: e.Payload}); err != nil {
			t.Fatalf("encode frame: %v", err)
		}
	}
	return buf.Bytes()
}

var testServedBy = servedBy{Account: "222222222222", Region: "ap-northeast-3",
	ModelID: "anthropic.claude-sonnet-4-5-20250929-v1:0", ModelName: "Claude Sonnet 4.5"}

func testReplies() map[string]reply {
	return map[string]reply{
		"text":          {Text: "[bedrock sandbox] こんにちは <world> & more words here", StopReason: "end_turn", InputTokens: 12, OutputTokens: 9},
		"stop sequence": {Text: "cut here", StopReason: "stop_sequence", StopSequence: "STOP", InputTokens: 5, OutputTokens: 2},
		"tool use": {Text: "I'll call the weather tool.", StopReason: "tool_use", InputTokens: 40, OutputTokens: 12,
			ToolUse: &toolUse{ID: "tooluse_abc123", Name: "get_weather", Input: json.RawMessage(`{"city":"Tokyo","days":3,"unit":"celsius"}`)}},
		"forced tool use": {StopReason: "tool_use", InputTokens: 40, OutputTokens: 8,
			ToolUse: &toolUse{ID: "tooluse_def456", Name: "lookup", Input: json.RawMessage(`{}`)}},
	}
}

// documentMap decodes a smithy document the SDK produced, through its own JSON form.
func documentMap(t *testing.T, d document.Interface) map[string]any {
	t.Helper()
	raw, err := d.MarshalSmithyDocument()
	if err != nil {
		t.Fatalf("tool input document: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("tool input document %s: %v", raw, err)
	}
	return m
}

func TestConverseResponseBodyThroughSDK(t *testing.T) {
	for name, r := range testReplies() {
		t.Run(name, func(t *testing.T) {
			client := sdkClient(t, "application/json", converseResponseBody(r, 321))
			out, err := client.Converse(context.Background(), &bedrockruntime.ConverseInput{ModelId: aws.String("m")})
			if err != nil {
				t.Fatalf("Converse: %v", err)
			}
			if got, want := string(out.StopReason), r.StopReason; got != want {
				t.Errorf("stopReason: got %q, want %q", got, want)
			}
			if u := out.Usage; aws.ToInt32(u.InputTokens) != int32(r.InputTokens) || aws.ToInt32(u.OutputTokens) != int32(r.OutputTokens) ||
				aws.ToInt32(u.TotalTokens) != int32(r.InputTokens+r.OutputTokens) {
				t.Errorf("usage: got %d/%d/%d, want %d/%d/%d", aws.ToInt32(u.InputTokens), aws.ToInt32(u.OutputTokens),
					aws.ToInt32(u.TotalTokens), r.InputTokens, r.OutputTokens, r.InputTokens+r.OutputTokens)
			}
			if got := aws.ToInt64(out.Metrics.LatencyMs); got != 321 {
				t.Errorf("latencyMs: got %d, want 321", got)
			}
			msg, ok := out.Output.(*types.ConverseOutputMemberMessage)
			if !ok {
				t.Fatalf("output: got %T, want message", out.Output)
			}
			if msg.Value.Role != types.ConversationRoleAssistant {
				t.Errorf("role: got %q", msg.Value.Role)
			}
			var text string
			var tool *types.ToolUseBlock
			for _, b := range msg.Value.Content {
				switch b := b.(type) {
				case *types.ContentBlockMemberText:
					text += b.Value
				case *types.ContentBlockMemberToolUse:
					tool = &b.Value
				default:
					t.Errorf("unexpected block %T", b)
				}
			}
			if text != r.Text {
				t.Errorf("text: got %q, want %q", text, r.Text)
			}
			checkSDKToolUse(t, tool, r.ToolUse)
		})
	}
}

func checkSDKToolUse(t *testing.T, got *types.ToolUseBlock, want *toolUse) {
	t.Helper()
	if (got == nil) != (want == nil) {
		t.Fatalf("tool use: got %v, want %v", got, want)
	}
	if want == nil {
		return
	}
	if aws.ToString(got.ToolUseId) != want.ID || aws.ToString(got.Name) != want.Name {
		t.Errorf("tool use: got %s %s, want %s %s", aws.ToString(got.ToolUseId), aws.ToString(got.Name), want.ID, want.Name)
	}
	var wantInput map[string]any
	json.Unmarshal(want.Input, &wantInput)
	if diff := cmp.Diff(wantInput, documentMap(t, got.Input)); diff != "" {
		t.Errorf("tool input (-want +got):\n%s", diff)
	}
}

func TestConverseStreamEventsThroughSDK(t *testing.T) {
	for name, r := range testReplies() {
		t.Run(name, func(t *testing.T) {
			events := converseStreamEvents(r, 654)
			client := sdkClient(t, "application/vnd.amazon.eventstream", encodeFrames(t, events))
			out, err := client.ConverseStream(context.Background(), &bedrockruntime.ConverseStreamInput{ModelId: aws.String("m")})
			if err != nil {
				t.Fatalf("ConverseStream: %v", err)
			}
			stream := out.GetStream()
			defer stream.Close()
			var (
				order              []string
				text, toolInput    string
				toolID, toolName   string
				stop               string
				usage              *types.TokenUsage
				latency            int64
				textDeltas, blocks int
			)
			for ev := range stream.Events() {
				switch ev := ev.(type) {
				case *types.ConverseStreamOutputMemberMessageStart:
					order = append(order, "messageStart:"+string(ev.Value.Role))
				case *types.ConverseStreamOutputMemberContentBlockStart:
					order = append(order, "contentBlockStart")
					tu, ok := ev.Value.Start.(*types.ContentBlockStartMemberToolUse)
					if !ok {
						t.Fatalf("contentBlockStart: got %T", ev.Value.Start)
					}
					toolID, toolName = aws.ToString(tu.Value.ToolUseId), aws.ToString(tu.Value.Name)
				case *types.ConverseStreamOutputMemberContentBlockDelta:
					if ev.Value.ContentBlockIndex == nil {
						t.Error("contentBlockDelta without contentBlockIndex")
					}
					switch d := ev.Value.Delta.(type) {
					case *types.ContentBlockDeltaMemberText:
						text += d.Value
						textDeltas++
					case *types.ContentBlockDeltaMemberToolUse:
						toolInput += aws.ToString(d.Value.Input)
					default:
						t.Errorf("delta: got %T", d)
					}
				case *types.ConverseStreamOutputMemberContentBlockStop:
					blocks++
					order = append(order, "contentBlockStop")
				case *types.ConverseStreamOutputMemberMessageStop:
					stop = string(ev.Value.StopReason)
					order = append(order, "messageStop")
				case *types.ConverseStreamOutputMemberMetadata:
					usage = ev.Value.Usage
					latency = aws.ToInt64(ev.Value.Metrics.LatencyMs)
					order = append(order, "metadata")
				default:
					t.Errorf("unexpected event %T", ev)
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatalf("stream: %v", err)
			}
			if order[0] != "messageStart:assistant" || order[len(order)-1] != "metadata" || order[len(order)-2] != "messageStop" {
				t.Errorf("event order: got %v", order)
			}
			if text != r.Text {
				t.Errorf("text: got %q, want %q", text, r.Text)
			}
			if r.Text != "" && countTokens(r.Text) > tokensPerDelta && textDeltas < 2 {
				t.Errorf("text came in %d delta(s); want it split", textDeltas)
			}
			if stop != r.StopReason {
				t.Errorf("stopReason: got %q, want %q", stop, r.StopReason)
			}
			if usage == nil || aws.ToInt32(usage.TotalTokens) != int32(r.InputTokens+r.OutputTokens) {
				t.Errorf("usage: got %+v", usage)
			}
			if latency != 654 {
				t.Errorf("latencyMs: got %d, want 654", latency)
			}
			if r.ToolUse != nil {
				if toolID != r.ToolUse.ID || toolName != r.ToolUse.Name {
					t.Errorf("tool start: got %s %s", toolID, toolName)
				}
				if toolInput != string(r.ToolUse.Input) {
					t.Errorf("tool input: got %s, want %s", toolInput, r.ToolUse.Input)
				}
			}
		})
	}
}

func TestCountTokensResponseBodyThroughSDK(t *testing.T) {
	client := sdkClient(t, "application/json", countTokensResponseBody(1234))
	out, err := client.CountTokens(context.Background(), &bedrockruntime.CountTokensInput{ModelId: aws.String("m"),
		Input: &types.CountTokensInputMemberConverse{Value: types.ConverseTokensRequest{}}})
	if err != nil {
		t.Fatalf("CountTokens: %v", err)
	}
	if got := aws.ToInt32(out.InputTokens); got != 1234 {
		t.Errorf("inputTokens: got %d, want 1234", got)
	}
}

var (
	claudeModel = catalog.Model{ID: "anthropic.claude-sonnet-4-5-20250929-v1:0", Name: "Claude Sonnet 4.5",
		Provider: "anthropic", Family: familyAnthropic, MaxOutputTokens: 64000}
	novaModel = catalog.Model{ID: "amazon.nova-pro-v1:0", Name: "Nova Pro", Provider: "amazon",
		Family: familyNova, MaxOutputTokens: 10000}
)

// anthropicMessage mirrors the Messages API response (anthropic-sdk-go's Message, the fields Bedrock sends).
type anthropicMessageIn struct {
	ID           string  `json:"id"`
	Type         string  `json:"type"`
	Role         string  `json:"role"`
	Model        string  `json:"model"`
	StopReason   string  `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
	Content      []struct {
		Type  string          `json:"type"`
		Text  string          `json:"text"`
		ID    string          `json:"id"`
		Name  string          `json:"name"`
		Input json.RawMessage `json:"input"`
	} `json:"content"`
	Usage struct {
		InputTokens              *int `json:"input_tokens"`
		CacheCreationInputTokens *int `json:"cache_creation_input_tokens"`
		CacheReadInputTokens     *int `json:"cache_read_input_tokens"`
		OutputTokens             *int `json:"output_tokens"`
	} `json:"usage"`
}

func TestInvokeResponseBodyAnthropic(t *testing.T) {
	for name, r := range testReplies() {
		t.Run(name, func(t *testing.T) {
			body := invokeResponseBody(claudeModel, r, testServedBy)
			out, err := sdkClient(t, "application/json", body).InvokeModel(context.Background(),
				&bedrockruntime.InvokeModelInput{ModelId: aws.String("m"), Body: []byte("{}")})
			if err != nil {
				t.Fatalf("InvokeModel: %v", err)
			}
			if !bytes.Equal(out.Body, body) {
				t.Fatalf("SDK changed the body")
			}
			var m anthropicMessageIn
			dec := json.NewDecoder(bytes.NewReader(out.Body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&m); err != nil {
				t.Fatalf("decode %s: %v", body, err)
			}
			if !strings.HasPrefix(m.ID, "msg_bdrk_") || m.Type != "message" || m.Role != "assistant" || m.Model != testServedBy.ModelID {
				t.Errorf("envelope: got id=%q type=%q role=%q model=%q", m.ID, m.Type, m.Role, m.Model)
			}
			if m.StopReason != r.StopReason {
				t.Errorf("stop_reason: got %q, want %q", m.StopReason, r.StopReason)
			}
			if got := aws.ToString(m.StopSequence); got != r.StopSequence {
				t.Errorf("stop_sequence: got %q, want %q", got, r.StopSequence)
			}
			if r.StopSequence == "" && !bytes.Contains(body, []byte(`"stop_sequence":null`)) {
				t.Errorf("stop_sequence must be present as null: %s", body)
			}
			if m.Usage.InputTokens == nil || *m.Usage.InputTokens != r.InputTokens || m.Usage.OutputTokens == nil || *m.Usage.OutputTokens != r.OutputTokens {
				t.Errorf("usage: got %s", body)
			}
			var text string
			var tool *toolUse
			for _, b := range m.Content {
				switch b.Type {
				case "text":
					text += b.Text
				case "tool_use":
					tool = &toolUse{ID: b.ID, Name: b.Name, Input: b.Input}
				default:
					t.Errorf("block type %q", b.Type)
				}
			}
			if text != r.Text {
				t.Errorf("text: got %q, want %q", text, r.Text)
			}
			if r.ToolUse != nil {
				if tool == nil || !strings.HasPrefix(tool.ID, "toolu_bdrk_01") || tool.Name != r.ToolUse.Name || string(tool.Input) != string(r.ToolUse.Input) {
					t.Errorf("tool_use: got %+v, want %+v", tool, r.ToolUse)
				}
			}
		})
	}
}

// streamChunks runs events through the SDK's InvokeModelWithResponseStream and returns the decoded model
// events.
func streamChunks(t *testing.T, events []streamEvent) []map[string]any {
	t.Helper()
	for _, e := range events {
		if e.EventType != "chunk" {
			t.Fatalf("event type: got %q, want chunk", e.EventType)
		}
	}
	out, err := sdkClient(t, "application/vnd.amazon.eventstream", encodeFrames(t, events)).InvokeModelWithResponseStream(
		context.Background(), &bedrockruntime.InvokeModelWithResponseStreamInput{ModelId: aws.String("m"), Body: []byte("{}")})
	if err != nil {
		t.Fatalf("InvokeModelWithResponseStream: %v", err)
	}
	stream := out.GetStream()
	defer stream.Close()
	var decoded []map[string]any
	for ev := range stream.Events() {
		c, ok := ev.(*types.ResponseStreamMemberChunk)
		if !ok {
			t.Fatalf("event: got %T", ev)
		}
		var m map[string]any
		if err := json.Unmarshal(c.Value.Bytes, &m); err != nil {
			t.Fatalf("chunk bytes %q: %v", c.Value.Bytes, err)
		}
		decoded = append(decoded, m)
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	return decoded
}

func TestInvokeStreamEventsAnthropic(t *testing.T) {
	for name, r := range testReplies() {
		t.Run(name, func(t *testing.T) {
			evs := streamChunks(t, invokeStreamEvents(claudeModel, r, testServedBy, 111, 999))
			var types_ []string
			var text, partial string
			for _, e := range evs {
				typ, _ := e["type"].(string)
				types_ = append(types_, typ)
				switch typ {
				case "message_start":
					msg := e["message"].(map[string]any)
					for _, k := range []string{"id", "type", "role", "model", "content", "stop_reason", "stop_sequence", "usage"} {
						if _, ok := msg[k]; !ok {
							t.Errorf("message_start.message lacks %q", k)
						}
					}
					if u := msg["usage"].(map[string]any); u["input_tokens"] != float64(r.InputTokens) || u["output_tokens"] != float64(1) {
						t.Errorf("message_start usage: got %v", u)
					}
				case "content_block_delta":
					d := e["delta"].(map[string]any)
					switch d["type"] {
					case "text_delta":
						text += d["text"].(string)
					case "input_json_delta":
						partial += d["partial_json"].(string)
					default:
						t.Errorf("delta type %v", d["type"])
					}
				case "message_delta":
					d := e["delta"].(map[string]any)
					if d["stop_reason"] != r.StopReason {
						t.Errorf("stop_reason: got %v, want %q", d["stop_reason"], r.StopReason)
					}
					if want := any(nil); r.StopSequence != "" {
						want = r.StopSequence
						if d["stop_sequence"] != want {
							t.Errorf("stop_sequence: got %v, want %v", d["stop_sequence"], want)
						}
					} else if v, ok := d["stop_sequence"]; !ok || v != nil {
						t.Errorf("stop_sequence: got %v (present %v), want null", v, ok)
					}
					if u := e["usage"].(map[string]any); u["output_tokens"] != float64(r.OutputTokens) {
						t.Errorf("message_delta usage: got %v", u)
					}
				case "message_stop":
					m, ok := e["amazon-bedrock-invocationMetrics"].(map[string]any)
					want := map[string]any{"inputTokenCount": float64(r.InputTokens), "outputTokenCount": float64(r.OutputTokens),
						"invocationLatency": float64(999), "firstByteLatency": float64(111)}
					if !ok || !cmp.Equal(m, want) {
						t.Errorf("invocation metrics: got %v, want %v", m, want)
					}
				}
			}
			if types_[0] != "message_start" || types_[len(types_)-1] != "message_stop" || types_[len(types_)-2] != "message_delta" {
				t.Errorf("event order: %v", types_)
			}
			if text != r.Text {
				t.Errorf("text: got %q, want %q", text, r.Text)
			}
			if r.ToolUse != nil && partial != string(r.ToolUse.Input) {
				t.Errorf("partial_json: got %s, want %s", partial, r.ToolUse.Input)
			}
		})
	}
}

func TestInvokeNova(t *testing.T) {
	for name, r := range testReplies() {
		t.Run(name, func(t *testing.T) {
			// The Nova body is Converse-shaped: the SDK's Converse deserializer must accept it.
			var body struct {
				Output struct {
					Message struct {
						Role    string          `json:"role"`
						Content []converseBlock `json:"content"`
					} `json:"message"`
				} `json:"output"`
				StopReason string `json:"stopReason"`
				Usage      struct {
					InputTokens, OutputTokens, TotalTokens              int
					CacheReadInputTokenCount, CacheWriteInputTokenCount int
				} `json:"usage"`
			}
			raw := invokeResponseBody(novaModel, r, testServedBy)
			if err := json.Unmarshal(raw, &body); err != nil {
				t.Fatal(err)
			}
			if body.StopReason != r.StopReason || body.Usage.TotalTokens != r.InputTokens+r.OutputTokens || body.Output.Message.Role != "assistant" {
				t.Errorf("nova body: %s", raw)
			}

			evs := streamChunks(t, invokeStreamEvents(novaModel, r, testServedBy, 5, 50))
			var keys []string
			var text string
			for _, e := range evs {
				for k, v := range e {
					if k == "amazon-bedrock-invocationMetrics" {
						continue
					}
					keys = append(keys, k)
					if k == "contentBlockDelta" {
						if d, ok := v.(map[string]any)["delta"].(map[string]any)["text"].(string); ok {
							text += d
						}
					}
				}
			}
			if keys[0] != "messageStart" || keys[len(keys)-2] != "messageStop" || keys[len(keys)-1] != "metadata" {
				t.Errorf("nova events: %v", keys)
			}
			if text != r.Text {
				t.Errorf("text: got %q, want %q", text, r.Text)
			}
			if _, ok := evs[len(evs)-1]["amazon-bedrock-invocationMetrics"]; !ok {
				t.Error("last nova chunk lacks amazon-bedrock-invocationMetrics")
			}
		})
	}
}

func TestStreamChunkPayloadIsBase64(t *testing.T) {
	for _, e := range invokeStreamEvents(claudeModel, testReplies()["text"], testServedBy, 1, 2) {
		var p map[string]string
		if err := json.Unmarshal(e.Payload, &p); err != nil || len(p) != 1 {
			t.Fatalf("payload %s: want exactly {\"bytes\":...}", e.Payload)
		}
		if _, err := base64.StdEncoding.DecodeString(p["bytes"]); err != nil {
			t.Errorf("bytes not base64: %v", err)
		}
	}
}
