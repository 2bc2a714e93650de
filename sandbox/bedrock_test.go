package sandbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	brtypes "github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

const appProfileARN = "arn:aws:bedrock:ap-northeast-1:222222222222:application-inference-profile/a1b2c3d4e5f6"

// bedrockEnv is the default scenario plus an application profile, with the 222222222222 role allowed every
// Bedrock action and no quota, so that each test looks at one thing.
func bedrockEnv(t *testing.T) (*env, *bedrockruntime.Client, *headerRecorder) {
	t.Helper()
	sc := sandbox.DefaultScenario()
	sc.ApplicationProfiles = []sandbox.ApplicationProfile{{ARN: appProfileARN, CopyFrom: sandbox.SeedProfile}}
	e := newEnv(t, sc)
	role := sandbox.TargetRoleARN(sandbox.SmallAccount)
	e.allowAllBedrock(t, role)
	e.sb.SetQuota(sandbox.SmallAccount, sandbox.SeedProfile, sandbox.Quota{})
	rec := &headerRecorder{base: sandbox.SDKHTTPClient(nil)}
	cfg := e.session(t, role)
	cfg.HTTPClient = rec
	c := bedrockruntime.NewFromConfig(cfg)
	sandboxesMu.Lock()
	sandboxes[c] = e.sb
	sandboxesMu.Unlock()
	return e, c, rec
}

func userText(s string) []brtypes.Message {
	return []brtypes.Message{{Role: brtypes.ConversationRoleUser, Content: []brtypes.ContentBlock{&brtypes.ContentBlockMemberText{Value: s}}}}
}

// anthropicAnswer is the part of an Anthropic Messages response the tests read.
type anthropicAnswer struct {
	Content []struct {
		Type, Text string
	} `json:"content"`
	StopReason   string  `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
	Usage        struct {
		InputTokens  int `json:"input_tokens"`
		OutputTokens int `json:"output_tokens"`
	} `json:"usage"`
}

func anthropicBody(maxTokens int, extra string) []byte {
	return []byte(`{"anthropic_version":"bedrock-2023-05-31","max_tokens":` + strconv.Itoa(maxTokens) + extra + `,"messages":[{"role":"user","content":"Say hello to the relay"}]}`)
}

// runAll calls model with each Bedrock Runtime operation and returns the text each produced.
func runAll(ctx context.Context, c *bedrockruntime.Client, model string) (map[string]string, error) {
	out := map[string]string{}
	inv, err := c.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(model), Body: []byte(seedBody), ContentType: aws.String("application/json")})
	if err != nil {
		return nil, errors.Join(errors.New("InvokeModel"), err)
	}
	var a anthropicAnswer
	if err := json.Unmarshal(inv.Body, &a); err != nil || len(a.Content) == 0 {
		return nil, errors.New("InvokeModel body: " + string(inv.Body))
	}
	out["InvokeModel"] = a.Content[0].Text

	st, err := c.InvokeModelWithResponseStream(ctx, &bedrockruntime.InvokeModelWithResponseStreamInput{ModelId: aws.String(model), Body: []byte(seedBody), ContentType: aws.String("application/json")})
	if err != nil {
		return nil, errors.Join(errors.New("InvokeModelWithResponseStream"), err)
	}
	var b strings.Builder
	for ev := range st.GetStream().Events() {
		if ch, ok := ev.(*brtypes.ResponseStreamMemberChunk); ok {
			var m struct {
				Type  string                `json:"type"`
				Delta struct{ Text string } `json:"delta"`
			}
			json.Unmarshal(ch.Value.Bytes, &m)
			if m.Type != "" && !strings.HasPrefix(string(ch.Value.Bytes), `{"type":"`) {
				// Anthropic writes its events type first, and Bedrock passes them on as written.
				return nil, errors.New("InvokeModelWithResponseStream: a Claude event that does not name its type first: " + string(ch.Value.Bytes))
			}
			if m.Type == "content_block_delta" {
				b.WriteString(m.Delta.Text)
			}
		}
	}
	if err := st.GetStream().Err(); err != nil {
		return nil, errors.Join(errors.New("InvokeModelWithResponseStream stream"), err)
	}
	st.GetStream().Close()
	out["InvokeModelWithResponseStream"] = b.String()

	cv, err := c.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: aws.String(model), Messages: userText("クロスアカウントでのBedrock呼び出しテストです")})
	if err != nil {
		return nil, errors.Join(errors.New("Converse"), err)
	}
	msg := cv.Output.(*brtypes.ConverseOutputMemberMessage).Value
	out["Converse"] = msg.Content[0].(*brtypes.ContentBlockMemberText).Value

	cs, err := c.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{ModelId: aws.String(model), Messages: userText("クロスアカウントでのBedrock呼び出しテストです")})
	if err != nil {
		return nil, errors.Join(errors.New("ConverseStream"), err)
	}
	b.Reset()
	for ev := range cs.GetStream().Events() {
		if d, ok := ev.(*brtypes.ConverseStreamOutputMemberContentBlockDelta); ok {
			if tx, ok := d.Value.Delta.(*brtypes.ContentBlockDeltaMemberText); ok {
				b.WriteString(tx.Value)
			}
		}
	}
	if err := cs.GetStream().Err(); err != nil {
		return nil, errors.Join(errors.New("ConverseStream stream"), err)
	}
	cs.GetStream().Close()
	out["ConverseStream"] = b.String()
	return out, nil
}

