package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/bedrock-relay/bedrock-relay/config"
	"github.com/bedrock-relay/bedrock-relay/internal/httpapi"
	"github.com/bedrock-relay/bedrock-relay/internal/mainlib"
	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

// These tests drive the OpenAI-compatible API with the official OpenAI Go SDK, through the handler Build
// (and so NewHandler) makes, in front of a router over a sandbox of three Bedrock accounts.

const (
	oaiKeyAll   = "brk-openai-all-0123456789abcdef"
	oaiKeyHaiku = "brk-openai-haiku-0123456789abcdef"
	oaiKeyAlias = "brk-openai-alias-0123456789abcdef"
	oaiSonnet   = "anthropic.claude-sonnet-4-5-20250929-v1:0"
	// png1x1 is a 1×1 PNG.
	png1x1 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)

var oaiAccounts = []struct {
	id  string
	rpm int
}{{"222222222222", 2}, {"333333333333", 3}, {"444444444444", 5}}

type oaiEnv struct {
	sb  *sandbox.Sandbox
	h   *httpapi.Handler
	srv *httptest.Server
}

func newOAIEnv(t *testing.T) *oaiEnv {
	t.Helper()
	sc := sandbox.DefaultScenario()
	sc.Accounts["444444444444"] = sandbox.DefaultScenario().Accounts["333333333333"]
	spec := sc.Accounts["444444444444"]
	spec.Roles[sandbox.TargetRoleName].Policies["BedrockInvoke"] = sandbox.PolicyText(strings.ReplaceAll(
		string(spec.Roles[sandbox.TargetRoleName].Policies["BedrockInvoke"]), "333333333333", "444444444444"))
	sc.Accounts["111111111111"].Roles["lambda-execution-role"].Policies["AssumeBedrockRoles"] = sandbox.PolicyText(
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"arn:aws:iam::*:role/BedrockAccessRole"}]}`)
	for _, a := range oaiAccounts {
		sc.Accounts[a.id].Quotas = []sandbox.QuotaSpec{{Model: sandbox.SeedProfile, RequestsPerMinute: a.rpm, TokensPerMinute: 1_000_000}}
	}
	sb, err := sandbox.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	sbSrv := httptest.NewServer(sb)
	t.Cleanup(sbSrv.Close)

	cfg := config.Default()
	cfg.Source.Endpoint = sbSrv.URL
	cfg.Aliases = map[string]string{"sonnet": oaiSonnet}
	cfg.Auth.Keys = []config.Key{
		{Name: "team-all", SHA256: config.HashKey(oaiKeyAll), Models: []string{"*"}},
		{Name: "team-haiku", SHA256: config.HashKey(oaiKeyHaiku), Models: []string{"anthropic.claude-haiku-4-5-20251001-v1:0"}},
		{Name: "team-alias", SHA256: config.HashKey(oaiKeyAlias), Models: []string{"sonnet"}},
	}
	for _, a := range oaiAccounts {
		tc := config.TargetSpec{Name: "acct-" + a.id[:3], RoleARN: sandbox.TargetRoleARN(a.id), Region: sandbox.SeedRegion, Models: []string{sandbox.SeedProfile}}
		tc.Budgets.RequestsPerMinute = config.Limit{N: a.rpm}
		cfg.Targets = append(cfg.Targets, tc)
	}
	cfg.FillDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	base := aws.Config{Region: sandbox.SeedRegion, BaseEndpoint: aws.String(sbSrv.URL),
		Credentials: credentials.StaticCredentialsProvider{Value: sb.CallerCredentials()}, RetryMaxAttempts: 1}
	rl, err := mainlib.Build(context.Background(), &cfg, base, mainlib.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rl.Handler)
	t.Cleanup(srv.Close)
	return &oaiEnv{sb: sb, h: rl.Handler, srv: srv}
}

// client is the official OpenAI SDK pointed at the relay, SDK retries off so that every answer is seen.
func (e *oaiEnv) client(key string) *sdk.Client {
	c := sdk.NewClient(option.WithBaseURL(e.srv.URL+"/v1/"), option.WithAPIKey(key),
		option.WithHTTPClient(e.srv.Client()), option.WithMaxRetries(0))
	return &c
}

func chatParams(model string, msgs ...sdk.ChatCompletionMessageParamUnion) sdk.ChatCompletionNewParams {
	return sdk.ChatCompletionNewParams{Model: model, Messages: msgs}
}

// apiError is the SDK's error for a non-2xx answer.
func apiError(t *testing.T, err error) *sdk.Error {
	t.Helper()
	var ae *sdk.Error
	if !errors.As(err, &ae) {
		t.Fatalf("got %v, want an *openai.Error", err)
	}
	return ae
}

func TestOpenAIChatCompletion(t *testing.T) {
	e := newOAIEnv(t)
	ctx := context.Background()
	var resp *http.Response
	c, err := e.client(oaiKeyAll).Chat.Completions.New(ctx, chatParams("sonnet",
		sdk.SystemMessage("Answer briefly."), sdk.UserMessage("Hello relay")), option.WithResponseInto(&resp))
	if err != nil {
		t.Fatal(err)
	}
	if c.Model != "sonnet" || c.Object != "chat.completion" || !strings.HasPrefix(c.ID, "chatcmpl-") || c.Created == 0 {
		t.Errorf("got model %q object %q id %q created %d, want the asked model, chat.completion, chatcmpl-..., a time", c.Model, c.Object, c.ID, c.Created)
	}
	if len(c.Choices) != 1 {
		t.Fatalf("got %d choices, want 1", len(c.Choices))
	}
	ch := c.Choices[0]
	if ch.FinishReason != "stop" || ch.Message.Role != "assistant" || !strings.Contains(ch.Message.Content, "You said: \u201cHello relay\u201d") ||
		!strings.Contains(ch.Message.Content, "system prompt applied: \u201cAnswer briefly.\u201d") {
		t.Errorf("got finish %q, message %+v; want stop and the sandbox echoing the prompt and the system prompt", ch.FinishReason, ch.Message)
	}
	if u := c.Usage; u.PromptTokens == 0 || u.CompletionTokens == 0 || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
		t.Errorf("usage = %+v, want prompt + completion = total, none zero", u)
	}
	if resp.Header.Get("X-Bedrock-Relay-Target") == "" {
		t.Errorf("no X-Bedrock-Relay-Target header")
	}

	// Inference parameters reach Converse: a stop sequence cuts the answer, max_tokens bounds it.
	c, err = e.client(oaiKeyAll).Chat.Completions.New(ctx, sdk.ChatCompletionNewParams{Model: sandbox.SeedProfile,
		Messages: []sdk.ChatCompletionMessageParamUnion{sdk.UserMessage("Hello relay")},
		Stop:     sdk.ChatCompletionNewParamsStopUnion{OfString: sdk.String("Turn")}, Temperature: sdk.Float(0.2)})
	if err != nil {
		t.Fatal(err)
	}
	if ch := c.Choices[0]; ch.FinishReason != "stop" || strings.Contains(ch.Message.Content, "Turn") {
		t.Errorf("with stop \"Turn\": got %q (%s), want the text before it", ch.Message.Content, ch.FinishReason)
	}
	c, err = e.client(oaiKeyAll).Chat.Completions.New(ctx, sdk.ChatCompletionNewParams{Model: sandbox.SeedProfile,
		Messages: []sdk.ChatCompletionMessageParamUnion{sdk.UserMessage("a long answer please")}, MaxCompletionTokens: sdk.Int(7)})
	if err != nil {
		t.Fatal(err)
	}
	if ch := c.Choices[0]; ch.FinishReason != "length" || c.Usage.CompletionTokens != 7 {
		t.Errorf("max_completion_tokens 7: got finish %q, %d tokens; want length, 7", ch.FinishReason, c.Usage.CompletionTokens)
	}
}

func TestOpenAIStreamWithUsage(t *testing.T) {
	e := newOAIEnv(t)
	params := chatParams("sonnet", sdk.UserMessage("Hello stream"))
	params.StreamOptions = sdk.ChatCompletionStreamOptionsParam{IncludeUsage: sdk.Bool(true)}
	s := e.client(oaiKeyAll).Chat.Completions.NewStreaming(context.Background(), params)
	var acc sdk.ChatCompletionAccumulator
	chunks, usageChunks := 0, 0
	for s.Next() {
		ch := s.Current()
		chunks++
		if ch.Object != "chat.completion.chunk" || ch.Model != "sonnet" || !strings.HasPrefix(ch.ID, "chatcmpl-") {
			t.Errorf("chunk %d: object %q model %q id %q", chunks, ch.Object, ch.Model, ch.ID)
		}
		if len(ch.Choices) == 0 {
			usageChunks++
		}
		acc.AddChunk(ch)
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if chunks < 4 || usageChunks != 1 {
		t.Errorf("got %d chunks, %d without choices; want several and one final usage chunk", chunks, usageChunks)
	}
	got := acc.Choices[0]
	if !strings.Contains(got.Message.Content, "You said: \u201cHello stream\u201d") || got.FinishReason != "stop" {
		t.Errorf("accumulated %q (%s), want the sandbox's echo, stop", got.Message.Content, got.FinishReason)
	}
	if u := acc.Usage; u.PromptTokens == 0 || u.CompletionTokens == 0 || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
		t.Errorf("usage = %+v, want it from the final chunk", u)
	}

	// Without include_usage there is no usage chunk, and the raw stream ends with [DONE].
	req, _ := http.NewRequest("POST", e.srv.URL+"/v1/chat/completions", strings.NewReader(`{"model":"sonnet","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer "+oaiKeyAll)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Errorf("Content-Type %q, want text/event-stream", ct)
	}
	if !strings.HasSuffix(string(body), "data: [DONE]\n\n") || strings.Contains(string(body), `"usage"`) {
		t.Errorf("stream body %q: want no usage and a [DONE] at the end", body)
	}
}

