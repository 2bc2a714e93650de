package sandbox

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"math/big"
	mrand "math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/bedrock-relay/bedrock-relay/catalog"
	"github.com/bedrock-relay/bedrock-relay/iampolicy"
)

// Sandbox is the emulator: an http.Handler serving STS, Bedrock Runtime, Service Quotas and the /_sandbox/
// admin API on one endpoint. All state is in memory. It is safe for concurrent use.
type Sandbox struct {
	clock   func() time.Time
	log     *slog.Logger
	catalog *catalog.Catalog

	mu          sync.Mutex
	scenario    *Scenario // as loaded; Reset returns to it
	accounts    map[string]*account
	creds       map[string]*credential // by access key id
	tokens      map[string]*principal  // bearer API keys
	lifetime    time.Duration
	strict      bool
	latency     map[string]Latency
	appProfiles map[string]ApplicationProfile
	faults      []*faultState
	rng         *mrand.Rand
	routeSeq    map[string]uint64 // round-robin over a profile's destination regions
	quotas      *quotaBook
	prompts     *promptCache // prefixes written by cache points (promptcache.go)
	stats       stats
	calls       []Call
}

// Option configures a Sandbox.
type Option func(*Sandbox)

// WithClock makes the sandbox read time from now (for tests of expiry and quota windows).
func WithClock(now func() time.Time) Option { return func(s *Sandbox) { s.clock = now } }

// WithLogger sets where the sandbox logs requests (at Debug) and problems.
func WithLogger(l *slog.Logger) Option { return func(s *Sandbox) { s.log = l } }

// WithCatalog replaces the embedded model catalogue.
func WithCatalog(c *catalog.Catalog) Option { return func(s *Sandbox) { s.catalog = c } }

// account is a scenario account in its run-time form.
type account struct {
	ID              string
	Roles           map[string]*role
	SCPs            []*iampolicy.Document
	DisabledRegions map[string]bool
	ModelAccess     map[string]bool // nil: every model enabled
}

type role struct {
	ARN, Name, ID string
	Path          string // "/" or "/team/": the ARN is arn:aws:iam::ACCOUNT:role{Path}{Name}
	Account       string
	Trust         *iampolicy.Document
	Policies      map[string]*iampolicy.Document
	MaxSession    time.Duration
}

// principal is who made a request.
type principal struct {
	Account string
	ARN     string // arn:aws:sts::A:assumed-role/R/S, arn:aws:iam::A:user/U
	UserID  string // AROA…:session, AIDA…
	Role    *role  // for role sessions
	Session string
	// Policies are the identity-based policies in force (the role's or the user's).
	Policies []*iampolicy.Document
	// SessionPolicy, if any, limits the session to the intersection.
	SessionPolicy  *iampolicy.Document
	Chained        bool // a role session that assumed this role
	SourceIdentity string
	APIKey         bool // authenticated with a Bedrock API key
}

type credential struct {
	AccessKeyID, Secret, Token string
	Principal                  *principal
	Expires                    time.Time // zero: never
}

// New builds a sandbox playing sc (nil: DefaultScenario).
func New(sc *Scenario, opts ...Option) (*Sandbox, error) {
	if sc == nil {
		sc = DefaultScenario()
	}
	if err := sc.Validate(); err != nil {
		return nil, err
	}
	s := &Sandbox{clock: time.Now, log: slog.New(slog.DiscardHandler), catalog: catalog.Default()}
	for _, o := range opts {
		o(s)
	}
	s.scenario = sc
	if err := s.load(sc); err != nil {
		return nil, err
	}
	return s, nil
}