// TestModelIdentifiers calls every operation with each form of model id Bedrock accepts, and checks the
// errors for the forms it refuses.
func TestModelIdentifiers(t *testing.T) {
	ctx := context.Background()
	_, client, _ := bedrockEnv(t)
	ok := []struct{ name, model, servedBy string }{
		{"geographic profile id", sandbox.SeedProfile, "Claude Sonnet 4.5 in account 222222222222"},
		{"geographic profile ARN", "arn:aws:bedrock:ap-northeast-1:222222222222:inference-profile/" + sandbox.SeedProfile, "Claude Sonnet 4.5"},
		{"global profile id", "global." + seedFM, "Claude Sonnet 4.5"},
		{"on-demand foundation model id", haikuModel, "Claude 3 Haiku in account 222222222222, ap-northeast-1"},
		{"foundation-model ARN", "arn:aws:bedrock:ap-northeast-1::foundation-model/" + haikuModel, "Claude 3 Haiku"},
		{"application inference profile ARN", appProfileARN, "Claude Sonnet 4.5"},
	}
	for _, tt := range ok {
		t.Run(tt.name, func(t *testing.T) {
			texts, err := runAll(ctx, client, tt.model)
			if err != nil {
				t.Fatalf("got %v, want success", err)
			}
			for op, text := range texts {
				if !strings.Contains(text, tt.servedBy) {
					t.Errorf("%s answer %q: want it to contain %q", op, text, tt.servedBy)
				}
			}
			// Profile calls are routed round-robin, so compare what follows the "[served by ...]" header.
			afterHeader := func(s string) string { _, rest, _ := strings.Cut(s, "] "); return rest }
			if afterHeader(texts["InvokeModel"]) != afterHeader(texts["InvokeModelWithResponseStream"]) {
				t.Errorf("streamed text %q differs from InvokeModel's %q", texts["InvokeModelWithResponseStream"], texts["InvokeModel"])
			}
		})
	}

	bad := []struct{ name, model, code, message string }{
		{"profile-only model by its foundation-model id", seedFM, "ValidationException",
			"Invocation of model ID " + seedFM + " with on-demand throughput isn\u2019t supported. Retry your request with the ID or ARN of an inference profile that contains this model."},
		{"profile outside the caller's geography", "us." + seedFM, "ValidationException", "The provided model identifier is invalid."},
		{"profile ARN of another region", "arn:aws:bedrock:us-east-1:222222222222:inference-profile/us." + seedFM, "ValidationException", "The provided model identifier is invalid."},
		{"unknown model", "anthropic.claude-nonexistent-v1:0", "ValidationException", "The provided model identifier is invalid."},
		{"profile of another account", "arn:aws:bedrock:ap-northeast-1:333333333333:inference-profile/" + sandbox.SeedProfile, "AccessDeniedException", "because no resource-based policy allows"},
		{"unknown application profile", "arn:aws:bedrock:ap-northeast-1:222222222222:application-inference-profile/zzzzzzzzzzzz", "ResourceNotFoundException", "zzzzzzzzzzzz"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(tt.model), Body: []byte(seedBody), ContentType: aws.String("application/json")})
			if got := apiCode(err); got != tt.code {
				t.Fatalf("got %v, want %s", err, tt.code)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("message %q: want it to contain %q", err, tt.message)
			}
		})
	}
}