var weatherTool = sdk.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
	Name:        "get_weather",
	Description: sdk.String("The weather in a city now."),
	Parameters: shared.FunctionParameters{
		"type":       "object",
		"properties": map[string]any{"city": map[string]any{"type": "string"}},
		"required":   []string{"city"},
	},
})

func TestOpenAIToolCallRoundTrip(t *testing.T) {
	e := newOAIEnv(t)
	ctx := context.Background()
	client := e.client(oaiKeyAll)
	for _, stream := range []bool{false, true} {
		name := "not streamed"
		if stream {
			name = "streamed"
		}
		t.Run(name, func(t *testing.T) {
			ask := func(params sdk.ChatCompletionNewParams) sdk.ChatCompletionChoice {
				t.Helper()
				params.Tools = []sdk.ChatCompletionToolUnionParam{weatherTool}
				if !stream {
					c, err := client.Chat.Completions.New(ctx, params)
					if err != nil {
						t.Fatal(err)
					}
					return c.Choices[0]
				}
				s := client.Chat.Completions.NewStreaming(ctx, params)
				var acc sdk.ChatCompletionAccumulator
				for s.Next() {
					acc.AddChunk(s.Current())
				}
				if err := s.Err(); err != nil {
					t.Fatal(err)
				}
				return acc.Choices[0]
			}
			msgs := []sdk.ChatCompletionMessageParamUnion{sdk.UserMessage("What is the weather in Tokyo? Use get_weather.")}
			first := ask(chatParams("sonnet", msgs...))
			if first.FinishReason != "tool_calls" || len(first.Message.ToolCalls) != 1 {
				t.Fatalf("got finish %q and %d tool calls, want tool_calls and one", first.FinishReason, len(first.Message.ToolCalls))
			}
			call := first.Message.ToolCalls[0]
			if call.Function.Name != "get_weather" || call.Function.Arguments != `{"city":"Tokyo"}` || call.ID == "" || call.Type != "function" {
				t.Errorf("tool call %+v, want get_weather({\"city\":\"Tokyo\"}) with an id", call)
			}

			msgs = append(msgs, first.Message.ToParam(), sdk.ToolMessage("22 degrees and sunny", call.ID))
			second := ask(chatParams("sonnet", msgs...))
			if second.FinishReason != "stop" || len(second.Message.ToolCalls) != 0 ||
				!strings.Contains(second.Message.Content, "The tool returned: \u201c22 degrees and sunny\u201d") {
				t.Errorf("after the tool result: got %q (%s), want the sandbox reading the result back", second.Message.Content, second.FinishReason)
			}
		})
	}

	// tool_choice naming a function forces it, even when the prompt does not ask.
	params := chatParams("sonnet", sdk.UserMessage("Anything for Osaka"))
	params.Tools = []sdk.ChatCompletionToolUnionParam{weatherTool}
	params.ToolChoice = sdk.ToolChoiceOptionFunctionToolChoice(sdk.ChatCompletionNamedToolChoiceFunctionParam{Name: "get_weather"})
	c, err := client.Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if m := c.Choices[0].Message; len(m.ToolCalls) != 1 || m.ToolCalls[0].Function.Arguments != `{"city":"Osaka"}` {
		t.Errorf("forced tool: got %+v, want get_weather({\"city\":\"Osaka\"})", m)
	}
}