// load (re)builds all state from the scenario. Callers hold s.mu or own s exclusively.
func (s *Sandbox) load(sc *Scenario) error {
	s.accounts = map[string]*account{}
	s.creds = map[string]*credential{}
	s.tokens = map[string]*principal{}
	s.lifetime = time.Duration(sc.CredentialLifetimeSeconds) * time.Second
	s.strict = sc.Strict
	s.latency = map[string]Latency{}
	for k, v := range sc.Latency {
		s.latency[k] = v
	}
	s.appProfiles = map[string]ApplicationProfile{}
	for _, ap := range sc.ApplicationProfiles {
		s.appProfiles[ap.ARN] = ap
	}
	s.faults = nil
	s.rng = mrand.New(mrand.NewPCG(1, 2))
	s.routeSeq = map[string]uint64{}
	s.quotas = newQuotaBook()
	s.prompts = newPromptCache()
	s.stats = newStats()
	s.calls = nil
	for id, spec := range sc.Accounts {
		a := &account{ID: id, Roles: map[string]*role{}, DisabledRegions: map[string]bool{}}
		for name, rs := range spec.Roles {
			path := rs.Path
			if path == "" {
				path = "/"
			}
			r := &role{ARN: "arn:aws:iam::" + id + ":role" + path + name, Name: name, Path: path, Account: id,
				ID: "AROA" + pseudoID(id+name, 17), Policies: map[string]*iampolicy.Document{}, MaxSession: time.Hour}
			if rs.MaxSessionDurationSeconds > 0 {
				r.MaxSession = time.Duration(rs.MaxSessionDurationSeconds) * time.Second
			}
			var err error
			if r.Trust, err = parsePolicy(string(rs.Trust)); err != nil {
				return fmt.Errorf("role %s trust policy: %w", r.ARN, err)
			}
			for pn, p := range rs.Policies {
				if r.Policies[pn], err = parsePolicy(string(p)); err != nil {
					return fmt.Errorf("role %s policy %s: %w", r.ARN, pn, err)
				}
			}
			a.Roles[name] = r
		}
		for name, us := range spec.Users {
			p := &principal{Account: id, ARN: "arn:aws:iam::" + id + ":user/" + name, UserID: "AIDA" + pseudoID(id+name, 17)}
			for _, pt := range sortedPolicyTexts(us.Policies) {
				d, err := parsePolicy(string(pt))
				if err != nil {
					return fmt.Errorf("user %s: %w", p.ARN, err)
				}
				p.Policies = append(p.Policies, d)
			}
			s.creds[us.AccessKeyID] = &credential{AccessKeyID: us.AccessKeyID, Secret: us.SecretAccessKey, Principal: p}
		}
		for _, k := range spec.APIKeys {
			s.tokens[k] = &principal{Account: id, ARN: "arn:aws:iam::" + id + ":user/BedrockAPIKey-" + pseudoID(k, 6), UserID: "AIDA" + pseudoID(k, 17), APIKey: true}
		}
		for _, p := range spec.SCPs {
			d, err := parsePolicy(string(p))
			if err != nil {
				return fmt.Errorf("account %s SCP: %w", id, err)
			}
			a.SCPs = append(a.SCPs, d)
		}
		for _, r := range spec.DisabledRegions {
			a.DisabledRegions[r] = true
		}
		if len(spec.ModelAccess) > 0 {
			a.ModelAccess = map[string]bool{}
			for _, m := range spec.ModelAccess {
				a.ModelAccess[m] = true
			}
		}
		for _, q := range spec.Quotas {
			s.quotas.set(id, q.Region, s.quotaModelKey(q.Model), Quota{q.RequestsPerMinute, q.TokensPerMinute, q.TokensPerDay})
		}
		s.accounts[id] = a
	}
	if c := sc.Caller; c.RoleARN != "" {
		r := s.roleByARN(c.RoleARN)
		if r == nil {
			return fmt.Errorf("caller.role_arn %s: no such role in the scenario's accounts%s", c.RoleARN, s.pathHint(c.RoleARN))
		}
		session := c.SessionName
		if session == "" {
			session = callerSessionNm
		}
		s.creds[c.AccessKeyID] = &credential{AccessKeyID: c.AccessKeyID, Secret: c.SecretAccessKey, Token: c.SessionToken,
			Principal: s.sessionPrincipal(r, session, nil, false, "")}
	}
	return nil
}

func sortedPolicyTexts(m map[string]PolicyText) []PolicyText {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]PolicyText, len(names))
	for i, n := range names {
		out[i] = m[n]
	}
	return out
}

// role is the role of an account by name, whatever its path. Callers hold s.mu.
func (s *Sandbox) role(acct, name string) *role {
	a := s.accounts[acct]
	if a == nil {
		return nil
	}
	return a.Roles[name]
}

// noRole is the error for an ARN that names no scenario role. Callers hold s.mu.
func (s *Sandbox) noRole(arn string) error {
	return fmt.Errorf("sandbox: no role %s in the scenario%s", arn, s.pathHint(arn))
}

// pathHint gives the ARN of the role an ARN names but for its path, for errors. Callers hold s.mu.
func (s *Sandbox) pathHint(arn string) string {
	if acct, name, ok := splitRoleARN(arn); ok {
		if r := s.role(acct, name); r != nil {
			return fmt.Sprintf(" (the role %s is %s)", name, r.ARN)
		}
	}
	return ""
}

// roleByARN is the role an ARN names, path included: arn:aws:iam::A:role/x does not name the role x at path
// /team/, whose ARN is arn:aws:iam::A:role/team/x, as on AWS. Callers hold s.mu.
func (s *Sandbox) roleByARN(arn string) *role {
	acct, name, ok := splitRoleARN(arn)
	if !ok {
		return nil
	}
	if r := s.role(acct, name); r != nil && r.ARN == arn {
		return r
	}
	return nil
}

