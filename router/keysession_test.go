package router_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/smithy-go"

	"github.com/bedrock-relay/bedrock-relay/credcache"
	"github.com/bedrock-relay/bedrock-relay/router"
	"github.com/bedrock-relay/bedrock-relay/upstream"
)

// keySender records the key and group of each request and answers as the key's session would: refused by STS
// for want of sts:TagSession when the key is "denied".
type keySender struct{ got []string }

func (s *keySender) Do(_ context.Context, r *upstream.Request) (*http.Response, error) {
	s.got = append(s.got, r.Key+"/"+r.Group)
	if r.Key == "denied" {
		return nil, &upstream.CredentialsError{Err: &credcache.Error{RoleARN: "arn:aws:iam::222222222222:role/R", Key: r.Key,
			Err: &smithy.GenericAPIError{Code: "AccessDenied", Message: "User: arn:aws:sts::111111111111:assumed-role/C/s is not authorized to perform: sts:TagSession on resource: arn:aws:iam::222222222222:role/R"}}}
	}
	return invokeAnswer.Do(context.Background(), r)
}

// TestRequestCarriesKey: the caller's key and group reach the target's sender; a per-key session refused for
// want of sts:TagSession takes the target out as a setup problem, logged with the fix.
func TestRequestCarriesKey(t *testing.T) {
	var log bytes.Buffer
	m := &router.Member{Name: "t", Account: "222222222222", Region: "ap-northeast-1", Models: map[string]string{benchFM: benchProfile}}
	r, err := router.New([]*router.Member{m}, router.Options{Logger: slog.New(slog.NewTextHandler(&log, nil)), MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	s := &keySender{}
	r.SetSender(m, s)
	body := []byte(`{"anthropic_version":"bedrock-2023-05-31","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`)
	ctx := context.Background()
	for _, kg := range [][2]string{{"alice", "chat"}, {"", ""}} {
		if _, err := r.Do(ctx, &router.Request{Op: upstream.OpInvoke, Model: benchFM, Body: body, Key: kg[0], Group: kg[1]}); err != nil {
			t.Fatalf("%v: %v", kg, err)
		}
	}
	_, err = r.Do(ctx, &router.Request{Op: upstream.OpInvoke, Model: benchFM, Body: body, Key: "denied"})
	var ex *router.ExhaustedError
	if !errors.As(err, &ex) || !ex.Setup {
		t.Fatalf("denied: got %v, want every target out with a setup problem", err)
	}
	if got := strings.Join(s.got, " "); got != "alice/chat / denied/" {
		t.Errorf("sent %q", got)
	}
	if l := log.String(); !strings.Contains(l, "target taken out: setup problem") || !strings.Contains(l, "fix=") || !strings.Contains(l, "allow sts:TagSession") {
		t.Errorf("log %q: want the setup problem with its fix", l)
	}
	// The target is out: alice's next request is refused without being sent.
	if _, err := r.Do(ctx, &router.Request{Op: upstream.OpInvoke, Model: benchFM, Body: body, Key: "alice"}); !errors.As(err, &ex) {
		t.Errorf("after the setup failure: %v, want the target out", err)
	}
	if len(s.got) != 3 {
		t.Errorf("%d requests sent, want 3", len(s.got))
	}
}
