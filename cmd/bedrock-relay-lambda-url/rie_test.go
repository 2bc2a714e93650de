package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	brtypes "github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"gopkg.in/yaml.v3"

	"github.com/bedrock-relay/bedrock-relay/config"
	"github.com/bedrock-relay/bedrock-relay/internal/testlambda"
	"github.com/bedrock-relay/bedrock-relay/sandbox"
	relaysetup "github.com/bedrock-relay/bedrock-relay/setup"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testlambda.Cleanup()
	os.Exit(code)
}

// The relay config a user would write for the Function URL relay, before `template` makes the function's
// copy of it: the server: and source: parts it drops are Lambda's business.
func urlRelayConfig() string {
	return "auth:\n  mode: keys\n  keys:\n    - name: fn-caller\n      sha256: " + config.HashKey(testKey) + "\n      models: [\"*\"]\n" +
		"server:\n  addr: 127.0.0.1:8443\n  access_log: true\n" +
		"source:\n  endpoint: http://127.0.0.1:1\n  region: ap-northeast-1\n" +
		"targets:\n" +
		"  - name: small\n    role_arn: " + sandbox.TargetRoleARN(sandbox.SmallAccount) + "\n    region: ap-northeast-1\n    models: [" + sandbox.SeedProfile + "]\n    priority: 0\n" +
		"  - name: large\n    role_arn: " + sandbox.TargetRoleARN(sandbox.LargeAccount) + "\n    region: ap-northeast-1\n    models: [" + sandbox.SeedProfile + "]\n    priority: 1\n"
}

