package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestDemo(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"demo", "--burst", "60"}, func(string) string { return "" }, strings.NewReader(""), &stdout, &stderr)
	if err != nil {
		t.Fatalf("demo: %v\nstderr: %s", err, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{
		"Caller      arn:aws:sts::111111111111:assumed-role/lambda-execution-role/",
		"AssumeRole  111111111111 -> 222222222222",
		"クロスアカウントでのBedrock呼び出しテストです", // the prompt comes back, readable
		"call 2      ok",
		"call 3      ThrottlingException: Too many requests, please wait before trying again.",
		"STS AssumeRole calls so far: 1",
		"52 of 60 answered; 8 refused with 429 ThrottlingException",
		"STS AssumeRole calls: 2 (one per account)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}
