package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/bedrock-relay/bedrock-relay/config"
)

// Caller is an authenticated caller: the name of its key and the models the key may call.
type Caller struct {
	// Name is the key's name from the config ("" under auth: none). It is safe to log; the key is never kept.
	Name string
	all  bool
	// models are the allowed entries as written and, for those the router serves, their foundation-model ids.
	models map[string]bool
}

// Allows reports whether the caller may call a model, given as the caller named it and as the router
// resolved it (its foundation-model id).
func (c *Caller) Allows(asked, foundationModel string) bool {
	return c.all || c.models[asked] || (foundationModel != "" && c.models[foundationModel])
}

// Authenticator checks callers' API keys: sent as Bedrock bearer tokens (Authorization: Bearer <key>, what
// the SDKs send when AWS_BEARER_TOKEN_BEDROCK is set) or as OpenAI API keys, which travel the same way.
type Authenticator struct {
	none bool
	keys []storedKey
}

type storedKey struct {
	name   string
	sum    []byte
	models map[string]bool
	all    bool
}

// NewAuthenticator builds the key table of a, resolving each key's model entries (aliases, profile ids) to
// foundation-model ids with resolve (router.Router.Resolve); entries it cannot resolve are matched as written.
// A key whose sha256 is malformed (config.Validate refuses it) matches nothing and is reported to logger.
func NewAuthenticator(a config.Auth, resolve func(model string) (string, error), logger *slog.Logger) *Authenticator {
	au := &Authenticator{none: a.Mode == "none"}
	for _, k := range a.Keys {
		sum, err := hex.DecodeString(k.SHA256)
		if err != nil || len(sum) != sha256.Size {
			if logger != nil {
				logger.Warn("auth key ignored: its sha256 is not 64 hex digits", "key", k.Name)
			}
			continue
		}
		sk := storedKey{name: k.Name, sum: sum, models: map[string]bool{}}
		for _, m := range k.Models {
			if m == "*" {
				sk.all = true
				continue
			}
			sk.models[m] = true
			if resolve != nil {
				if fm, err := resolve(m); err == nil {
					sk.models[fm] = true
				}
			}
		}
		au.keys = append(au.keys, sk)
	}
	return au
}

// errNoRelayKey and errUnknownKey are the relay's answers, with AWS's code and status for a token it does not
// know, to a request without a relay key (most often one signed with AWS credentials, as a client pointed at
// Bedrock sends it) and to a key the relay does not know. They say what the endpoint expects, never which keys
// exist.
var (
	errNoRelayKey = &Error{Status: http.StatusForbidden, Code: "UnrecognizedClientException",
		Message: "The security token included in the request is invalid: this endpoint is a bedrock-relay, which takes a relay key as a bearer token, not AWS credentials. Set AWS_BEARER_TOKEN_BEDROCK to a relay key (its operator makes one with `bedrock-relay keys new NAME`)."}
	errUnknownKey = &Error{Status: http.StatusForbidden, Code: "UnrecognizedClientException",
		Message: "The security token included in the request is invalid: the relay knows no such key. Check AWS_BEARER_TOKEN_BEDROCK against a key from the relay's operator."}
)

// Authenticate finds the caller of r by its bearer key, comparing the key's SHA-256 with every stored hash in
// constant time. A missing or unknown key is a 403 UnrecognizedClientException *Error. Under auth: none every
// request is accepted as an anonymous caller allowed every model.
func (a *Authenticator) Authenticate(r *http.Request) (*Caller, error) {
	if a.none {
		return &Caller{all: true}, nil
	}
	key, ok := bearerToken(r.Header.Get("Authorization"))
	if !ok {
		return nil, errNoRelayKey
	}
	sum := sha256.Sum256([]byte(key))
	found := -1
	for i := range a.keys {
		if subtle.ConstantTimeCompare(sum[:], a.keys[i].sum) == 1 && found < 0 {
			found = i
		}
	}
	if found < 0 {
		return nil, errUnknownKey
	}
	k := a.keys[found]
	return &Caller{Name: k.name, all: k.all, models: k.models}, nil
}

func bearerToken(h string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// notAllowed is the answer for a key that may not call a model. It names the key, never the key itself.
func notAllowed(c *Caller, model string) *Error {
	return &Error{Status: http.StatusForbidden, Code: "AccessDeniedException",
		Message: fmt.Sprintf("The relay key %q is not allowed to call model %s. Add it to the key's models in the relay config.", c.Name, model)}
}
