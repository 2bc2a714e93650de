package router

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bedrock-relay/bedrock-relay/upstream"
)

// maxFrame bounds one event-stream frame (Bedrock's are far smaller); a larger prelude is a broken stream.
const maxFrame = 16 << 20

// DefaultStreamIdleTimeout is how long a stream may go without an event before the relay ends it: generous,
// since thinking models pause before they answer.
const DefaultStreamIdleTimeout = 2 * time.Minute

// Stream passes an upstream event stream on frame by frame, as raw bytes, looking inside only for what the
// relay needs: exception frames, the final usage, and whether the stream's terminal events came. A stream
// that ends without them (an upstream, or a proxy in between, closing early at a frame boundary), breaks
// off, sends a malformed frame or stalls ends for the caller with a modelStreamErrorException frame: never
// a silently short answer.
type Stream struct {
	resp    *http.Response
	br      *bufio.Reader // over resp.Body: what has come in and not been read yet tells Pending
	op      string
	first   []byte
	firstF  upstream.Frame
	last    upstream.Frame // the frame Next returned last, as read
	err     error
	done    bool
	usage   upstream.Usage
	onEnd   func(u upstream.Usage, upstreamFault bool)
	once    sync.Once
	buf     []byte // the frame buffer, reused: a frame from Next is valid until the next call
	b64     []byte
	stop    bool // ConverseStream: messageStop seen
	meta    bool // ConverseStream: metadata seen; InvokeModelWithResponseStream: the invocation metrics
	idle    *time.Timer
	idleFor time.Duration
	stalled atomic.Bool
	frames  atomic.Uint64 // frames read, which the idle timer compares between its runs
	seen    uint64        // the count at the idle timer's last run (read and written by the timer only)
}

// Header is the upstream response header (Content-Type, x-amzn-RequestId, X-Amzn-Bedrock-Content-Type).
func (s *Stream) Header() http.Header { return s.resp.Header }

// openStream reads the first frame: a stream that fails before its first event fails over like any error.
func openStream(resp *http.Response, op string) (*Stream, error) {
	s := &Stream{resp: resp, op: op, br: readerPool.Get().(*bufio.Reader)}
	s.br.Reset(resp.Body)
	frame, err := s.readFrame()
	if err != nil {
		s.release()
		return nil, fmt.Errorf("stream ended before its first event: %w", err)
	}
	f, err := upstream.ParseFrame(frame)
	if err != nil {
		s.release()
		return nil, err
	}
	if e := upstream.ExceptionOf(f); e != nil {
		s.release()
		return nil, e
	}
	s.inspect(f)
	s.first, s.firstF = frame, f
	return s, nil
}

// Next returns the next raw frame, or io.EOF at the end. The frame is valid until the next call. A stream that breaks mid-way ends with a
// synthesized modelStreamErrorException frame, so the caller is told rather than left with a truncated
// answer.
func (s *Stream) Next() ([]byte, error) {
	if s.first != nil {
		f := s.first
		s.first, s.last = nil, s.firstF
		return f, nil
	}
	if s.done {
		return nil, io.EOF
	}
	s.frames.Add(1)
	frame, err := s.readFrame()
	if err == io.EOF && !s.terminated() {
		err = errEndedEarly
	}
	if err == io.EOF {
		s.end(false)
		return nil, io.EOF
	}
	if err != nil {
		s.end(true)
		msg := "The upstream stream broke off before its end."
		switch {
		case s.stalled.Load():
			err = errStalled
			msg = fmt.Sprintf("The upstream stream sent nothing for %s and was ended.", s.idleFor)
		case err == errEndedEarly:
			msg = "The upstream stream ended before its last event; the answer is incomplete."
		}
		s.err = err
		return s.made(upstream.ExceptionFrame("modelStreamErrorException", msg)), nil
	}
	f, err := upstream.ParseFrame(frame)
	if err != nil {
		s.end(true)
		s.err = err
		return s.made(upstream.ExceptionFrame("modelStreamErrorException", "The upstream stream sent a malformed frame.")), nil
	}
	if string(f.MessageType) != "event" {
		s.end(true)
		s.err = upstream.ExceptionOf(f)
		s.last = f
		return frame, nil
	}
	s.inspect(f)
	s.last = f
	return frame, nil
}

// made is a frame the stream made up (the exception that tells of a broken stream), read as Parsed gives it.
func (s *Stream) made(frame []byte) []byte {
	s.last, _ = upstream.ParseFrame(frame)
	return frame
}

// Parsed is the frame Next returned last, as the stream read it (checked, its routing headers found), so
// that whoever maps it need not read it again. Like the frame, it is valid until the next call.
func (s *Stream) Parsed() upstream.Frame { return s.last }