func TestOpenAIImageInput(t *testing.T) {
	e := newOAIEnv(t)
	ctx := context.Background()
	text := sdk.TextContentPart("What is in this picture?")
	withImage, err := e.client(oaiKeyAll).Chat.Completions.New(ctx, chatParams("sonnet", sdk.UserMessage([]sdk.ChatCompletionContentPartUnionParam{
		text, sdk.ImageContentPart(sdk.ChatCompletionContentPartImageImageURLParam{URL: "data:image/png;base64," + png1x1}),
	})))
	if err != nil {
		t.Fatal(err)
	}
	textOnly, err := e.client(oaiKeyAll).Chat.Completions.New(ctx, chatParams("sonnet", sdk.UserMessage([]sdk.ChatCompletionContentPartUnionParam{text})))
	if err != nil {
		t.Fatal(err)
	}
	if withImage.Usage.PromptTokens <= textOnly.Usage.PromptTokens {
		t.Errorf("prompt tokens with the image %d, without %d: the image did not reach Bedrock as an image block",
			withImage.Usage.PromptTokens, textOnly.Usage.PromptTokens)
	}
}

func TestOpenAIFailover(t *testing.T) {
	e := newOAIEnv(t)
	ctx := context.Background()
	for _, stream := range []bool{false, true} {
		e.sb.FailNext(sandbox.Fault{Code: "ServiceUnavailableException", Count: 1})
		before := len(e.sb.Calls())
		var resp *http.Response
		params := chatParams("sonnet", sdk.UserMessage("Hello after a fault"))
		if stream {
			s := e.client(oaiKeyAll).Chat.Completions.NewStreaming(ctx, params, option.WithResponseInto(&resp))
			var acc sdk.ChatCompletionAccumulator
			for s.Next() {
				acc.AddChunk(s.Current())
			}
			if err := s.Err(); err != nil {
				t.Fatalf("stream: got %v, want the request served by another account", err)
			}
		} else if _, err := e.client(oaiKeyAll).Chat.Completions.New(ctx, params, option.WithResponseInto(&resp)); err != nil {
			t.Fatalf("got %v, want the request served by another account", err)
		}
		if got := resp.Header.Get("X-Bedrock-Relay-Attempts"); got != "2" {
			t.Errorf("stream %v: X-Bedrock-Relay-Attempts = %q, want 2", stream, got)
		}
		var outcomes []string
		accounts := map[string]bool{}
		for _, c := range e.sb.Calls()[before:] {
			if c.Service == "bedrock" {
				outcomes = append(outcomes, c.Outcome)
				accounts[c.Account] = true
			}
		}
		if len(outcomes) != 2 || outcomes[0] != "ServiceUnavailableException" || outcomes[1] != "ok" || len(accounts) != 2 {
			t.Errorf("stream %v: the sandbox saw %v in %d accounts, want a fault then a success in another account", stream, outcomes, len(accounts))
		}
	}
}

