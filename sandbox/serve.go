package sandbox

import (
	"crypto/subtle"
	"io"
	"net/http"
	"strings"
	"time"
)

// maxBody is Bedrock's request size limit (25,000,000 bytes); the other services take far less.
const maxBody = 25_000_000

type service int

const (
	serviceUnknown service = iota
	serviceSTS
	serviceBedrock
	serviceQuotas
)

// call is one authenticated AWS request being served.
type call struct {
	ID        string
	Service   service
	Principal *principal
	Region    string
	Body      []byte
	r         *http.Request
}

func (s *Sandbox) serveAWS(w http.ResponseWriter, r *http.Request) {
	reqID := newRequestID()
	svc := guessService(r)
	fail := func(e *awsError) { writeError(w, svc, reqID, e) }

	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		fail(newError(400, "ValidationException", "could not read the request body: %v", err))
		return
	}
	if len(body) > maxBody {
		fail(newError(413, "ValidationException", "Input is too long for requested model. The request body is over %d bytes.", maxBody))
		return
	}

	c := &call{ID: reqID, Service: svc, Body: body, r: r}
	if e := s.authenticate(c); e != nil {
		writeError(w, c.Service, reqID, e)
		s.record(Call{Service: c.Service.String(), Operation: operationName(c), Outcome: e.Code, Region: c.Region, Account: s.accountOfKey(c.r)})
		return
	}
	switch c.Service {
	case serviceSTS:
		s.serveSTS(w, c)
	case serviceBedrock:
		s.serveBedrock(w, c)
	case serviceQuotas:
		s.serveServiceQuotas(w, c)
	default:
		fail(newError(400, "UnknownOperationException", "The sandbox does not emulate this service or operation (%s %s).", r.Method, r.URL.Path))
	}
}

func (sv service) String() string {
	switch sv {
	case serviceSTS:
		return "sts"
	case serviceBedrock:
		return "bedrock"
	case serviceQuotas:
		return "servicequotas"
	}
	return "unknown"
}

// guessService tells the service from the SigV4 scope, falling back to the request's shape.
func guessService(r *http.Request) service {
	if a, ok := parseSigV4(r.Header.Get("Authorization")); ok {
		switch a.Service {
		case "sts":
			return serviceSTS
		case "bedrock":
			return serviceBedrock
		case "servicequotas":
			return serviceQuotas
		}
		return serviceUnknown
	}
	switch {
	case strings.HasPrefix(r.URL.Path, "/model/"):
		return serviceBedrock
	case strings.HasPrefix(r.Header.Get("X-Amz-Target"), "ServiceQuotasV20190624."):
		return serviceQuotas
	case r.URL.Path == "/" && (r.Method == http.MethodPost || r.URL.Query().Get("Action") != ""):
		return serviceSTS
	}
	return serviceUnknown
}

func writeError(w http.ResponseWriter, svc service, reqID string, e *awsError) {
	switch svc {
	case serviceSTS:
		writeSTSError(w, reqID, e)
	case serviceQuotas:
		writeJSON11Error(w, reqID, e)
	default:
		writeBedrockError(w, reqID, e)
	}
}

const (
	msgInvalidToken = "The security token included in the request is invalid."
	msgBadSignature = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	msgExpired      = "The security token included in the request is expired"
)

