package sandbox_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/smithy-go"

	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

// Through the Go SDK: the API versions and beta flags of the catalogue's anthropic table, answered with
// Bedrock's status, code and wording.
func TestAnthropicCompatThroughSDK(t *testing.T) {
	_, c, _ := bedrockEnv(t)
	const msgs = `"max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`
	tests := []struct {
		name, model, body, wantMsg string
	}{
		{"2026-10-21 to Sonnet 4.5", sandbox.SeedProfile, `{"anthropic_version":"2026-10-21",` + msgs, "Invalid API version: 2026-10-21"},
		{"2026-10-21 to Opus 4.7", "jp.anthropic.claude-opus-4-7", `{"anthropic_version":"2026-10-21",` + msgs, ""},
		{"bedrock-2023-05-31 to Opus 4.7", "jp.anthropic.claude-opus-4-7", `{"anthropic_version":"bedrock-2023-05-31",` + msgs, ""},
		{"a flag Sonnet 4.5 takes", sandbox.SeedProfile, `{"anthropic_version":"bedrock-2023-05-31","anthropic_beta":["interleaved-thinking-2025-05-14"],` + msgs, ""},
		{"a flag no model takes", sandbox.SeedProfile, `{"anthropic_version":"bedrock-2023-05-31","anthropic_beta":["mcp-servers-2099-01-01"],` + msgs, "invalid beta flag"},
		{"a flag Opus 4.7 refuses", "jp.anthropic.claude-opus-4-7", `{"anthropic_version":"2026-10-21","anthropic_beta":["claude-code-20250219"],` + msgs, "invalid beta flag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.InvokeModel(context.Background(), &bedrockruntime.InvokeModelInput{ModelId: aws.String(tt.model),
				Body: []byte(tt.body), ContentType: aws.String("application/json")})
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("got %v, want an answer", err)
				}
				return
			}
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationException" || ae.ErrorMessage() != tt.wantMsg || httpStatus(err) != 400 {
				t.Fatalf("got %v (status %d), want 400 ValidationException %q", err, httpStatus(err), tt.wantMsg)
			}
		})
	}
}
