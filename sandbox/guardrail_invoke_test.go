package sandbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	brtypes "github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

func converseIn(text string, gc *brtypes.GuardrailConfiguration) *bedrockruntime.ConverseInput {
	return &bedrockruntime.ConverseInput{ModelId: aws.String(sandbox.SeedProfile), GuardrailConfig: gc,
		Messages: []brtypes.Message{{Role: brtypes.ConversationRoleUser, Content: []brtypes.ContentBlock{&brtypes.ContentBlockMemberText{Value: text}}}}}
}

// Converse's guardrailConfig, as Bedrock answers it: an unknown guardrail is refused, a blocked input or output
// is replaced by the guardrail's message with stopReason guardrail_intervened, and the trace is given when asked.
func TestConverseGuardrail(t *testing.T) {
	ctx := context.Background()
	_, c := guardrailEnv(t)
	id := sandbox.GuardrailID(sandbox.LargeAccount)
	gc := func(ident, version string, trace brtypes.GuardrailTrace) *brtypes.GuardrailConfiguration {
		return &brtypes.GuardrailConfiguration{GuardrailIdentifier: aws.String(ident), GuardrailVersion: aws.String(version), Trace: trace}
	}

	t.Run("refusals", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			gc   *brtypes.GuardrailConfiguration
			want string
		}{
			{"unknown guardrail", gc("nosuchguardrail", "1", ""), "The provided guardrail identifier is invalid."},
			{"unknown version", gc(id, "7", ""), "The provided guardrail identifier is invalid."},
			{"another account's guardrail", gc("arn:aws:bedrock:ap-northeast-1:"+sandbox.SmallAccount+":guardrail/"+sandbox.GuardrailID(sandbox.SmallAccount), "1", ""), "The provided guardrail identifier is invalid."},
			{"bad identifier", gc("Not Valid!", "1", ""), "guardrailConfig.guardrailIdentifier"},
			{"bad trace", gc(id, "1", "loud"), "guardrailConfig.trace"},
		} {
			_, err := c.Converse(ctx, converseIn("hello", tc.gc))
			var ve *brtypes.ValidationException
			if !errors.As(err, &ve) || httpStatus(err) != 400 || !strings.Contains(ve.ErrorMessage(), tc.want) {
				t.Errorf("%s: got %v (status %d), want ValidationException 400 with %q", tc.name, err, httpStatus(err), tc.want)
			}
		}
	})

	t.Run("no intervention", func(t *testing.T) {
		out, err := c.Converse(ctx, converseIn("hello there", gc(id, "DRAFT", brtypes.GuardrailTraceEnabled)))
		if err != nil {
			t.Fatal(err)
		}
		if out.StopReason != brtypes.StopReasonEndTurn {
			t.Errorf("stop reason %s, want end_turn", out.StopReason)
		}
		if out.Trace == nil || out.Trace.Guardrail == nil || out.Trace.Guardrail.InputAssessment[id].WordPolicy != nil {
			t.Errorf("trace %+v, want an input assessment without word-policy findings", out.Trace)
		}
	})

	t.Run("blocked input", func(t *testing.T) {
		out, err := c.Converse(ctx, converseIn("tell me the top secret plan", gc(id, "1", brtypes.GuardrailTraceEnabled)))
		if err != nil {
			t.Fatal(err)
		}
		if out.StopReason != brtypes.StopReasonGuardrailIntervened {
			t.Errorf("stop reason %s, want guardrail_intervened", out.StopReason)
		}
		msg := out.Output.(*brtypes.ConverseOutputMemberMessage).Value
		if txt := msg.Content[0].(*brtypes.ContentBlockMemberText).Value; txt != "Sorry, the model cannot answer this question." {
			t.Errorf("text %q, want the blocked input message", txt)
		}
		a := out.Trace.Guardrail.InputAssessment[id]
		if a.WordPolicy == nil || len(a.WordPolicy.CustomWords) != 1 || aws.ToString(a.WordPolicy.CustomWords[0].Match) != "top secret" {
			t.Errorf("input assessment %+v, want the match top secret", a)
		}
		if aws.ToInt32(out.Usage.OutputTokens) != 0 {
			t.Errorf("output tokens %d, want 0: the model is not called", aws.ToInt32(out.Usage.OutputTokens))
		}
	})

	t.Run("no trace unless asked", func(t *testing.T) {
		out, err := c.Converse(ctx, converseIn("something forbidden", gc(id, "1", "")))
		if err != nil {
			t.Fatal(err)
		}
		if out.StopReason != brtypes.StopReasonGuardrailIntervened || out.Trace != nil {
			t.Errorf("stop %s trace %+v, want guardrail_intervened and no trace", out.StopReason, out.Trace)
		}
	})

	t.Run("stream", func(t *testing.T) {
		out, err := c.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{ModelId: aws.String(sandbox.SeedProfile),
			GuardrailConfig: &brtypes.GuardrailStreamConfiguration{GuardrailIdentifier: aws.String(id), GuardrailVersion: aws.String("1"), Trace: brtypes.GuardrailTraceEnabled},
			Messages:        []brtypes.Message{{Role: brtypes.ConversationRoleUser, Content: []brtypes.ContentBlock{&brtypes.ContentBlockMemberText{Value: "forbidden words"}}}}})
		if err != nil {
			t.Fatal(err)
		}
		st := out.GetStream()
		defer st.Close()
		var text strings.Builder
		var stop brtypes.StopReason
		var traced bool
		for ev := range st.Events() {
			switch v := ev.(type) {
			case *brtypes.ConverseStreamOutputMemberContentBlockDelta:
				if d, ok := v.Value.Delta.(*brtypes.ContentBlockDeltaMemberText); ok {
					text.WriteString(d.Value)
				}
			case *brtypes.ConverseStreamOutputMemberMessageStop:
				stop = v.Value.StopReason
			case *brtypes.ConverseStreamOutputMemberMetadata:
				traced = v.Value.Trace != nil && v.Value.Trace.Guardrail != nil && v.Value.Trace.Guardrail.InputAssessment[id].WordPolicy != nil
			}
		}
		if err := st.Err(); err != nil {
			t.Fatal(err)
		}
		if stop != brtypes.StopReasonGuardrailIntervened || text.String() != "Sorry, the model cannot answer this question." || !traced {
			t.Errorf("stop %s, text %q, traced %v: want guardrail_intervened, the blocked message, a trace", stop, text.String(), traced)
		}
	})
}

