// Package testredis starts a throwaway redis-server for tests: on a free 127.0.0.1 port, without
// persistence, in the test's temporary directory, stopped when the test ends (and, for tests of Redis going
// away, killed and started again on the same port). Tests that use it skip when
// redis-server is not installed and CI is empty, and fail when CI is set (.ci/install-deps installs it).
package testredis

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Start starts redis-server and returns its address, host:port.
func Start(t testing.TB) string {
	t.Helper()
	return StartServer(t).Addr
}

// Server is a running redis-server that a test can kill and start again on the same address (a Redis
// that goes away mid-burst, and comes back empty).
type Server struct {
	Addr string
	t    testing.TB
	bin  string
	port int

	mu   sync.Mutex
	stop func() // kills the running process and waits for it; nil while killed
}

// StartServer starts redis-server on a free port; it is stopped when the test ends.
func StartServer(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server is not installed; .ci/install-deps installs it (apt-get install redis-server)")
		}
		t.Skip("redis-server is not installed (apt-get install redis-server, or run .ci/install-deps)")
	}
	var last error
	for range 3 { // a free port may be taken between finding it and the server binding it
		port, err := freePort()
		if err != nil {
			last = err
			continue
		}
		s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), t: t, bin: bin, port: port}
		if last = s.start(); last == nil {
			t.Cleanup(s.Kill)
			return s
		}
	}
	t.Fatalf("start redis-server: %v", last)
	return nil
}

// Kill stops the server at once (SIGKILL: no goodbye to its clients). It is a no-op while killed.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stop != nil {
		s.stop()
		s.stop = nil
	}
}

// Restart starts a killed server again on its address, empty (no persistence).
func (s *Server) Restart() error {
	s.mu.Lock()
	running := s.stop != nil
	s.mu.Unlock()
	if running {
		return fmt.Errorf("redis-server on %s is running", s.Addr)
	}
	var err error
	for range 50 { // the port may linger for a moment after the kill
		if err = s.start(); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

func (s *Server) start() error {
	var out syncBuffer
	cmd := exec.Command(s.bin, "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", s.t.TempDir(), "--daemonize", "no", "--protected-mode", "yes")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop := func() {
		cmd.Process.Kill()
		<-exited
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if ping(s.Addr) == nil {
			s.mu.Lock()
			s.stop = stop
			s.mu.Unlock()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("redis-server exited: %s", strings.TrimSpace(out.String()))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return fmt.Errorf("redis-server on %s did not answer PING within 10s: %s", s.Addr, strings.TrimSpace(out.String()))
		}
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// ping sends PING in the inline protocol and wants +PONG.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
