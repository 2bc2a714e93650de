package sandbox_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/servicequotas"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

// TestServiceQuotas reads the seed accounts' Claude Sonnet 4.5 cross-region RPM through each BedrockAccessRole.
func TestServiceQuotas(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	const name = "Cross-region model inference requests per minute for Anthropic Claude Sonnet 4.5 V1"
	for _, tt := range []struct {
		account string
		want    float64
	}{{sandbox.SmallAccount, 2}, {sandbox.LargeAccount, 50}} {
		t.Run(tt.account, func(t *testing.T) {
			client := servicequotas.NewFromConfig(e.assume(t, sandbox.TargetRoleARN(tt.account)))
			var code string
			p := servicequotas.NewListServiceQuotasPaginator(client, &servicequotas.ListServiceQuotasInput{ServiceCode: aws.String("bedrock"), MaxResults: aws.Int32(10)})
			pages := 0
			for p.HasMorePages() {
				page, err := p.NextPage(ctx)
				if err != nil {
					t.Fatalf("ListServiceQuotas: %v", err)
				}
				pages++
				for _, q := range page.Quotas {
					if aws.ToString(q.QuotaName) == name {
						code = aws.ToString(q.QuotaCode)
						if got := aws.ToFloat64(q.Value); got != tt.want {
							t.Errorf("listed %s = %v, want %v", name, got, tt.want)
						}
					}
				}
			}
			if code == "" {
				t.Fatalf("no quota named %q listed", name)
			}
			if pages < 2 {
				t.Errorf("%d pages of 10, want the list paginated", pages)
			}
			got, err := client.GetServiceQuota(ctx, &servicequotas.GetServiceQuotaInput{ServiceCode: aws.String("bedrock"), QuotaCode: aws.String(code)})
			if err != nil {
				t.Fatalf("GetServiceQuota: %v", err)
			}
			if v := aws.ToFloat64(got.Quota.Value); v != tt.want {
				t.Errorf("GetServiceQuota %s = %v, want %v", code, v, tt.want)
			}
			if !strings.Contains(aws.ToString(got.Quota.QuotaArn), ":"+tt.account+":bedrock/") {
				t.Errorf("QuotaArn %s: want the account in it", aws.ToString(got.Quota.QuotaArn))
			}
		})
	}
	t.Run("errors", func(t *testing.T) {
		client := servicequotas.NewFromConfig(e.assume(t, sandbox.TargetRoleARN(sandbox.SmallAccount)))
		_, err := client.GetServiceQuota(ctx, &servicequotas.GetServiceQuotaInput{ServiceCode: aws.String("bedrock"), QuotaCode: aws.String("L-00000000")})
		if got, want := apiCode(err), "NoSuchResourceException"; got != want {
			t.Errorf("unknown quota code: got %v, want %s", err, want)
		}
		_, err = client.ListServiceQuotas(ctx, &servicequotas.ListServiceQuotasInput{ServiceCode: aws.String("ec2")})
		if got, want := apiCode(err), "NoSuchResourceException"; got != want {
			t.Errorf("other service: got %v, want %s", err, want)
		}
		// The caller role has no servicequotas permission.
		_, err = servicequotas.NewFromConfig(e.cfg).ListServiceQuotas(ctx, &servicequotas.ListServiceQuotasInput{ServiceCode: aws.String("bedrock")})
		if got, want := apiCode(err), "AccessDeniedException"; got != want {
			t.Errorf("caller without permission: got %v, want %s", err, want)
		}
	})
}

