package router

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

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
	usage upstream.Usage
	onEnd func(u upstream.Usage, failed bool)
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
	f, err := upstream.ParseFrame(frame)
	if err != nil {
		return nil, err
	}
	if e := upstream.ExceptionOf(f); e != nil {
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
		return upstream.ExceptionFrame("modelStreamErrorException", "The upstream stream broke off: "+err.Error()), nil
	}
	f, err := upstream.ParseFrame(frame)
	if err != nil {
		s.end(true)
		s.err = err
		return upstream.ExceptionFrame("modelStreamErrorException", "The upstream stream sent a malformed frame."), nil
	}
	if string(f.MessageType) != "event" {
		s.end(true)
		s.err = upstream.ExceptionOf(f)
		return frame, nil
	}
	s.inspect(f)
	return frame, nil
}

// Err is the upstream failure that ended the stream early, if any.
func (s *Stream) Err() error { return s.err }

// Usage is what the stream reported (complete once Next returned io.EOF).
func (s *Stream) Usage() upstream.Usage { return s.usage }

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

// inspect picks the usage out of the frames that carry it.
func (s *Stream) inspect(m upstream.Frame) {
	switch string(m.EventType) {
	case "metadata": // ConverseStream
		if u, ok := upstream.ConverseMetadataUsage(m.Payload); ok {
			s.usage = u
		}
	case "chunk": // InvokeModelWithResponseStream: {"bytes":"<base64 model event>"}
		var u upstream.Usage
		var ok bool
		if u, ok, s.b64 = upstream.ChunkUsage(m.Payload, s.b64); ok {
			s.usage = u
		}
	}
}

var errEmptyBody = errors.New("empty body")
