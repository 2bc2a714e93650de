package upstream

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

// Frame is what the relay reads of one event-stream frame without decoding it: the three routing headers and
// the payload, each a slice into the frame (valid as long as the frame is).
type Frame struct {
	MessageType   []byte // "event", "exception", "error"
	EventType     []byte // ":event-type", for events
	ExceptionType []byte // ":exception-type", for exceptions
	Payload       []byte
}

var errBadFrame = errors.New("malformed event-stream frame")

// ParseFrame checks a frame's length and CRCs and finds its routing headers, allocating nothing. A relay
// passes frames on as bytes; the full decoder (aws-sdk-go-v2 eventstream) costs tens of allocations per frame,
// which on a stream of hundreds of deltas was most of the relay's CPU.
func ParseFrame(frame []byte) (Frame, error) {
	var f Frame
	if len(frame) < 16 {
		return f, errBadFrame
	}
	total := binary.BigEndian.Uint32(frame[0:4])
	hlen := binary.BigEndian.Uint32(frame[4:8])
	if int(total) != len(frame) || uint64(hlen)+16 > uint64(total) {
		return f, fmt.Errorf("%w: lengths %d/%d for %d bytes", errBadFrame, total, hlen, len(frame))
	}
	if crc32.ChecksumIEEE(frame[0:8]) != binary.BigEndian.Uint32(frame[8:12]) ||
		crc32.ChecksumIEEE(frame[:total-4]) != binary.BigEndian.Uint32(frame[total-4:]) {
		return f, fmt.Errorf("%w: checksum mismatch", errBadFrame)
	}
	h := frame[12 : 12+hlen]
	f.Payload = frame[12+hlen : total-4]
	for len(h) > 0 {
		nlen := int(h[0])
		if len(h) < 1+nlen+1 {
			return f, errBadFrame
		}
		name := h[1 : 1+nlen]
		typ := h[1+nlen]
		h = h[2+nlen:]
		var size int
		switch typ {
		case 0, 1: // bool true / false
			size = 0
		case 2:
			size = 1
		case 3:
			size = 2
		case 4:
			size = 4
		case 5, 8: // int64, timestamp
			size = 8
		case 9: // uuid
			size = 16
		case 6, 7: // bytes, string: 2-byte length
			if len(h) < 2 {
				return f, errBadFrame
			}
			size = 2 + int(binary.BigEndian.Uint16(h[0:2]))
		default:
			return f, fmt.Errorf("%w: header type %d", errBadFrame, typ)
		}
		if len(h) < size {
			return f, errBadFrame
		}
		if typ == 7 {
			v := h[2:size]
			switch string(name) { // a switch on string(bytes) does not allocate
			case ":message-type":
				f.MessageType = v
			case ":event-type":
				f.EventType = v
			case ":exception-type":
				f.ExceptionType = v
			}
		}
		h = h[size:]
	}
	return f, nil
}

// ExceptionOf turns an exception frame into the upstream error it stands for.
func ExceptionOf(f Frame) *Error {
	switch string(f.MessageType) {
	case "event":
		return nil
	case "error": // :error-code / :error-message frames: rare; the code is not needed to fail over
		return &Error{Status: 200, Code: "InternalServerException", Message: "the upstream stream sent an error frame", Body: append([]byte(nil), f.Payload...)}
	}
	code := string(f.ExceptionType)
	if code != "" {
		code = string(bytes.ToUpper([]byte(code[:1]))) + code[1:]
	}
	var b struct {
		Message string `json:"message"`
	}
	_ = json.Unmarshal(f.Payload, &b)
	return &Error{Status: 200, Code: code, Message: b.Message, Body: append([]byte(nil), f.Payload...)}
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