func (s *Sandbox) sessionPrincipal(r *role, session string, sessionPolicy *iampolicy.Document, chained bool, sourceIdentity string) *principal {
	p := &principal{Account: r.Account, ARN: "arn:aws:sts::" + r.Account + ":assumed-role/" + r.Name + "/" + session,
		UserID: r.ID + ":" + session, Role: r, Session: session, SessionPolicy: sessionPolicy, Chained: chained, SourceIdentity: sourceIdentity}
	for _, name := range sortedNames(r.Policies) {
		p.Policies = append(p.Policies, r.Policies[name])
	}
	return p
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// pseudoID derives a stable upper-case id of n characters from seed, for role and user ids.
func pseudoID(seed string, n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	var h uint64 = 1469598103934665603
	out := make([]byte, n)
	for i := range out {
		for _, c := range []byte(seed) {
			h ^= uint64(c)
			h *= 1099511628211
		}
		h ^= uint64(i)
		h *= 1099511628211
		out[i] = alphabet[h%32]
	}
	return string(out)
}

// randomString returns n characters from alphabet, from crypto/rand: issued secrets must not be guessable
// even in a sandbox, since its endpoint may be reachable by other local users.
func randomString(n int, alphabet string) string {
	out := make([]byte, n)
	max := big.NewInt(int64(len(alphabet)))
	for i := range out {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic(err)
		}
		out[i] = alphabet[v.Int64()]
	}
	return string(out)
}

func newRequestID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// issue creates session credentials for p valid for d.
func (s *Sandbox) issue(p *principal, d time.Duration) *credential {
	c := &credential{
		AccessKeyID: "ASIA" + randomString(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"),
		Secret:      randomString(40, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"),
		Token:       "IQoJb3JpZ2luX2VjE" + base64.RawStdEncoding.EncodeToString([]byte(randomString(96, "abcdefghijklmnopqrstuvwxyz0123456789"))),
		Principal:   p,
		Expires:     s.clock().Add(d).Truncate(time.Second),
	}
	s.creds[c.AccessKeyID] = c
	return c
}

// CallerCredentials are the scenario's caller session (the seed's Lambda execution role): what
// `bedrock-relay sandbox env` exports. They do not expire.
func (s *Sandbox) CallerCredentials() aws.Credentials {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.scenario.Caller
	return aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken, Source: "bedrock-relay sandbox"}
}

// Scenario returns the scenario the sandbox was built from (not a copy: do not modify).
func (s *Sandbox) Scenario() *Scenario { return s.scenario }

// SessionFor issues credentials for a session of any scenario role, as if obtained out of band (an
// administrator's console session): for tests that start from a given role.
func (s *Sandbox) SessionFor(roleARN, sessionName string, d time.Duration) (aws.Credentials, error) {
	if _, _, ok := splitRoleARN(roleARN); !ok {
		return aws.Credentials{}, fmt.Errorf("sandbox: %q is not a role ARN", roleARN)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.roleByARN(roleARN)
	if r == nil {
		return aws.Credentials{}, s.noRole(roleARN)
	}
	c := s.issue(s.sessionPrincipal(r, sessionName, nil, false, ""), d)
	return aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.Secret, SessionToken: c.Token, CanExpire: true, Expires: c.Expires}, nil
}

// SetCredentialLifetime makes sessions issued from now on by AssumeRole expire after d, whatever
// DurationSeconds asked for. Zero restores the requested durations.
func (s *Sandbox) SetCredentialLifetime(d time.Duration) {
	s.mu.Lock()
	s.lifetime = d
	s.mu.Unlock()
}

// ExpireSessions makes every issued session of roleARN (or of every role, for "") expire now.
func (s *Sandbox) ExpireSessions(roleARN string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	for _, c := range s.creds {
		if c.Principal.Role != nil && (roleARN == "" || c.Principal.Role.ARN == roleARN) && c.AccessKeyID != s.scenario.Caller.AccessKeyID {
			c.Expires = now.Add(-time.Second)
		}
	}
}

// ForgetSessions forgets every session issued so far by AssumeRole or SessionFor, as a restart of STS's and
// Bedrock's view of them would: a request signed with one gets the answer AWS gives an unknown access key
// (Bedrock: UnrecognizedClientException, STS: InvalidClientTokenId, both 403 "The security token included in
// the request is invalid."), and sessions assumed afterwards work. Unlike Reset it keeps everything else:
// faults, quotas and their windows, knob changes, counters. The scenario's caller session, users' keys and
// API keys are configuration, not issued sessions, and stay valid.
func (s *Sandbox) ForgetSessions() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, c := range s.creds {
		if c.Principal.Role != nil && id != s.scenario.Caller.AccessKeyID {
			delete(s.creds, id)
		}
	}
}

// SetStrict turns strict profile authorization on or off (see Scenario.Strict).
func (s *Sandbox) SetStrict(on bool) {
	s.mu.Lock()
	s.strict = on
	s.mu.Unlock()
}

