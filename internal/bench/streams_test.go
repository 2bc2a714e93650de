package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/aws/smithy-go/encoding/httpbinding"

	"github.com/bedrock-relay/bedrock-relay/config"
	"github.com/bedrock-relay/bedrock-relay/internal/httpapi"
	"github.com/bedrock-relay/bedrock-relay/router"
	"github.com/bedrock-relay/bedrock-relay/upstream"
)

// TestStreamsHeapProfile holds BENCH_STREAMS (default 1000) ConverseStreams open at once through the relay's
// handler (net/http server in front, upstream.Client behind, as `serve` builds them) and writes a heap profile
// of what is live at the peak. The callers and the slow upstream speak raw HTTP/1.1 over TCP on loopback, so
// every net/http object in the profile is the relay's own.
//
//	BENCH_HEAP_PROFILE=/tmp/relay.heap go test ./bench -run TestStreamsHeapProfile -v
//	go tool pprof -sample_index=inuse_space -top /tmp/relay.heap
func TestStreamsHeapProfile(t *testing.T) {
	path := os.Getenv("BENCH_HEAP_PROFILE")
	if path == "" {
		t.Skip("set BENCH_HEAP_PROFILE=file to run")
	}
	n := 1000
	if v, err := strconv.Atoi(os.Getenv("BENCH_STREAMS")); err == nil && v > 0 {
		n = v
	}
	frames := streamFrames(t, 60)
	up := slowUpstream(t, frames, 50*time.Millisecond) // ~3 s per stream

	c, err := upstream.New(context.Background(), upstream.Options{Region: "ap-northeast-1", BaseEndpoint: "http://" + up, Credentials: benchCreds})
	if err != nil {
		t.Fatal(err)
	}
	tg := &router.Member{Name: "t0", Account: "000000000002", Region: "ap-northeast-1", Models: map[string]string{fm: benchModel}, Client: c}
	r, err := router.New([]*router.Member{tg}, router.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.NewHandler(httpapi.Deps{Router: r, Auth: config.Auth{Mode: "none"}}))
	defer srv.Close()

	body := ops(50)["ConverseStream"].body
	req := fmt.Sprintf("POST /model/%s/converse-stream HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		httpbinding.EscapePath(benchModel, true), len(body), body)
	var open, failed atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.DialTimeout("tcp", srv.Listener.Addr().String(), 5*time.Second)
			if err != nil {
				failed.Add(1)
				return
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(30 * time.Second))
			open.Add(1)
			defer open.Add(-1)
			io.WriteString(conn, req)
			var buf [4096]byte
			got := 0
			for {
				k, err := conn.Read(buf[:])
				got += k
				if err != nil {
					break
				}
			}
			if got < len(frames)*20 {
				failed.Add(1)
			}
		}()
		if i%100 == 99 {
			time.Sleep(50 * time.Millisecond) // open them within about half a second
		}
	}
	time.Sleep(1500 * time.Millisecond)
	peak := open.Load()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	wg.Wait()
	t.Logf("%d streams open at the profile; live heap %.1f MB (%.1f KB per stream), stacks %.1f MB, goroutines %d; %d failed",
		peak, float64(ms.HeapAlloc)/1e6, float64(ms.HeapAlloc)/1e3/float64(max(1, peak)), float64(ms.StackInuse)/1e6, runtime.NumGoroutine(), failed.Load())
	if failed.Load() > 0 {
		t.Errorf("%d streams failed", failed.Load())
	}
}

// streamFrames is a ConverseStream of n text deltas, one encoded frame each.
func streamFrames(tb testing.TB, n int) [][]byte {
	var out [][]byte
	enc := eventstream.NewEncoder()
	frame := func(typ, payload string) {
		var m eventstream.Message
		m.Headers.Set(":message-type", eventstream.StringValue("event"))
		m.Headers.Set(":event-type", eventstream.StringValue(typ))
		m.Headers.Set(":content-type", eventstream.StringValue("application/json"))
		m.Payload = []byte(payload)
		var buf bytes.Buffer
		if err := enc.Encode(&buf, m); err != nil {
			tb.Fatal(err)
		}
		out = append(out, buf.Bytes())
	}
	frame("messageStart", `{"role":"assistant"}`)
	for i := 0; i < n; i++ {
		frame("contentBlockDelta", `{"contentBlockIndex":0,"delta":{"text":" hello hello hello"}}`)
	}
	frame("contentBlockStop", `{"contentBlockIndex":0}`)
	frame("messageStop", `{"stopReason":"end_turn"}`)
	frame("metadata", `{"usage":{"inputTokens":12,"outputTokens":`+strconv.Itoa(3*n)+`,"totalTokens":`+strconv.Itoa(12+3*n)+`},"metrics":{"latencyMs":100}}`)
	return out
}

// slowUpstream is a raw HTTP/1.1 server that answers every request with frames, one every gap, chunked.
func slowUpstream(t *testing.T, frames [][]byte, gap time.Duration) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				br := bufio.NewReader(conn)
				for {
					conn.SetDeadline(time.Now().Add(time.Minute))
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.amazon.eventstream\r\nTransfer-Encoding: chunked\r\n\r\n")
					for _, f := range frames {
						time.Sleep(gap)
						fmt.Fprintf(conn, "%x\r\n", len(f))
						conn.Write(f)
						io.WriteString(conn, "\r\n")
					}
					io.WriteString(conn, "0\r\n\r\n")
				}
			}()
		}
	}()
	return ln.Addr().String()
}