// authenticate finds the principal behind c's SigV4 signature or Bedrock API key, or says why not, in the
// words of c's service.
func (s *Sandbox) authenticate(c *call) *awsError {
	r := c.r
	authz := r.Header.Get("Authorization")
	if tok, ok := strings.CutPrefix(authz, "Bearer "); ok {
		if c.Service != serviceBedrock {
			return newError(403, "IncompleteSignature", "Bearer tokens are only accepted by Bedrock Runtime.")
		}
		c.Region = regionFromHost(r.Host)
		s.mu.Lock()
		if c.Region == "" {
			c.Region = s.scenario.DefaultRegion
		}
		var p *principal
		for k, v := range s.tokens { // constant-time per key so timing does not reveal a prefix
			if subtle.ConstantTimeCompare([]byte(k), []byte(tok)) == 1 {
				p = v
			}
		}
		s.mu.Unlock()
		if p == nil || !partitionKnows(p, c.Region) {
			return newError(403, "UnrecognizedClientException", "Invalid API Key format: Must start with pre-defined prefix or be a valid Bedrock API key.")
		}
		c.Principal = p
		return s.regionEnabled(c)
	}
	a, ok := parseSigV4(authz)
	if !ok {
		if authz == "" {
			switch c.Service {
			case serviceSTS:
				return newError(403, "MissingAuthenticationToken", "Request is missing Authentication Token")
			default:
				return newError(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
			}
		}
		return newError(403, "IncompleteSignature", "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters (AWS4-HMAC-SHA256 only).")
	}
	c.Region = a.Region
	invalid, badSig, expired := "UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException"
	if c.Service == serviceSTS {
		// Expired credentials are ExpiredToken with status 403 from STS too (aws/aws-sdk-java-v2#1649,
		// pulumi/pulumi-aws#2560). The 400 ExpiredTokenException of STS's model is another error: an expired
		// web identity token passed to AssumeRoleWithWebIdentity.
		invalid, badSig, expired = "InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken"
	}
	s.mu.Lock()
	cred := s.creds[a.AccessKeyID]
	now := s.clock()
	s.mu.Unlock()
	if cred == nil || !partitionKnows(cred.Principal, c.Region) {
		return newError(403, invalid, msgInvalidToken)
	}
	token := r.Header.Get("X-Amz-Security-Token")
	if cred.Token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(cred.Token)) != 1 {
		return newError(403, invalid, msgInvalidToken)
	}
	if ok, _ := verifySigV4(r, c.Body, a, cred.Secret, token); !ok {
		return newError(403, badSig, msgBadSignature)
	}
	if t, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date")); err == nil {
		if d := now.Sub(t); d > 15*time.Minute || d < -15*time.Minute {
			return newError(403, badSig, "Signature expired: %s is now earlier than %s (%s - 15 min.)",
				t.Format("20060102T150405Z"), now.Add(-15*time.Minute).UTC().Format("20060102T150405Z"), now.UTC().Format("20060102T150405Z"))
		}
	}
	if !cred.Expires.IsZero() && !now.Before(cred.Expires) {
		return newError(403, expired, msgExpired)
	}
	c.Principal = cred.Principal
	return s.regionEnabled(c)
}

// regionEnabled fails the call as AWS does when the account has not enabled an opt-in region: its tokens
// are not valid there.
func (s *Sandbox) regionEnabled(c *call) *awsError {
	s.mu.Lock()
	a := s.accounts[c.Principal.Account]
	disabled := a != nil && a.DisabledRegions[c.Region]
	s.mu.Unlock()
	if !disabled {
		return nil
	}
	if c.Service == serviceSTS {
		return newError(403, "InvalidClientTokenId", msgInvalidToken)
	}
	return newError(403, "UnrecognizedClientException", msgInvalidToken)
}

// regionFromHost reads the region of bedrock-runtime.REGION.amazonaws.com style hosts.
func regionFromHost(host string) string {
	host, _, _ = strings.Cut(host, ":")
	parts := strings.Split(host, ".")
	for i, p := range parts {
		if strings.HasPrefix(p, "bedrock-runtime") && i+1 < len(parts) && regionRe.MatchString(parts[i+1]) {
			return parts[i+1]
		}
	}
	return ""
}

func operationName(c *call) string {
	switch c.Service {
	case serviceSTS:
		return stsForm(c).Get("Action")
	case serviceBedrock:
		_, op, _ := splitModelPath(c.r)
		return op
	case serviceQuotas:
		_, op, _ := strings.Cut(c.r.Header.Get("X-Amz-Target"), ".")
		return op
	}
	return ""
}

// accountOfKey is the account of the access key a refused request was signed with, so that refusals such as
// ExpiredTokenException are counted against the account whose session expired.
func (s *Sandbox) accountOfKey(r *http.Request) string {
	a, ok := parseSigV4(r.Header.Get("Authorization"))
	if !ok {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.creds[a.AccessKeyID]; c != nil {
		return c.Principal.Account
	}
	return ""
}