func TestOpenAIModels(t *testing.T) {
	e := newOAIEnv(t)
	ctx := context.Background()
	tests := []struct {
		key  string
		want []string
	}{
		{oaiKeyAll, []string{oaiSonnet, "sonnet"}},
		{oaiKeyAlias, []string{oaiSonnet, "sonnet"}},
		{oaiKeyHaiku, nil},
	}
	for _, tt := range tests {
		page, err := e.client(tt.key).Models.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range page.Data {
			got = append(got, m.ID)
			if m.Object != "model" || m.OwnedBy != "anthropic" || m.Created == 0 {
				t.Errorf("model %+v: want object model, owned_by anthropic, a created time", m)
			}
		}
		if strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("key %s: got models %v, want %v", tt.key[:14], got, tt.want)
		}
	}
	m, err := e.client(oaiKeyAll).Models.Get(ctx, "sonnet")
	if err != nil || m.ID != "sonnet" {
		t.Errorf("GET /v1/models/sonnet: got %+v, %v", m, err)
	}
	_, err = e.client(oaiKeyHaiku).Models.Get(ctx, "sonnet")
	if ae := apiError(t, err); ae.StatusCode != 404 {
		t.Errorf("a model the key may not use: got %d, want 404", ae.StatusCode)
	}
}

