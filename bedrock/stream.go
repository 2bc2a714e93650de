package bedrock

import (
	"context"
	"errors"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/bedrock-relay/bedrock-relay/upstream"
)

// Stream is the answer of InvokeStream: the model's native stream events, one chunk at a time. It is not safe
// for concurrent use; Close it when done.
type Stream struct {
	c         *Client
	modelID   string
	es        *bedrockruntime.InvokeModelWithResponseStreamEventStream
	requestID string
	usage     Usage
	err       error
}

// InvokeStream calls InvokeModelWithResponseStream with body (the model's native request JSON) on modelID. An
// ExpiredTokenException before the stream starts is retried once with fresh credentials; errors inside the
// stream (Recv) are not retried, as no SDK retries them either.
func (c *Client) InvokeStream(ctx context.Context, body []byte, modelID string, opts ...func(*bedrockruntime.InvokeModelWithResponseStreamInput)) (*Stream, error) {
	in := &bedrockruntime.InvokeModelWithResponseStreamInput{
		ModelId:     aws.String(modelID),
		Body:        body,
		ContentType: aws.String("application/json"),
		Accept:      aws.String("application/json"),
	}
	for _, fn := range opts {
		fn(in)
	}
	var out *bedrockruntime.InvokeModelWithResponseStreamOutput
	err := c.retryExpired(func() (err error) {
		out, err = c.rt.InvokeModelWithResponseStream(ctx, in)
		return err
	})
	if err != nil {
		return nil, c.wrap(OpInvokeModelStream, modelID, err)
	}
	s := &Stream{c: c, modelID: modelID, es: out.GetStream()}
	s.requestID, _ = awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
	return s, nil
}

// Recv returns the next chunk: one JSON event of the model (for Anthropic models message_start,
// content_block_delta, ...). It returns io.EOF after the last one, or an *Error for a failure inside the
// stream.
func (s *Stream) Recv() ([]byte, error) {
	if s.err != nil {
		return nil, s.err
	}
	for {
		ev, ok := <-s.es.Events()
		if !ok {
			if err := s.es.Err(); err != nil {
				s.err = s.c.wrap(OpInvokeModelStream, s.modelID, err)
			} else {
				s.err = io.EOF
			}
			return nil, s.err
		}
		chunk, ok := ev.(*types.ResponseStreamMemberChunk)
		if !ok {
			continue // an event type this SDK version does not know
		}
		s.noteMetrics(chunk.Value.Bytes)
		return chunk.Value.Bytes, nil
	}
}

// noteMetrics picks up the usage Bedrock appends to the last event of every model's stream.
func (s *Stream) noteMetrics(b []byte) {
	if u, ok := upstream.InvocationMetrics(b); ok {
		s.usage = u
	}
}

// Usage is the invocation's usage, known once the last chunk has been received.
func (s *Stream) Usage() Usage { return s.usage }

// RequestID is Bedrock's request id.
func (s *Stream) RequestID() string { return s.requestID }

// Close releases the connection; it is safe to call more than once.
func (s *Stream) Close() error {
	err := s.es.Close()
	if s.err == nil {
		s.err = errors.New("bedrock: stream closed")
	}
	return err
}
