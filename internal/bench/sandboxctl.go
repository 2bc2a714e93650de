package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

// sandboxCtl drives a sandbox process through its admin API.
type sandboxCtl struct {
	url string
	hc  *http.Client
}

func (s *sandboxCtl) post(ctx context.Context, path string, body any) error {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url+"/_sandbox/"+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("sandbox admin %s: %s", path, out)
	}
	return nil
}

// unlimit lifts an account's quota for a model: a benchmark measures the relay, not the throttles.
func (s *sandboxCtl) unlimit(ctx context.Context, account, model string) error {
	return s.post(ctx, "quota", map[string]any{"account": account, "model": model,
		"requests_per_minute": 0, "tokens_per_minute": 0, "tokens_per_day": 0})
}

func (s *sandboxCtl) latency(ctx context.Context, l sandbox.Latency) error {
	return s.post(ctx, "latency", map[string]any{"model": "*", "first_token_ms": l.FirstTokenMillis, "tokens_per_second": l.TokensPerSecond})
}

func (s *sandboxCtl) stats(ctx context.Context) (sandbox.Stats, error) {
	var st sandbox.Stats
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/_sandbox/stats", nil)
	resp, err := s.hc.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// callerCredentials reads the caller session the sandbox exports (`GET /_sandbox/env`).
func (s *sandboxCtl) callerCredentials(ctx context.Context) (aws.Credentials, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/_sandbox/env", nil)
	resp, err := s.hc.Do(req)
	if err != nil {
		return aws.Credentials{}, err
	}
	defer resp.Body.Close()
	var c aws.Credentials
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "=")
		if !ok {
			continue
		}
		v = strings.Trim(v, "'")
		switch k {
		case "AWS_ACCESS_KEY_ID":
			c.AccessKeyID = v
		case "AWS_SECRET_ACCESS_KEY":
			c.SecretAccessKey = v
		case "AWS_SESSION_TOKEN":
			c.SessionToken = v
		}
	}
	if c.AccessKeyID == "" {
		return c, fmt.Errorf("sandbox %s/_sandbox/env exported no credentials", s.url)
	}
	return c, nil
}

// credEnv is the environment that makes an AWS SDK use creds against the sandbox.
func credEnv(c aws.Credentials, endpoint, region string) []string {
	return []string{"AWS_ACCESS_KEY_ID=" + c.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + c.SecretAccessKey,
		"AWS_SESSION_TOKEN=" + c.SessionToken, "AWS_REGION=" + region, "AWS_DEFAULT_REGION=" + region,
		"AWS_ENDPOINT_URL=" + endpoint, "AWS_EC2_METADATA_DISABLED=true", "AWS_PROFILE=", "AWS_BEARER_TOKEN_BEDROCK="}
}