// Err is the upstream failure that ended the stream early, if any.
func (s *Stream) Err() error { return s.err }

// Usage is what the stream reported (complete once Next returned io.EOF).
func (s *Stream) Usage() upstream.Usage { return s.usage }

// Close releases the upstream connection; a stream closed early still settles its budget. Closing before
// the end is the caller's doing (it went away, or the relay's deadline passed), not the target's.
func (s *Stream) Close() error {
	s.end(false)
	err := s.resp.Body.Close()
	s.release()
	return err
}

// readerPool holds the streams' read buffers: small, since a frame larger than the buffer is read past it
// straight into the frame buffer, and a stream holds one for its whole life.
var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 2048) }}

// release gives the read buffer back; the stream reads nothing after it.
func (s *Stream) release() {
	if s.br != nil {
		s.br.Reset(nil)
		readerPool.Put(s.br)
		s.br = nil
	}
}

// Pending reports whether the next frame has already come in whole, so that Next returns it without
// waiting on the upstream. A writer flushes to its caller only when nothing is pending: frames that arrived
// together leave together, and a frame is never held back waiting for the network.
func (s *Stream) Pending() bool {
	if s.first != nil {
		return true
	}
	if s.done || s.br == nil || s.br.Buffered() < 12 {
		return false
	}
	prelude, err := s.br.Peek(12)
	if err != nil {
		return false
	}
	return s.br.Buffered() >= int(binary.BigEndian.Uint32(prelude[0:4]))
}

// end settles the stream once; upstreamFault says the upstream broke, cut short or stalled it.
func (s *Stream) end(upstreamFault bool) {
	s.done = true
	if s.idle != nil {
		s.idle.Stop()
	}
	s.once.Do(func() {
		if s.onEnd != nil {
			s.onEnd(s.usage, upstreamFault)
		}
	})
}

var (
	errEndedEarly = errors.New("stream ended before its terminal events")
	errStalled    = errors.New("stream stalled")
)

// terminated reports whether the terminal events of the operation came: messageStop and metadata for
// ConverseStream, the chunk carrying amazon-bedrock-invocationMetrics for InvokeModelWithResponseStream.
func (s *Stream) terminated() bool {
	if s.op == upstream.OpConverseStream {
		return s.stop && s.meta
	}
	return s.meta
}

// watchIdle ends the stream when the upstream sends nothing for d: every d the timer looks whether a frame
// came since its last look, and if none did it closes the upstream body, which ends the read under way with
// an error that Next reports as a stall. A stall is so noticed between d and 2d after the last frame, and a
// frame costs an atomic increment rather than a timer reset.
func (s *Stream) watchIdle(d time.Duration) {
	s.idleFor = d
	s.seen = s.frames.Load()
	// Armed only once s.idle is set (Reset below), since the function re-arms it through s.idle.
	s.idle = time.AfterFunc(time.Duration(math.MaxInt64), func() {
		if n := s.frames.Load(); n != s.seen {
			s.seen = n
			s.idle.Reset(d)
			return
		}
		s.stalled.Store(true)
		s.resp.Body.Close()
	})
	s.idle.Reset(d)
}

func (s *Stream) readFrame() ([]byte, error) {
	if s.br == nil {
		return nil, io.ErrClosedPipe
	}
	// The prelude is read into the frame buffer itself: a local array handed to io.ReadFull would be one
	// allocation per frame.
	if cap(s.buf) < 512 {
		s.buf = make([]byte, 512)
	}
	if _, err := io.ReadFull(s.br, s.buf[:12]); err != nil {
		return nil, err // io.EOF at a frame boundary is the clean end; io.ErrUnexpectedEOF within the prelude
	}
	total := binary.BigEndian.Uint32(s.buf[0:4])
	if total < 16 || total > maxFrame {
		return nil, fmt.Errorf("event-stream frame of %d bytes", total)
	}
	if cap(s.buf) < int(total) {
		grown := make([]byte, total)
		copy(grown, s.buf[:12])
		s.buf = grown
	}
	frame := s.buf[:total]
	if _, err := io.ReadFull(s.br, frame[12:]); err != nil {
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
	case "messageStop": // ConverseStream
		s.stop = true
	case "metadata": // ConverseStream
		s.meta = true
		if u, ok := upstream.ConverseMetadataUsage(m.Payload); ok {
			s.usage = u
		}
	case "chunk": // InvokeModelWithResponseStream: {"bytes":"<base64 model event>"}
		var u upstream.Usage
		var ok bool
		if u, ok, s.b64 = upstream.ChunkUsage(m.Payload, s.b64); ok {
			s.usage, s.meta = u, true
		}
	}
}

var errEmptyBody = errors.New("empty body")
