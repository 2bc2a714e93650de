package httpapi_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

// TestCorruptedFrameMidStream: a frame damaged on the way (its message CRC does not match) mid-way through a
// stream is never taken for a good one: on the Bedrock path the relay checks every frame's CRC and ends the
// stream with a modelStreamErrorException in its place, which the Go SDK's stream returns; the OpenAI path
// ends with an error event, without [DONE].
func TestCorruptedFrameMidStream(t *testing.T) {
	e := newOpenEnv(t)
	fault := sandbox.Fault{Corrupt: true, AfterEvents: 3, Rate: 1, Operation: "ConverseStream"}
	if err := e.sb.AddFault(fault); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	out, err := e.client(keyAll).ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{ModelId: aws.String(sandbox.SeedProfile),
		Messages: []types.Message{{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: "a long answer please words:40"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	stream := out.GetStream()
	n := 0
	for range stream.Events() {
		n++
	}
	var mse *types.ModelStreamErrorException
	if err := stream.Err(); !errors.As(err, &mse) {
		t.Errorf("Bedrock path: %d events, stream error %v; want a ModelStreamErrorException", n, err)
	}
	stream.Close()
	if n != 3 {
		t.Errorf("Bedrock path: %d events before the damaged frame, want 3", n)
	}

	req, _ := http.NewRequest("POST", e.srv.URL+"/v1/chat/completions", strings.NewReader(`{"model":"`+sandbox.SeedProfile+`","stream":true,"messages":[{"role":"user","content":"a long answer please words:40"}]}`))
	req.Header.Set("Authorization", "Bearer "+keyAll)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"error"`) || strings.Contains(string(body), "[DONE]") {
		t.Errorf("OpenAI path: %d %s; want an error event and no [DONE]", resp.StatusCode, body)
	}
}