// SetLatency sets a model's pace; model is a foundation-model id or "*".
func (s *Sandbox) SetLatency(model string, l Latency) {
	s.mu.Lock()
	s.latency[model] = l
	s.mu.Unlock()
}

// SetTrustPolicy replaces a role's trust policy (JSON).
func (s *Sandbox) SetTrustPolicy(roleARN, doc string) error {
	return s.editRole(roleARN, func(r *role) error {
		d, err := parsePolicy(doc)
		if err != nil {
			return err
		}
		r.Trust = d
		return nil
	})
}

// SetRolePolicy adds or replaces an inline policy of a role; an empty doc deletes it.
func (s *Sandbox) SetRolePolicy(roleARN, name, doc string) error {
	return s.editRole(roleARN, func(r *role) error {
		if doc == "" {
			delete(r.Policies, name)
			return nil
		}
		d, err := parsePolicy(doc)
		if err != nil {
			return err
		}
		r.Policies[name] = d
		return nil
	})
}

func (s *Sandbox) editRole(roleARN string, f func(*role) error) error {
	if _, _, ok := splitRoleARN(roleARN); !ok {
		return fmt.Errorf("sandbox: %q is not a role ARN", roleARN)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.roleByARN(roleARN)
	if r == nil {
		return s.noRole(roleARN)
	}
	if err := f(r); err != nil {
		return fmt.Errorf("sandbox: role %s: %w", roleARN, err)
	}
	// Sessions see their role's policies as they are now, as on AWS.
	for _, c := range s.creds {
		if c.Principal.Role == r {
			c.Principal.Policies = c.Principal.Policies[:0:0]
			for _, n := range sortedNames(r.Policies) {
				c.Principal.Policies = append(c.Principal.Policies, r.Policies[n])
			}
		}
	}
	return nil
}

// SetSCP replaces an account's service control policies (JSON documents); none clears them.
func (s *Sandbox) SetSCP(acct string, docs ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[acct]
	if a == nil {
		return fmt.Errorf("sandbox: no account %s", acct)
	}
	var out []*iampolicy.Document
	for _, d := range docs {
		p, err := parsePolicy(d)
		if err != nil {
			return fmt.Errorf("sandbox: SCP for %s: %w", acct, err)
		}
		out = append(out, p)
	}
	a.SCPs = out
	return nil
}

// SetModelAccess enables or disables a foundation model in an account. Enabling every model again: "*".
func (s *Sandbox) SetModelAccess(acct, modelID string, enabled bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[acct]
	if a == nil {
		return fmt.Errorf("sandbox: no account %s", acct)
	}
	if modelID == "*" {
		a.ModelAccess = nil
		return nil
	}
	if a.ModelAccess == nil {
		a.ModelAccess = map[string]bool{}
		for _, m := range s.catalog.Models {
			a.ModelAccess[m.ID] = true
		}
	}
	a.ModelAccess[modelID] = enabled
	return nil
}

// SetRegionEnabled enables or disables an opt-in region for an account.
func (s *Sandbox) SetRegionEnabled(acct, region string, enabled bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[acct]
	if a == nil {
		return fmt.Errorf("sandbox: no account %s", acct)
	}
	a.DisabledRegions[region] = !enabled
	return nil
}

// SetQuota sets an account's quota for a model (see QuotaSpec for what model names) in every region.
func (s *Sandbox) SetQuota(acct, model string, q Quota) {
	s.SetRegionQuota(acct, "", model, q)
}

// SetRegionQuota sets an account's quota for a model in one region ("" for every region).
func (s *Sandbox) SetRegionQuota(acct, region, model string, q Quota) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.quotas.set(acct, region, s.quotaModelKey(model), q)
}

// Reset returns the sandbox to its scenario: issued sessions, counters, quota windows, faults and knob
// changes are dropped. The caller's session stays valid.
//
// Like ForgetSessions, it makes every session issued by AssumeRole or SessionFor an unknown key; use
// ForgetSessions to do that alone.
func (s *Sandbox) Reset() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.load(s.scenario)
}

// ServeHTTP dispatches to the admin API or, by the request's SigV4 service and shape, to STS, Bedrock
// Runtime or Service Quotas.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_sandbox/") || r.URL.Path == "/_sandbox" {
		s.serveAdmin(w, r)
		return
	}
	if isControlPlane(r) { // Bedrock's control plane signs as "bedrock" too: told apart by path (controlplane.go)
		s.serveControlPlane(w, r)
		return
	}
	if isRuntimeOperation(r) { // ApplyGuardrail and the async-invoke operations, by path (runtimeops.go)
		s.serveRuntimeOperation(w, r)
		return
	}
	s.serveAWS(w, r)
}
