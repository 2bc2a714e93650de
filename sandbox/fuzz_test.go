package sandbox

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func FuzzParseSigV4(f *testing.F) {
	for _, s := range []string{
		"AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=abcdef",
		"AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/bedrock/aws4_request,SignedHeaders=:authority,Signature=00",
		"AWS4-HMAC-SHA256 ", "AWS4-HMAC-SHA256 Credential=/////, SignedHeaders=, Signature=", "Bearer x", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		a, ok := parseSigV4(h)
		if ok && (a.AccessKeyID == "" || a.Signature == "" || len(a.SignedHeaders) == 0) {
			t.Errorf("parseSigV4(%q) = %+v, ok; want the required parts set", h, a)
		}
		// The whole request path must not panic either: an unverifiable header is a 403, never a 5xx.
		sb, _ := New(nil)
		req := httptest.NewRequest(http.MethodPost, "/model/x/invoke", strings.NewReader("{}"))
		req.Header.Set("Authorization", h)
		req.Header.Set("X-Amz-Date", "20250101T000000Z")
		w := httptest.NewRecorder()
		sb.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Errorf("Authorization %q: status %d, want a 4xx", h, w.Code)
		}
	})
}

// FuzzSTSForm feeds arbitrary query-protocol bodies to STS as the authenticated caller.
func FuzzSTSForm(f *testing.F) {
	for _, s := range []string{
		"Action=GetCallerIdentity&Version=2011-06-15",
		"Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A222222222222%3Arole%2FBedrockAccessRole&RoleSessionName=s1&DurationSeconds=900",
		"Action=AssumeRole&RoleArn=arn:aws:iam::222222222222:role/BedrockAccessRole&RoleSessionName=s&Tags.member.1.Key=&Tags.member.1.Value=x&Policy={",
		"Action=AssumeRole&DurationSeconds=99999999999999999999&ExternalId=%00&SourceIdentity=%ff",
		"%zz&&==", "Action=Nope",
	} {
		f.Add([]byte(s))
	}
	sb, err := New(nil)
	if err != nil {
		f.Fatal(err)
	}
	cred := sb.creds[sb.scenario.Caller.AccessKeyID]
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		w := httptest.NewRecorder()
		sb.serveSTS(w, &call{ID: "fuzz", Service: serviceSTS, Principal: cred.Principal, Region: SeedRegion, Body: body, r: r})
		if w.Code != 200 && (w.Code < 400 || w.Code >= 500) {
			t.Errorf("body %q: status %d, want 200 or 4xx", body, w.Code)
		}
		if !bytes.Contains(w.Body.Bytes(), []byte("<?xml")) {
			t.Errorf("body %q: answer %q is not XML", body, w.Body.Bytes())
		}
	})
}