func TestOpenAIErrors(t *testing.T) {
	ctx := context.Background()
	user := sdk.UserMessage("hi")
	tests := []struct {
		name   string
		key    string
		params sdk.ChatCompletionNewParams
		setup  func(e *oaiEnv)
		status int
		typ    string
		param  string
		code   string
		inMsg  string
	}{
		{name: "n > 1", key: oaiKeyAll, params: sdk.ChatCompletionNewParams{Model: "sonnet", Messages: []sdk.ChatCompletionMessageParamUnion{user}, N: sdk.Int(2)},
			status: 400, typ: "invalid_request_error", param: "n", code: "unsupported_value", inMsg: "one choice"},
		{name: "remote image URL", key: oaiKeyAll, params: chatParams("sonnet", sdk.UserMessage([]sdk.ChatCompletionContentPartUnionParam{
			sdk.TextContentPart("what is this"), sdk.ImageContentPart(sdk.ChatCompletionContentPartImageImageURLParam{URL: "https://example.com/cat.png"})})),
			status: 400, typ: "invalid_request_error", param: "messages[0].content[1].image_url.url", code: "unsupported_value", inMsg: "does not fetch"},
		{name: "upstream ValidationException", key: oaiKeyAll, params: sdk.ChatCompletionNewParams{Model: "sonnet", Messages: []sdk.ChatCompletionMessageParamUnion{user}, Temperature: sdk.Float(1.5)},
			status: 400, typ: "invalid_request_error", code: "ValidationException", inMsg: "temperature"},
		{name: "unknown key", key: "brk-not-a-key", params: chatParams("sonnet", user),
			status: 401, typ: "authentication_error", code: "invalid_api_key", inMsg: "not one this relay knows"},
		{name: "model the key may not use", key: oaiKeyHaiku, params: chatParams("sonnet", user),
			status: 403, typ: "permission_error", param: "model", code: "model_not_allowed", inMsg: "/v1/models"},
		{name: "unknown model", key: oaiKeyAll, params: chatParams("gpt-4o", user),
			status: 404, typ: "not_found_error", param: "model", code: "model_not_found", inMsg: `"gpt-4o"`},
		{name: "pool exhausted", key: oaiKeyAll, params: chatParams("sonnet", user),
			setup:  func(e *oaiEnv) { e.sb.FailNext(sandbox.Fault{Code: "ThrottlingException", Count: 3}) },
			status: 429, typ: "rate_limit_error", code: "rate_limit_exceeded", inMsg: "retry after"},
		{name: "AccessDenied everywhere", key: oaiKeyAll, params: chatParams("sonnet", user),
			setup:  func(e *oaiEnv) { e.sb.FailNext(sandbox.Fault{Code: "AccessDeniedException", Count: 3}) },
			status: 502, typ: "api_error", code: "upstream_setup_error", inMsg: "bedrock-relay check"},
		{name: "503 after failover", key: oaiKeyAll, params: chatParams("sonnet", user),
			setup:  func(e *oaiEnv) { e.sb.FailNext(sandbox.Fault{Code: "ServiceUnavailableException", Count: 3}) },
			status: 503, typ: "api_error", code: "ServiceUnavailableException"},
		{name: "500s after failover", key: oaiKeyAll, params: chatParams("sonnet", user),
			setup:  func(e *oaiEnv) { e.sb.FailNext(sandbox.Fault{Code: "InternalServerException", Count: 3}) },
			status: 502, typ: "api_error", code: "InternalServerException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newOAIEnv(t)
			if tt.setup != nil {
				tt.setup(e)
			}
			var resp *http.Response
			_, err := e.client(tt.key).Chat.Completions.New(ctx, tt.params, option.WithResponseInto(&resp))
			ae := apiError(t, err)
			if ae.StatusCode != tt.status || ae.Type != tt.typ || ae.Param != tt.param || ae.Code != tt.code {
				t.Errorf("got %d type %q param %q code %q, want %d %q %q %q (%s)", ae.StatusCode, ae.Type, ae.Param, ae.Code, tt.status, tt.typ, tt.param, tt.code, ae.Message)
			}
			if !strings.Contains(ae.Message, tt.inMsg) {
				t.Errorf("message %q should mention %q", ae.Message, tt.inMsg)
			}
			if strings.Contains(ae.RawJSON(), tt.key) {
				t.Errorf("the error contains the key")
			}
			if tt.status == 429 && ae.Response.Header.Get("Retry-After") == "" {
				t.Errorf("429 without Retry-After")
			}
		})
	}

	// A missing key, and a request that is not JSON, said in OpenAI's shape.
	e := newOAIEnv(t)
	for _, tt := range []struct {
		name, authz, body string
		status            int
		code              string
	}{
		{"no key", "", `{"model":"sonnet","messages":[{"role":"user","content":"hi"}]}`, 401, "missing_api_key"},
		{"not JSON", "Bearer " + oaiKeyAll, `{"model":`, 400, "invalid_json"},
		{"no messages", "Bearer " + oaiKeyAll, `{"model":"sonnet"}`, 400, "missing_required_parameter"},
	} {
		req, _ := http.NewRequest("POST", e.srv.URL+"/v1/chat/completions", strings.NewReader(tt.body))
		if tt.authz != "" {
			req.Header.Set("Authorization", tt.authz)
		}
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var b struct {
			Error struct {
				Code  string  `json:"code"`
				Param *string `json:"param"`
			} `json:"error"`
		}
		err = json.NewDecoder(resp.Body).Decode(&b)
		resp.Body.Close()
		if err != nil || resp.StatusCode != tt.status || b.Error.Code != tt.code {
			t.Errorf("%s: got %d %+v (%v), want %d %s", tt.name, resp.StatusCode, b, err, tt.status, tt.code)
		}
	}
}

func TestOpenAIMidStreamFault(t *testing.T) {
	e := newOAIEnv(t)
	e.sb.FailNext(sandbox.Fault{Code: "ModelStreamErrorException", AfterEvents: 3, Count: 3})
	s := e.client(oaiKeyAll).Chat.Completions.NewStreaming(context.Background(), chatParams("sonnet", sdk.UserMessage("a long answer please")))
	n := 0
	for s.Next() {
		n++
	}
	err := s.Err()
	if err == nil || !strings.Contains(err.Error(), "ModelStreamErrorException") {
		t.Fatalf("after %d chunks: got %v, want the stream to end with the upstream error", n, err)
	}
	if n == 0 {
		t.Errorf("no chunk before the fault")
	}
}