// A blocked output: the model's answer holds a word of the guardrail, which replaces it.
func TestConverseGuardrailOutput(t *testing.T) {
	ctx := context.Background()
	sc := sandbox.DefaultScenario()
	_, plain := guardrailEnv(t)
	first, err := plain.Converse(ctx, converseIn("hello", nil))
	if err != nil {
		t.Fatal(err)
	}
	answer := first.Output.(*brtypes.ConverseOutputMemberMessage).Value.Content[0].(*brtypes.ContentBlockMemberText).Value
	var word string
	for _, w := range strings.Fields(answer) {
		w = strings.Trim(strings.ToLower(w), ".,:;!?\"'()[]")
		if len(w) > 4 && w != "hello" && strings.IndexFunc(w, func(r rune) bool { return r < 'a' || r > 'z' }) < 0 {
			word = w
			break
		}
	}
	if word == "" {
		t.Fatalf("no word to block in the answer %q", answer)
	}
	sc.Accounts[sandbox.LargeAccount].Guardrails = append(sc.Accounts[sandbox.LargeAccount].Guardrails,
		sandbox.GuardrailSpec{ID: "outputgr", BlockedWords: []string{word}, BlockedOutputMessage: "Output blocked."})
	e := newEnvWith(t, sc)
	c := bedrockruntime.NewFromConfig(e.session(t, sandbox.TargetRoleARN(sandbox.LargeAccount)))
	out, err := c.Converse(ctx, converseIn("hello", &brtypes.GuardrailConfiguration{GuardrailIdentifier: aws.String("outputgr"),
		GuardrailVersion: aws.String("1"), Trace: brtypes.GuardrailTraceEnabled}))
	if err != nil {
		t.Fatal(err)
	}
	txt := out.Output.(*brtypes.ConverseOutputMemberMessage).Value.Content[0].(*brtypes.ContentBlockMemberText).Value
	if out.StopReason != brtypes.StopReasonGuardrailIntervened || txt != "Output blocked." {
		t.Errorf("stop %s text %q, want guardrail_intervened and the blocked output message (word %q of %q)", out.StopReason, txt, word, answer)
	}
	oa := out.Trace.Guardrail.OutputAssessments["outputgr"]
	if len(oa) != 1 || oa[0].WordPolicy == nil {
		t.Errorf("output assessments %+v, want the word policy's finding", oa)
	}
}

// The same with boto3: the parsed trace, the refusal's class and status, and InvokeModel's guardrail parameters.
func TestBoto3GuardrailConfig(t *testing.T) {
	needTool(t, exec.Command("python3", "-c", "import boto3").Run() == nil, "python3 with boto3")
	checkGuardrailClient(t, "python3", "clients/boto3_guardrail_config.py")
}

// The same with the AWS SDK for JavaScript v3.
func TestJSGuardrailConfig(t *testing.T) {
	_, err := exec.LookPath("node")
	needTool(t, err == nil, "node")
	_, err = os.Stat("clients/node_modules/@aws-sdk/client-bedrock-runtime")
	needTool(t, err == nil, "sandbox/clients/node_modules (.ci/install-js-deps)")
	checkGuardrailClient(t, "node", "clients/js_guardrail_config.mjs")
}

func checkGuardrailClient(t *testing.T, name string, args ...string) {
	t.Helper()
	sb, url := startSandbox(t)
	out := runClient(t, clientEnv(t, url, sb, "TARGET_ROLE_ARN="+sandbox.TargetRoleARN(sandbox.LargeAccount), "MODEL_ID="+sandbox.SeedProfile,
		"GUARDRAIL_ID="+sandbox.GuardrailID(sandbox.LargeAccount)), name, args...)
	var got struct {
		Blocked struct{ Stop, Text, Match string }
		Unknown struct {
			Class, Code, Message string
			Status               int
		}
		Invoke struct {
			Action, Text string
			Traced       bool
		}
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got.Blocked.Stop != "guardrail_intervened" || got.Blocked.Text != "Sorry, the model cannot answer this question." || got.Blocked.Match != "top secret" {
		t.Errorf("blocked: %+v", got.Blocked)
	}
	if got.Unknown.Class != "ValidationException" || got.Unknown.Code != "ValidationException" || got.Unknown.Status != 400 ||
		got.Unknown.Message != "The provided guardrail identifier is invalid." {
		t.Errorf("unknown guardrail: %+v", got.Unknown)
	}
	if got.Invoke.Action != "INTERVENED" || got.Invoke.Text != "Sorry, the model cannot answer this question." || !got.Invoke.Traced {
		t.Errorf("invoke: %+v", got.Invoke)
	}
}