// TestAdminAPI drives every admin endpoint over HTTP and checks its effect through the SDK or the stats.
func TestAdminAPI(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	role := sandbox.TargetRoleARN(sandbox.SmallAccount)
	do := func(t *testing.T, method, path, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, e.url+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	ok := func(t *testing.T, method, path, body string) string {
		t.Helper()
		code, out := do(t, method, path, body)
		if code != 200 {
			t.Fatalf("%s %s: got %d %s, want 200", method, path, code, out)
		}
		return out
	}
	invokeCode := func(t *testing.T) string {
		t.Helper()
		_, err := invoke(ctx, e.session(t, role), sandbox.SeedProfile)
		return apiCode(err)
	}
	reset := func(t *testing.T) { ok(t, "POST", "/_sandbox/reset", "") }

	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"index", func(t *testing.T) {
			out := ok(t, "GET", "/_sandbox", "")
			if !strings.Contains(out, "/_sandbox/stats") {
				t.Errorf("index %s: want the endpoint list", out)
			}
		}},
		{"stats and calls", func(t *testing.T) {
			invokeCode(t)
			var st sandbox.Stats
			must(t, json.Unmarshal([]byte(ok(t, "GET", "/_sandbox/stats", "")), &st))
			if st.BedrockCalls(sandbox.SmallAccount, "ok") != 1 {
				t.Errorf("stats %+v: want one ok call in %s", st, sandbox.SmallAccount)
			}
			var calls []sandbox.Call
			must(t, json.Unmarshal([]byte(ok(t, "GET", "/_sandbox/calls", "")), &calls))
			if len(calls) == 0 || calls[len(calls)-1].Operation != "InvokeModel" {
				t.Errorf("calls %+v: want InvokeModel last", calls)
			}
		}},
		{"reset", func(t *testing.T) {
			invokeCode(t)
			reset(t)
			if n := e.sb.Stats().BedrockCalls("", ""); n != 0 {
				t.Errorf("after reset: %d Bedrock calls counted, want 0", n)
			}
		}},
		{"quota", func(t *testing.T) {
			ok(t, "POST", "/_sandbox/quota", `{"account":"222222222222","model":"`+sandbox.SeedProfile+`","requests_per_minute":1}`)
			if c := invokeCode(t); c != "" {
				t.Fatalf("first call: %s", c)
			}
			if c := invokeCode(t); c != "ThrottlingException" {
				t.Errorf("second call with RPM 1: got %q, want ThrottlingException", c)
			}
			if code, _ := do(t, "POST", "/_sandbox/quota", `{"model":"x"}`); code != 400 {
				t.Errorf("quota without account: got %d, want 400", code)
			}
		}},
		{"faults", func(t *testing.T) {
			ok(t, "POST", "/_sandbox/faults", `{"code":"ServiceUnavailableException","count":1}`)
			if c := invokeCode(t); c != "ServiceUnavailableException" {
				t.Errorf("got %q, want ServiceUnavailableException", c)
			}
			ok(t, "POST", "/_sandbox/faults", `{"code":"InternalServerException"}`)
			ok(t, "DELETE", "/_sandbox/faults", "")
			if c := invokeCode(t); c != "" {
				t.Errorf("after DELETE faults: got %q, want success", c)
			}
			if code, _ := do(t, "POST", "/_sandbox/faults", `{"code":"Nope"}`); code != 400 {
				t.Errorf("bad fault: got %d, want 400", code)
			}
			if code, _ := do(t, "POST", "/_sandbox/faults", `{"code":"ThrottlingException","typo":1}`); code != 400 {
				t.Errorf("unknown field: got %d, want 400", code)
			}
		}},
		{"credential-lifetime and expire-sessions", func(t *testing.T) {
			ok(t, "POST", "/_sandbox/credential-lifetime", `{"seconds":900}`)
			out, err := sts.NewFromConfig(e.cfg).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("admin"), DurationSeconds: aws.Int32(3600)})
			must(t, err)
			if d := time.Until(aws.ToTime(out.Credentials.Expiration)); d > 16*time.Minute {
				t.Errorf("credentials expire in %v, want the 900 s lifetime, not the 3600 s asked for", d)
			}
			cfg := e.static(aws.ToString(out.Credentials.AccessKeyId), aws.ToString(out.Credentials.SecretAccessKey), aws.ToString(out.Credentials.SessionToken))
			ok(t, "POST", "/_sandbox/expire-sessions", `{"role_arn":"`+role+`"}`)
			if _, err := invoke(ctx, cfg, sandbox.SeedProfile); apiCode(err) != "ExpiredTokenException" {
				t.Errorf("after expire-sessions: got %v, want ExpiredTokenException", err)
			}
		}},
		{"latency", func(t *testing.T) {
			ok(t, "POST", "/_sandbox/latency", `{"model":"*","first_token_ms":5,"tokens_per_second":1000}`)
			if c := invokeCode(t); c != "" {
				t.Errorf("got %q, want success", c)
			}
		}},
		{"strict", func(t *testing.T) {
			ok(t, "PUT", "/_sandbox/role-policy", `{"role_arn":"`+role+`","name":"BedrockInvoke","policy":{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:InvokeModel","Resource":["arn:aws:bedrock:ap-northeast-1:222222222222:inference-profile/`+sandbox.SeedProfile+`","arn:aws:bedrock:ap-northeast-1::foundation-model/`+seedFM+`"]}]}}`)
			ok(t, "POST", "/_sandbox/strict", `{"enabled":true}`)
			if c := invokeCode(t); c != "AccessDeniedException" {
				t.Errorf("strict, ap-northeast-3 missing: got %q, want AccessDeniedException", c)
			}
		}},
		{"trust-policy", func(t *testing.T) {
			ok(t, "PUT", "/_sandbox/trust-policy", `{"role_arn":"`+role+`","policy":{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:role/nobody"},"Action":"sts:AssumeRole"}]}}`)
			_, err := sts.NewFromConfig(e.cfg).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("admin")})
			if apiCode(err) != "AccessDenied" {
				t.Errorf("got %v, want AccessDenied", err)
			}
			if code, _ := do(t, "PUT", "/_sandbox/trust-policy", `{"role_arn":"arn:aws:iam::222222222222:role/Nope","policy":{}}`); code != 400 {
				t.Errorf("unknown role: got %d, want 400", code)
			}
		}},
		{"role-policy delete", func(t *testing.T) {
			ok(t, "PUT", "/_sandbox/role-policy", `{"role_arn":"`+role+`","name":"BedrockInvoke","policy":null}`)
			if c := invokeCode(t); c != "AccessDeniedException" {
				t.Errorf("policy deleted: got %q, want AccessDeniedException", c)
			}
		}},
		{"model-access", func(t *testing.T) {
			ok(t, "POST", "/_sandbox/model-access", `{"account":"222222222222","model":"`+seedFM+`","enabled":false}`)
			if c := invokeCode(t); c != "AccessDeniedException" {
				t.Errorf("got %q, want AccessDeniedException", c)
			}
		}},
		{"region", func(t *testing.T) {
			ok(t, "POST", "/_sandbox/region", `{"account":"222222222222","region":"ap-northeast-1","enabled":false}`)
			if c := invokeCode(t); c != "UnrecognizedClientException" {
				t.Errorf("got %q, want UnrecognizedClientException", c)
			}
		}},
		{"scp", func(t *testing.T) {
			ok(t, "PUT", "/_sandbox/scp", `{"account":"222222222222","policies":[{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"bedrock:InvokeModel","Resource":"*"}]}]}`)
			_, err := invoke(ctx, e.session(t, role), sandbox.SeedProfile)
			if apiCode(err) != "AccessDeniedException" || !strings.Contains(err.Error(), "service control policy") {
				t.Errorf("got %v, want AccessDeniedException from the SCP", err)
			}
		}},
		{"env", func(t *testing.T) {
			out := ok(t, "GET", "/_sandbox/env", "")
			for _, want := range []string{"export AWS_ENDPOINT_URL=" + e.url, "export AWS_REGION=ap-northeast-1", "export AWS_ACCESS_KEY_ID=ASIASANDBOX1EXAMPLE1", "unset AWS_PROFILE AWS_BEARER_TOKEN_BEDROCK"} {
				if !strings.Contains(out, want) {
					t.Errorf("env %q: want a line %q", out, want)
				}
			}
		}},
		{"unknown endpoint", func(t *testing.T) {
			if code, _ := do(t, "GET", "/_sandbox/nope", ""); code != 404 {
				t.Errorf("got %d, want 404", code)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reset(t)
			tt.run(t)
		})
	}
}