// templateEnvironment generates the caller account's CloudFormation template for the config, as `template
// cloudformation --function-url` does, and returns the function's environment variables from it.
func templateEnvironment(t *testing.T, relayYAML string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "relay.yaml")
	if err := os.WriteFile(path, []byte(relayYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	lc, _, err := relaysetup.RelayConfigForLambda([]byte(relayYAML))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := relaysetup.New(relaysetup.Options{CallerRoleARN: sandbox.CallerRoleARN, Targets: relaysetup.GrantsFromConfig(cfg), Stream: true})
	if err != nil {
		t.Fatal(err)
	}
	files, err := relaysetup.CloudFormation(plan, relaysetup.TemplateOptions{FunctionURL: true, Arch: testlambda.HostArch(), RelayConfig: lc})
	if err != nil {
		t.Fatal(err)
	}
	var tpl struct {
		Resources map[string]struct {
			Type       string `yaml:"Type"`
			Properties struct {
				Code        map[string]any `yaml:"Code"`
				Environment struct {
					Variables map[string]string `yaml:"Variables"`
				} `yaml:"Environment"`
			} `yaml:"Properties"`
		} `yaml:"Resources"`
		Parameters map[string]map[string]any `yaml:"Parameters"`
	}
	if err := yaml.Unmarshal(files[0].Body, &tpl); err != nil {
		t.Fatal(err)
	}
	if got, want := tpl.Parameters["CodeS3Key"]["Default"], "bedrock-relay-lambda-url-"+testlambda.HostArch()+".zip"; got != want {
		t.Errorf("the template's code key is %v, want %s (the package this test runs)", got, want)
	}
	return tpl.Resources["Function"].Properties.Environment.Variables
}

// urlFront stands for the Function URL service in front of the emulator: it turns each HTTPS request into a
// Function URL event (payload format 2.0), invokes the function, and turns the streamed answer (a JSON
// prelude with status and headers, eight NUL bytes, then the body as the function writes it) back into an
// HTTP response, flushing as it goes. TLS because the SDK's bearer auth needs it.
func urlFront(t *testing.T, invokeURL string) *httptest.Server {
	t.Helper()
	var mu sync.Mutex // the emulator runs one invocation at a time, as one Lambda instance
	client := &http.Client{Timeout: 60 * time.Second}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ev := events.LambdaFunctionURLRequest{Version: "2.0", RawPath: r.URL.EscapedPath(), RawQueryString: r.URL.RawQuery,
			Headers: map[string]string{}}
		for k, v := range r.Header {
			ev.Headers[strings.ToLower(k)] = strings.Join(v, ",")
		}
		if utf8.Valid(body) {
			ev.Body = string(body)
		} else {
			ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
		}
		ev.RequestContext.DomainName = "abcdefghij.lambda-url.ap-northeast-1.on.aws"
		ev.RequestContext.HTTP.Method = r.Method
		ev.RequestContext.HTTP.Path = ev.RawPath
		ev.RequestContext.HTTP.SourceIP = "203.0.113.7"
		payload, _ := json.Marshal(ev)
		resp, err := client.Post(invokeURL, "application/json", bytes.NewReader(payload))
		if err != nil {
			http.Error(w, "invoke: "+err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		// Lambda marks such an answer application/vnd.awslambda.http-integration-response; the emulator passes
		// the bytes on as application/octet-stream.
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Amz-Function-Error") != "" {
			raw, _ := io.ReadAll(resp.Body)
			t.Errorf("the function failed: %d %s", resp.StatusCode, raw)
			http.Error(w, "function error", http.StatusBadGateway)
			return
		}
		br := bufio.NewReader(resp.Body)
		var prelude []byte
		for !bytes.HasSuffix(prelude, make([]byte, 8)) {
			b, err := br.ReadByte()
			if err != nil || len(prelude) > 64<<10 {
				t.Errorf("the function's answer ended in its prelude: %q", prelude)
				http.Error(w, "short prelude", http.StatusBadGateway)
				return
			}
			prelude = append(prelude, b)
		}
		var p struct {
			StatusCode int               `json:"statusCode"`
			Headers    map[string]string `json:"headers"`
		}
		if err := json.Unmarshal(prelude[:len(prelude)-8], &p); err != nil {
			t.Errorf("prelude %q: %v", prelude, err)
			http.Error(w, "bad prelude", http.StatusBadGateway)
			return
		}
		for k, v := range p.Headers {
			w.Header().Set(k, v)
		}
		w.WriteHeader(p.StatusCode)
		buf := make([]byte, 32<<10)
		for {
			n, err := br.Read(buf)
			if n > 0 {
				w.Write(buf[:n])
				w.(http.Flusher).Flush()
			}
			if err == io.EOF {
				return
			}
			if err != nil {
				panic(http.ErrAbortHandler) // a cut stream stays cut
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestFunctionURLUnderLambdaEmulator runs the packaged relay (bedrock-relay-lambda-url-ARCH.zip, as `make
// lambda` builds it) under the Lambda Runtime Interface Emulator, configured by the environment the generated
// CloudFormation template gives the function, behind a stand-in for the Function URL service, and calls it
// with the Go SDK as a user would: AWS_ENDPOINT_URL_BEDROCK_RUNTIME at the URL, AWS_BEARER_TOKEN_BEDROCK a
// relay key. It fails over a throttled account, streams, and answers missing keys, refused keys, a pool
// that is throttled everywhere and a stream cut mid-way in Bedrock's shapes.
func TestFunctionURLUnderLambdaEmulator(t *testing.T) {
	bootstrap := testlambda.HostBootstrap(t, "bedrock-relay-lambda-url")
	sb, err := sandbox.New(sandbox.DefaultScenario())
	if err != nil {
		t.Fatal(err)
	}
	upstream := httptest.NewServer(sb)
	t.Cleanup(upstream.Close)
	creds := sb.CallerCredentials()

	fnEnv := templateEnvironment(t, urlRelayConfig())
	relayJSON := fnEnv[relaysetup.RelayConfigVar]
	if relayJSON == "" || strings.Contains(relayJSON, "127.0.0.1") {
		t.Fatalf("the template's %s = %q: want the config without its server address and source endpoint", relaysetup.RelayConfigVar, relayJSON)
	}
	// The execution role's session, as Lambda gives it; STS and Bedrock are the sandbox.
	r := testlambda.StartRIE(t, bootstrap, testlambda.Env(t, sandbox.SeedRegion,
		testlambda.Session{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey, SessionToken: creds.SessionToken},
		upstream.URL, time.Minute, relaysetup.RelayConfigVar+"="+relayJSON))
	front := urlFront(t, r.URL)

	t.Setenv("AWS_BEARER_TOKEN_BEDROCK", testKey)
	client := bedrockruntime.NewFromConfig(aws.Config{Region: sandbox.SeedRegion, BaseEndpoint: aws.String(front.URL),
		HTTPClient: sandbox.SDKHTTPClient(front.Client()), RetryMaxAttempts: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	invoke := func() (*bedrockruntime.InvokeModelOutput, error) {
		return client.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(sandbox.SeedProfile), ContentType: aws.String("application/json"),
			Body: []byte(`{"anthropic_version":"bedrock-2023-05-31","max_tokens":50,"messages":[{"role":"user","content":"クロスアカウントの呼び出し"}]}`)})
	}
	converse := func() (events []string, err error) {
		out, err := client.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{ModelId: aws.String(sandbox.SeedProfile),
			Messages: []brtypes.Message{{Role: brtypes.ConversationRoleUser, Content: []brtypes.ContentBlock{&brtypes.ContentBlockMemberText{Value: "a long answer please words:40"}}}}})
		if err != nil {
			return nil, err
		}
		stream := out.GetStream()
		defer stream.Close()
		for e := range stream.Events() {
			events = append(events, fmt.Sprintf("%T", e))
		}
		return events, stream.Err()
	}

	t.Run("invoke, failing over a throttled account", func(t *testing.T) {
		// The seed's small account allows 2 requests a minute: the third and fourth go to the large one.
		for i := range 4 {
			out, err := invoke()
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			var msg struct{ Type string }
			if json.Unmarshal(out.Body, &msg) != nil || msg.Type != "message" {
				t.Fatalf("request %d: %s, want an Anthropic message", i, out.Body)
			}
		}
		if n := sb.Stats().BedrockCalls(sandbox.LargeAccount, "ok"); n < 2 {
			t.Errorf("the large account answered %d requests, want the 2 the small one has no room for", n)
		}
	})
	t.Run("ConverseStream", func(t *testing.T) {
		got, err := converse()
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
		if len(got) < 4 || !strings.HasSuffix(got[0], "MemberMessageStart") || !strings.HasSuffix(got[len(got)-1], "MemberMetadata") {
			t.Errorf("stream events %v: want messageStart, deltas ... metadata", got)
		}
	})
	t.Run("no relay key", func(t *testing.T) {
		req, _ := http.NewRequest("POST", front.URL+"/model/"+sandbox.SeedProfile+"/invoke", strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := front.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 403 || !strings.Contains(string(body), "AWS_BEARER_TOKEN_BEDROCK") || !strings.Contains(string(body), "relay") {
			t.Errorf("got %d %s, want a 403 saying this is a relay that expects AWS_BEARER_TOKEN_BEDROCK", resp.StatusCode, body)
		}
	})
	t.Run("wrong relay key", func(t *testing.T) {
		t.Setenv("AWS_BEARER_TOKEN_BEDROCK", "brk-not-a-key-of-this-relay")
		wrong := bedrockruntime.NewFromConfig(aws.Config{Region: sandbox.SeedRegion, BaseEndpoint: aws.String(front.URL),
			HTTPClient: sandbox.SDKHTTPClient(front.Client()), RetryMaxAttempts: 1})
		_, err := wrong.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(sandbox.SeedProfile), ContentType: aws.String("application/json"), Body: []byte(`{}`)})
		if code, status := apiError(err); code != "UnrecognizedClientException" || status != 403 {
			t.Errorf("got %v, want 403 UnrecognizedClientException", err)
		}
	})
	t.Run("throttled everywhere", func(t *testing.T) {
		if err := sb.AddFault(sandbox.Fault{Code: "ThrottlingException", Operation: "InvokeModel", Rate: 1}); err != nil {
			t.Fatal(err)
		}
		defer sb.ClearFaults()
		_, err := invoke()
		if code, status := apiError(err); code != "ThrottlingException" || status != 429 {
			t.Errorf("got %v, want the pool's 429 ThrottlingException", err)
		}
	})
	t.Run("stream cut mid-way", func(t *testing.T) {
		for name, f := range map[string]sandbox.Fault{
			"dropped":       {Drop: true, AfterEvents: 3, Rate: 1, Operation: "ConverseStream"},
			"ended early":   {EndEarly: true, AfterEvents: 3, Rate: 1, Operation: "ConverseStream"},
			"an exception ": {Code: "ModelStreamErrorException", AfterEvents: 3, Rate: 1, Operation: "ConverseStream"},
		} {
			if err := sb.AddFault(f); err != nil {
				t.Fatal(err)
			}
			got, err := converse()
			sb.ClearFaults()
			if err == nil {
				t.Errorf("%s: the stream ended without an error after %v; want the cut reported in the stream", name, got)
			}
			for _, e := range got {
				if strings.HasSuffix(e, "MemberMetadata") {
					t.Errorf("%s: events %v: metadata after a cut", name, got)
				}
			}
		}
	})

	logs := r.Logs.String()
	for _, secret := range []string{testKey, creds.SecretAccessKey, creds.SessionToken, "クロスアカウント"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the function's logs hold a secret or a prompt (%.8s...)", secret)
		}
	}
	if !strings.Contains(logs, `"status":200`) {
		t.Errorf("the function's logs have no access log line (server.access_log is kept):\n%s", logs)
	}
}

func apiError(err error) (code string, status int) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return code, status
}
