package upstream

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

type oneKey struct{ p aws.CredentialsProvider }

func (k oneKey) ForKey(string, string) (aws.CredentialsProvider, error) { return k.p, nil }

// TestCredentialsAllocateNothing: choosing the credentials allocates nothing, with per-key sessions or
// without (the hot path of every request).
func TestCredentialsAllocateNothing(t *testing.T) {
	shared := aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider("AKIDSHARED", "s", ""))
	perKey := aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider("AKIDKEY", "s", ""))
	off, _ := New(context.Background(), Options{Region: "ap-northeast-1", BaseEndpoint: "http://127.0.0.1:1", Credentials: shared})
	on, _ := New(context.Background(), Options{Region: "ap-northeast-1", BaseEndpoint: "http://127.0.0.1:1", Credentials: shared, KeyCredentials: oneKey{perKey}})
	for _, tt := range []struct {
		name string
		c    *Client
		key  string
		want aws.CredentialsProvider
	}{{"option off", off, "alice", shared}, {"no key", on, "", shared}, {"key", on, "alice", perKey}} {
		var got aws.CredentialsProvider
		if n := testing.AllocsPerRun(100, func() { got, _ = tt.c.credentials(tt.key, "g") }); n != 0 {
			t.Errorf("%s: %v allocations, want 0", tt.name, n)
		}
		if got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}
