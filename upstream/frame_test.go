package upstream

import (
	"bytes"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

func encodeFrame(t testing.TB, m eventstream.Message) []byte {
	var buf bytes.Buffer
	if err := eventstream.NewEncoder().Encode(&buf, m); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestParseFrameReadsWhatTheSDKWrites(t *testing.T) {
	var m eventstream.Message
	m.Headers.Set(":message-type", eventstream.StringValue("event"))
	m.Headers.Set(":event-type", eventstream.StringValue("contentBlockDelta"))
	m.Headers.Set(":content-type", eventstream.StringValue("application/json"))
	m.Headers.Set("x-other", eventstream.Int64Value(42)) // other header types are skipped
	m.Headers.Set("x-flag", eventstream.BoolValue(true))
	m.Payload = []byte(`{"delta":{"text":"hi"},"contentBlockIndex":0}`)
	frame := encodeFrame(t, m)

	f, err := ParseFrame(frame)
	if err != nil {
		t.Fatal(err)
	}
	if string(f.MessageType) != "event" || string(f.EventType) != "contentBlockDelta" || !bytes.Equal(f.Payload, m.Payload) {
		t.Errorf("got type %q event %q payload %q", f.MessageType, f.EventType, f.Payload)
	}
	if n := testing.AllocsPerRun(100, func() { ParseFrame(frame) }); n != 0 {
		t.Errorf("ParseFrame allocates %v times, want 0", n)
	}

	exc := ExceptionFrame("throttlingException", "Too many requests")
	f, err = ParseFrame(exc)
	if err != nil || string(f.MessageType) != "exception" || string(f.ExceptionType) != "throttlingException" {
		t.Errorf("exception frame: %+v, %v", f, err)
	}
	if e := ExceptionOf(f); e == nil || e.Code != "ThrottlingException" || e.Message != "Too many requests" {
		t.Errorf("exceptionOf = %+v", e)
	}

	bad := append([]byte(nil), frame...)
	bad[len(bad)-10] ^= 0xff
	if _, err := ParseFrame(bad); err == nil {
		t.Error("corrupted payload: got nil error, want a checksum error")
	}
	if _, err := ParseFrame(frame[:20]); err == nil {
		t.Error("truncated frame: got nil error")
	}
}

func FuzzParseFrame(f *testing.F) {
	var m eventstream.Message
	m.Headers.Set(":message-type", eventstream.StringValue("event"))
	m.Headers.Set(":event-type", eventstream.StringValue("chunk"))
	m.Payload = []byte(`{"bytes":"e30="}`)
	f.Add(encodeFrame(f, m))
	f.Add(ExceptionFrame("modelStreamErrorException", "x"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := ParseFrame(b)
		if err != nil {
			return
		}
		// Whatever ParseFrame accepts, the SDK's own decoder accepts too.
		msg, derr := eventstream.NewDecoder().Decode(bytes.NewReader(b), nil)
		if derr != nil {
			t.Fatalf("ParseFrame accepted a frame the SDK decoder refuses: %v", derr)
		}
		if !bytes.Equal(msg.Payload, fr.Payload) {
			t.Fatalf("payload %q, SDK says %q", fr.Payload, msg.Payload)
		}
	})
}
