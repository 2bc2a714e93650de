package awsenv

import "testing"

func TestIsLoopback(t *testing.T) {
	for in, want := range map[string]bool{
		"http://127.0.0.1:4566": true, "http://localhost:8080": true, "http://[::1]:1": true,
		"https://bedrock-runtime.ap-northeast-1.amazonaws.com": false, "": false, "http://10.0.0.1": false,
	} {
		if got := IsLoopback(in); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", in, got, want)
		}
	}
}