func TestApplicationProfileNeedsItsOwnPermission(t *testing.T) {
	sc := sandbox.DefaultScenario()
	sc.ApplicationProfiles = []sandbox.ApplicationProfile{{ARN: appProfileARN, CopyFrom: sandbox.SeedProfile}}
	e := newEnv(t, sc)
	_, err := invoke(context.Background(), e.session(t, sandbox.TargetRoleARN(sandbox.SmallAccount)), appProfileARN)
	if apiCode(err) != "AccessDeniedException" || !strings.Contains(err.Error(), "on resource: "+appProfileARN) {
		t.Errorf("got %v, want AccessDeniedException on %s (the seed policy names only the system profile)", err, appProfileARN)
	}
}

func TestCountTokens(t *testing.T) {
	ctx := context.Background()
	_, client, _ := bedrockEnv(t)
	for _, tt := range []struct {
		name, model string
		input       brtypes.CountTokensInput
		code        string
	}{
		{"profile-only model by its id, invoke body", seedFM, &brtypes.CountTokensInputMemberInvokeModel{Value: brtypes.InvokeModelTokensRequest{Body: []byte(seedBody)}}, ""},
		{"converse messages", seedFM, &brtypes.CountTokensInputMemberConverse{Value: brtypes.ConverseTokensRequest{Messages: userText("クロスアカウントでのBedrock呼び出しテストです")}}, ""},
		{"on-demand model", haikuModel, &brtypes.CountTokensInputMemberInvokeModel{Value: brtypes.InvokeModelTokensRequest{Body: []byte(seedBody)}}, ""},
		{"unknown model", "anthropic.nope-v1:0", &brtypes.CountTokensInputMemberInvokeModel{Value: brtypes.InvokeModelTokensRequest{Body: []byte(seedBody)}}, "ValidationException"},
		{"invalid body", seedFM, &brtypes.CountTokensInputMemberInvokeModel{Value: brtypes.InvokeModelTokensRequest{Body: []byte(`{"messages":[]}`)}}, "ValidationException"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := client.CountTokens(ctx, &bedrockruntime.CountTokensInput{ModelId: aws.String(tt.model), Input: tt.input})
			if got := apiCode(err); got != tt.code {
				t.Fatalf("got %v, want %q", err, tt.code)
			}
			if err == nil && aws.ToInt32(out.InputTokens) <= 0 {
				t.Errorf("InputTokens = %d, want > 0", aws.ToInt32(out.InputTokens))
			}
		})
	}
	// The count agrees with what InvokeModel then reports.
	ct, err := client.CountTokens(ctx, &bedrockruntime.CountTokensInput{ModelId: aws.String(seedFM), Input: &brtypes.CountTokensInputMemberInvokeModel{Value: brtypes.InvokeModelTokensRequest{Body: []byte(seedBody)}}})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := client.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(sandbox.SeedProfile), Body: []byte(seedBody)})
	if err != nil {
		t.Fatal(err)
	}
	var a anthropicAnswer
	json.Unmarshal(inv.Body, &a)
	if got, want := a.Usage.InputTokens, int(aws.ToInt32(ct.InputTokens)); got != want {
		t.Errorf("InvokeModel input_tokens = %d, want CountTokens' %d", got, want)
	}
}

