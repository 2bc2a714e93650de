package router

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"

	"github.com/bedrock-relay/bedrock-relay/upstream"
)

// maxFrame bounds one event-stream frame (Bedrock's are far smaller); a larger prelude is a broken stream.
const maxFrame = 16 << 20

// Stream passes an upstream event stream on frame by frame, as raw bytes, looking inside only for what the
// relay needs: exception frames and the final usage.
type Stream struct {
	resp  *http.Response
	op    string
	first []byte
	err   error
	done  bool
	usage Usage
	onEnd func(u Usage, failed bool)
	once  sync.Once
	buf   []byte // the frame buffer, reused: a frame from Next is valid until the next call
	b64   []byte
}

// Header is the upstream response header (Content-Type, x-amzn-RequestId, X-Amzn-Bedrock-Content-Type).
func (s *Stream) Header() http.Header { return s.resp.Header }

// openStream reads the first frame: a stream that fails before its first event fails over like any error.
func openStream(resp *http.Response, op string) (*Stream, error) {
	s := &Stream{resp: resp, op: op}
	frame, err := s.readFrame()
	if err != nil {
		return nil, fmt.Errorf("stream ended before its first event: %w", err)
	}
	f, err := ParseFrame(frame)
	if err != nil {
		return nil, err
	}
	if e := exceptionOf(f); e != nil {
		return nil, e
	}
	s.inspect(f)
	s.first = frame
	return s, nil
}

// Next returns the next raw frame, or io.EOF at the end. The frame is valid until the next call. A stream that breaks mid-way ends with a
// synthesized modelStreamErrorException frame, so the caller is told rather than left with a truncated
// answer.
func (s *Stream) Next() ([]byte, error) {
	if s.first != nil {
		f := s.first
		s.first = nil
		return f, nil
	}
	if s.done {
		return nil, io.EOF
	}
	frame, err := s.readFrame()
	if err == io.EOF {
		s.end(false)
		return nil, io.EOF
	}
	if err != nil {
		s.end(true)
		s.err = err
		return ExceptionFrame("modelStreamErrorException", "The upstream stream broke off: "+err.Error()), nil
	}
	f, err := ParseFrame(frame)
	if err != nil {
		s.end(true)
		s.err = err
		return ExceptionFrame("modelStreamErrorException", "The upstream stream sent a malformed frame."), nil
	}
	if string(f.MessageType) != "event" {
		s.end(true)
		s.err = exceptionOf(f)
		return frame, nil
	}
	s.inspect(f)
	return frame, nil
}

// Err is the upstream failure that ended the stream early, if any.
func (s *Stream) Err() error { return s.err }

// Usage is what the stream reported (complete once Next returned io.EOF).
func (s *Stream) Usage() Usage { return s.usage }

// Close releases the upstream connection; a stream closed early still settles its budget.
func (s *Stream) Close() error {
	s.end(!s.done)
	return s.resp.Body.Close()
}

func (s *Stream) end(failed bool) {
	s.done = true
	s.once.Do(func() {
		if s.onEnd != nil {
			s.onEnd(s.usage, failed)
		}
	})
}

func (s *Stream) readFrame() ([]byte, error) {
	var prelude [12]byte
	if _, err := io.ReadFull(s.resp.Body, prelude[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			return nil, err
		}
		return nil, err // io.EOF at a frame boundary is the clean end
	}
	total := binary.BigEndian.Uint32(prelude[0:4])
	if total < 16 || total > maxFrame {
		return nil, fmt.Errorf("event-stream frame of %d bytes", total)
	}
	if cap(s.buf) < int(total) {
		s.buf = make([]byte, total)
	}
	frame := s.buf[:total]
	copy(frame, prelude[:])
	if _, err := io.ReadFull(s.resp.Body, frame[12:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return frame, nil
}

// exceptionOf turns an exception frame into the upstream error it stands for.
func exceptionOf(f Frame) *upstream.Error {
	switch string(f.MessageType) {
	case "event":
		return nil
	case "error": // :error-code / :error-message frames: rare; the code is not needed to fail over
		return &upstream.Error{Status: 200, Code: "InternalServerException", Message: "the upstream stream sent an error frame", Body: append([]byte(nil), f.Payload...)}
	}
	code := string(f.ExceptionType)
	if code != "" {
		code = string(bytes.ToUpper([]byte(code[:1]))) + code[1:]
	}
	var b struct {
		Message string `json:"message"`
	}
	_ = json.Unmarshal(f.Payload, &b)
	return &upstream.Error{Status: 200, Code: code, Message: b.Message, Body: append([]byte(nil), f.Payload...)}
}

// inspect picks the usage out of the frames that carry it.
func (s *Stream) inspect(m Frame) {
	switch string(m.EventType) {
	case "metadata": // ConverseStream
		var b struct {
			Usage struct {
				InputTokens  int `json:"inputTokens"`
				OutputTokens int `json:"outputTokens"`
			} `json:"usage"`
		}
		if json.Unmarshal(m.Payload, &b) == nil {
			s.usage = Usage{b.Usage.InputTokens, b.Usage.OutputTokens}
		}
	case "chunk": // InvokeModelWithResponseStream: {"bytes":"<base64 model event>"}
		p := m.Payload
		i := bytes.Index(p, []byte(`"bytes":"`))
		if i < 0 {
			return
		}
		enc := p[i+9:]
		if j := bytes.IndexByte(enc, '"'); j >= 0 {
			enc = enc[:j]
		}
		n := base64.StdEncoding.DecodedLen(len(enc))
		if cap(s.b64) < n {
			s.b64 = make([]byte, n)
		}
		dec := s.b64[:n]
		n, err := base64.StdEncoding.Decode(dec, enc)
		if err != nil {
			return
		}
		dec = dec[:n]
		if !bytes.Contains(dec, []byte("invocationMetrics")) {
			return
		}
		var b struct {
			M struct {
				In  int `json:"inputTokenCount"`
				Out int `json:"outputTokenCount"`
			} `json:"amazon-bedrock-invocationMetrics"`
		}
		if json.Unmarshal(dec, &b) == nil {
			s.usage = Usage{b.M.In, b.M.Out}
		}
	}
}

// ExceptionFrame encodes an exception event as Bedrock sends one mid-stream.
func ExceptionFrame(exceptionType, message string) []byte {
	var m eventstream.Message
	m.Headers.Set(":message-type", eventstream.StringValue("exception"))
	m.Headers.Set(":exception-type", eventstream.StringValue(exceptionType))
	m.Headers.Set(":content-type", eventstream.StringValue("application/json"))
	m.Payload, _ = json.Marshal(map[string]string{"message": message})
	var buf bytes.Buffer
	if err := eventstream.NewEncoder().Encode(&buf, m); err != nil {
		panic(err) // encoding a fixed-shape message into memory cannot fail
	}
	return buf.Bytes()
}

var errEmptyBody = errors.New("empty body")