func TestAnthropicBodyValidation(t *testing.T) {
	ctx := context.Background()
	_, client, _ := bedrockEnv(t)
	for _, tt := range []struct{ name, body string }{
		{"missing anthropic_version", `{"max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`},
		{"missing max_tokens", `{"anthropic_version":"bedrock-2023-05-31","messages":[{"role":"user","content":"hi"}]}`},
		{"not JSON", `{"anthropic_version":`},
		{"model field", `{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"model":"claude","messages":[{"role":"user","content":"hi"}]}`},
		{"max_tokens above the model's", `{"anthropic_version":"bedrock-2023-05-31","max_tokens":1000000,"messages":[{"role":"user","content":"hi"}]}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(sandbox.SeedProfile), Body: []byte(tt.body), ContentType: aws.String("application/json")})
			var ve *brtypes.ValidationException
			if !errors.As(err, &ve) {
				t.Fatalf("got %v, want *types.ValidationException", err)
			}
			if got := httpStatus(err); got != 400 {
				t.Errorf("status: got %d, want 400", got)
			}
		})
	}
}

func TestInvokeModelResponse(t *testing.T) {
	ctx := context.Background()
	_, client, rec := bedrockEnv(t)
	// An on-demand model: a profile would route calls to different regions, which the answers show.
	call := func(t *testing.T, body []byte) (*bedrockruntime.InvokeModelOutput, anthropicAnswer) {
		t.Helper()
		out, err := client.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(haikuModel), Body: body, ContentType: aws.String("application/json")})
		if err != nil {
			t.Fatal(err)
		}
		var a anthropicAnswer
		if err := json.Unmarshal(out.Body, &a); err != nil {
			t.Fatalf("body %s: %v", out.Body, err)
		}
		return out, a
	}

	t.Run("headers", func(t *testing.T) {
		out, a := call(t, anthropicBody(200, ""))
		h := rec.Header()
		reqID, _ := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
		if reqID == "" || h.Get("x-amzn-RequestId") != reqID {
			t.Errorf("request id: SDK %q, header %q; want the same non-empty id", reqID, h.Get("x-amzn-RequestId"))
		}
		for name, want := range map[string]string{
			"X-Amzn-Bedrock-Input-Token-Count":  strconv.Itoa(a.Usage.InputTokens),
			"X-Amzn-Bedrock-Output-Token-Count": strconv.Itoa(a.Usage.OutputTokens),
		} {
			if got := h.Get(name); got != want {
				t.Errorf("%s: got %q, want %q", name, got, want)
			}
		}
		if _, err := strconv.Atoi(h.Get("X-Amzn-Bedrock-Invocation-Latency")); err != nil {
			t.Errorf("X-Amzn-Bedrock-Invocation-Latency %q: want milliseconds", h.Get("X-Amzn-Bedrock-Invocation-Latency"))
		}
		if got, want := aws.ToString(out.ContentType), "application/json"; got != want {
			t.Errorf("ContentType: got %q, want %q", got, want)
		}
	})
	t.Run("deterministic", func(t *testing.T) {
		_, a1 := call(t, anthropicBody(200, ""))
		_, a2 := call(t, anthropicBody(200, ""))
		if a1.Content[0].Text != a2.Content[0].Text || a1.Usage != a2.Usage {
			t.Errorf("two identical requests answered %+v and %+v, want the same", a1, a2)
		}
	})
	t.Run("max_tokens", func(t *testing.T) {
		_, a := call(t, anthropicBody(3, ""))
		if a.StopReason != "max_tokens" || a.Usage.OutputTokens > 3 {
			t.Errorf("stop_reason %q, output_tokens %d: want max_tokens and at most 3", a.StopReason, a.Usage.OutputTokens)
		}
	})
	t.Run("stop_sequences", func(t *testing.T) {
		_, a := call(t, anthropicBody(200, `,"stop_sequences":["account"]`))
		if a.StopReason != "stop_sequence" || a.StopSequence == nil || *a.StopSequence != "account" || strings.Contains(a.Content[0].Text, "account") {
			t.Errorf("got stop_reason %q, stop_sequence %v, text %q; want stop_sequence \"account\" and the text cut before it", a.StopReason, a.StopSequence, a.Content[0].Text)
		}
	})
	t.Run("Converse max_tokens and stop sequences", func(t *testing.T) {
		out, err := client.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: aws.String(sandbox.SeedProfile), Messages: userText("hello"),
			InferenceConfig: &brtypes.InferenceConfiguration{MaxTokens: aws.Int32(3)}})
		if err != nil {
			t.Fatal(err)
		}
		if out.StopReason != brtypes.StopReasonMaxTokens || aws.ToInt32(out.Usage.OutputTokens) > 3 {
			t.Errorf("stop reason %q, output tokens %d: want max_tokens, at most 3", out.StopReason, aws.ToInt32(out.Usage.OutputTokens))
		}
		out, err = client.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: aws.String(sandbox.SeedProfile), Messages: userText("hello"),
			InferenceConfig: &brtypes.InferenceConfiguration{StopSequences: []string{"account"}}})
		if err != nil {
			t.Fatal(err)
		}
		if out.StopReason != brtypes.StopReasonStopSequence {
			t.Errorf("stop reason %q, want stop_sequence", out.StopReason)
		}
	})
}

// TestTokenQuotas: tokens per minute are reserved as input + max_tokens when a request starts, and settled
// at input + output × burndown when it ends; tokens per day likewise.
func TestTokenQuotas(t *testing.T) {
	ctx := context.Background()
	var (
		e      *env
		client *bedrockruntime.Client
		rec    *headerRecorder
	)
	invokeBody := func(body []byte) error {
		_, err := client.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(sandbox.SeedProfile), Body: body, ContentType: aws.String("application/json")})
		return err
	}
	t.Run("tokens per minute", func(t *testing.T) {
		e, client, rec = bedrockEnv(t)
		e.sb.SetQuota(sandbox.SmallAccount, sandbox.SeedProfile, sandbox.Quota{TokensPerMinute: 3000})
		if err := invokeBody(anthropicBody(2900, "")); err != nil {
			t.Fatalf("first call: %v", err)
		}
		// The first call cost far less than 2900, but a second 2900-token reservation does not fit.
		err := invokeBody(anthropicBody(2900, ""))
		var te *brtypes.ThrottlingException
		if !errors.As(err, &te) || te.ErrorMessage() != "Too many tokens, please wait before trying again." {
			t.Fatalf("second call: got %v, want ThrottlingException \"Too many tokens, please wait before trying again.\"", err)
		}
		if ra, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
			t.Errorf("Retry-After %q: want 1..60 seconds", rec.Header().Get("Retry-After"))
		}
		if err := invokeBody(anthropicBody(100, "")); err != nil {
			t.Errorf("small call after the throttle: got %v, want success (the first call's unused reservation was given back)", err)
		}
	})
	t.Run("tokens per day", func(t *testing.T) {
		e, client, rec = bedrockEnv(t)
		e.sb.SetQuota(sandbox.SmallAccount, sandbox.SeedProfile, sandbox.Quota{TokensPerDay: 600})
		if err := invokeBody(anthropicBody(500, "")); err != nil {
			t.Fatalf("first call: %v", err)
		}
		err := invokeBody(anthropicBody(500, ""))
		if apiCode(err) != "ThrottlingException" || !strings.Contains(err.Error(), "Too many tokens per day, please wait before trying again.") {
			t.Errorf("got %v, want ThrottlingException \"Too many tokens per day, please wait before trying again.\"", err)
		}
		if got := httpStatus(err); got != 429 {
			t.Errorf("status: got %d, want 429", got)
		}
	})
	t.Run("requests per minute", func(t *testing.T) {
		e, client, rec = bedrockEnv(t)
		e.sb.SetQuota(sandbox.SmallAccount, sandbox.SeedProfile, sandbox.Quota{RequestsPerMinute: 2})
		for i := 0; i < 2; i++ {
			if err := invokeBody(anthropicBody(10, "")); err != nil {
				t.Fatalf("call %d: %v", i+1, err)
			}
		}
		err := invokeBody(anthropicBody(10, ""))
		if apiCode(err) != "ThrottlingException" || !strings.Contains(err.Error(), "Too many requests, please wait before trying again.") {
			t.Errorf("third call: got %v, want ThrottlingException Too many requests", err)
		}
		if rec.Header().Get("Retry-After") == "" {
			t.Errorf("no Retry-After on a throttle")
		}
		if got, want := e.sb.Stats().Throttles, 1; got != want {
			t.Errorf("Stats().Throttles = %d, want %d", got, want)
		}
	})
}
