package sandbox

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/bedrock-relay/bedrock-relay/iampolicy"
)

const stsNS = "https://sts.amazonaws.com/doc/2011-06-15/"

// stsForm is the query-protocol parameters: the form body, or the URL query for GET.
func stsForm(c *call) url.Values {
	v, _ := url.ParseQuery(string(c.Body))
	for k, q := range c.r.URL.Query() {
		if _, ok := v[k]; !ok {
			v[k] = q
		}
	}
	return v
}

func (s *Sandbox) serveSTS(w http.ResponseWriter, c *call) {
	form := stsForm(c)
	op := form.Get("Action")
	target := form.Get("RoleArn")
	rec := Call{Service: "sts", Operation: op, Principal: c.Principal.ARN, Target: target}
	if op == "AssumeRole" {
		rec.Session, rec.Tags = form.Get("RoleSessionName"), formTags(form)
	}
	record := func(outcome string) {
		rec.Outcome = outcome
		s.recordSTSCall(rec)
	}
	if f := s.takeFault(faultSTS, op, c.Principal.Account, c.Region, "", "", false); f != nil {
		if !sleepCtx(c.r.Context(), f.delay()) {
			return
		}
		switch {
		case f.Drop:
			record("dropped")
			dropConnection(w)
			return
		case f.Code != "":
			e := f.answer()
			record(e.Code)
			writeSTSError(w, c.ID, e)
			return
		}
	}
	var (
		out any
		err *awsError
	)
	switch op {
	case "GetCallerIdentity":
		out = s.getCallerIdentity(c)
	case "AssumeRole":
		out, err = s.assumeRole(c, form)
	case "":
		err = newError(400, "MissingAction", "Missing Action")
	default:
		err = newError(400, "InvalidAction", "Could not find operation %s for version 2011-06-15 (the sandbox emulates AssumeRole and GetCallerIdentity)", op)
	}
	if err != nil {
		record(err.Code)
		writeSTSError(w, c.ID, err)
		return
	}
	record("ok")
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", c.ID)
	b, _ := xml.Marshal(out)
	w.Write([]byte(xml.Header))
	w.Write(b)
}

// formTags are the session tags of an AssumeRole form (Tags.member.N.Key / .Value), for the calls log; nil
// for none.
func formTags(f url.Values) map[string]string {
	var tags map[string]string
	for i := 1; i <= 51; i++ {
		n := strconv.Itoa(i)
		if !f.Has("Tags.member." + n + ".Key") {
			break
		}
		if tags == nil {
			tags = map[string]string{}
		}
		tags[f.Get("Tags.member."+n+".Key")] = f.Get("Tags.member." + n + ".Value")
	}
	return tags
}

type responseMetadata struct {
	RequestID string `xml:"RequestId"`
}

type getCallerIdentityResponse struct {
	XMLName xml.Name `xml:"GetCallerIdentityResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		Arn     string `xml:"Arn"`
		UserID  string `xml:"UserId"`
		Account string `xml:"Account"`
	} `xml:"GetCallerIdentityResult"`
	Meta responseMetadata `xml:"ResponseMetadata"`
}

func (s *Sandbox) getCallerIdentity(c *call) any {
	// GetCallerIdentity needs no permission: AWS answers it even under an explicit deny.
	var out getCallerIdentityResponse
	out.Xmlns = stsNS
	out.Result.Arn, out.Result.UserID, out.Result.Account = c.Principal.ARN, c.Principal.UserID, c.Principal.Account
	out.Meta.RequestID = c.ID
	return out
}

type assumeRoleResponse struct {
	XMLName xml.Name `xml:"AssumeRoleResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		SourceIdentity  string `xml:"SourceIdentity,omitempty"`
		AssumedRoleUser struct {
			AssumedRoleID string `xml:"AssumedRoleId"`
			Arn           string `xml:"Arn"`
		} `xml:"AssumedRoleUser"`
		Credentials struct {
			AccessKeyID     string `xml:"AccessKeyId"`
			SecretAccessKey string `xml:"SecretAccessKey"`
			SessionToken    string `xml:"SessionToken"`
			Expiration      string `xml:"Expiration"`
		} `xml:"Credentials"`
		PackedPolicySize *int `xml:"PackedPolicySize,omitempty"`
	} `xml:"AssumeRoleResult"`
	Meta responseMetadata `xml:"ResponseMetadata"`
}

var (
	sessionNameRe    = regexp.MustCompile(`^[\w+=,.@-]*$`)
	externalIDRe     = regexp.MustCompile(`^[\w+=,.@:/-]*$`)
	sourceIdentityRe = regexp.MustCompile(`^[\w+=,.@-]*$`)
	tagKeyRe         = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]+$`)
	tagValueRe       = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)
	policyCharsRe    = regexp.MustCompile(`^[\t\n\r\x{20}-\x{FF}]*$`)
)

// validationErrors collects STS model constraint failures and words them as STS does:
// "1 validation error detected: Value 'x' at 'roleSessionName' failed to satisfy constraint: ...".
type validationErrors []string

func (v *validationErrors) add(value, member, constraint string) {
	*v = append(*v, "Value '"+value+"' at '"+member+"' failed to satisfy constraint: "+constraint)
}

// length checks a string member's length constraint; STS names only the bound that was crossed.
func (v *validationErrors) length(value, member string, lo, hi int) {
	switch n := len(value); {
	case n < lo:
		v.add(value, member, "Member must have length greater than or equal to "+strconv.Itoa(lo))
	case n > hi:
		v.add(value, member, "Member must have length less than or equal to "+strconv.Itoa(hi))
	}
}

func (v validationErrors) err() *awsError {
	if len(v) == 0 {
		return nil
	}
	n := strconv.Itoa(len(v)) + " validation error"
	if len(v) > 1 {
		n += "s"
	}
	return newError(400, "ValidationError", "%s", n+" detected: "+strings.Join(v, "; "))
}

func (s *Sandbox) assumeRole(c *call, f url.Values) (any, *awsError) {
	roleARN, session := f.Get("RoleArn"), f.Get("RoleSessionName")
	var v validationErrors
	if !f.Has("RoleArn") {
		v.add("null", "roleArn", "Member must not be null")
	} else {
		v.length(roleARN, "roleArn", 20, 2048)
	}
	if !f.Has("RoleSessionName") {
		v.add("null", "roleSessionName", "Member must not be null")
	} else {
		v.length(session, "roleSessionName", 2, 64)
		if !sessionNameRe.MatchString(session) {
			v.add(session, "roleSessionName", `Member must satisfy regular expression pattern: [\w+=,.@-]*`)
		}
	}
	duration := time.Hour
	if ds := f.Get("DurationSeconds"); ds != "" {
		n, err := strconv.Atoi(ds)
		switch {
		case err != nil:
			return nil, newError(400, "ValidationError", "Invalid value for parameter DurationSeconds: %q is not an integer", ds)
		case n < 900:
			v.add(ds, "durationSeconds", "Member must have value greater than or equal to 900")
		case n > 43200:
			v.add(ds, "durationSeconds", "Member must have value less than or equal to 43200")
		}
		duration = time.Duration(n) * time.Second
	}
	externalID := f.Get("ExternalId")
	if f.Has("ExternalId") {
		v.length(externalID, "externalId", 2, 1224)
		if !externalIDRe.MatchString(externalID) {
			v.add(externalID, "externalId", `Member must satisfy regular expression pattern: [\w+=,.@:\/-]*`)
		}
	}
	sourceIdentity := f.Get("SourceIdentity")
	if f.Has("SourceIdentity") {
		v.length(sourceIdentity, "sourceIdentity", 2, 64)
		if !sourceIdentityRe.MatchString(sourceIdentity) {
			v.add(sourceIdentity, "sourceIdentity", `Member must satisfy regular expression pattern: [\w+=,.@-]*`)
		}
	}
	tags := map[string]string{}
	var tagList [][2]string // as sent, for packing
	for i := 1; ; i++ {
		k := f.Get("Tags.member." + strconv.Itoa(i) + ".Key")
		if k == "" && !f.Has("Tags.member."+strconv.Itoa(i)+".Key") {
			break
		}
		val := f.Get("Tags.member." + strconv.Itoa(i) + ".Value")
		v.length(k, "tags."+strconv.Itoa(i)+".member.key", 1, 128)
		if k != "" && !tagKeyRe.MatchString(k) {
			v.add(k, "tags."+strconv.Itoa(i)+".member.key", `Member must satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]+`)
		}
		v.length(val, "tags."+strconv.Itoa(i)+".member.value", 0, 256)
		if !tagValueRe.MatchString(val) {
			v.add(val, "tags."+strconv.Itoa(i)+".member.value", `Member must satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]*`)
		}
		tags[k] = val
		tagList = append(tagList, [2]string{k, val})
		if i > 50 {
			v.add(strconv.Itoa(i), "tags", "Member must have length less than or equal to 50")
			break
		}
	}
	policy := f.Get("Policy")
	if f.Has("Policy") {
		// The plaintext limit is the model's (sessionPolicyDocumentType: 1 to 2048 characters of
		// [\u0009\u000A\u000D\u0020-\u00FF]); the packed limit below is separate.
		v.length(policy, "policy", 1, 2048)
		if !policyCharsRe.MatchString(policy) {
			v.add(policy, "policy", `Member must satisfy regular expression pattern: [\u0009\u000A\u000D\u0020-\u00FF]+`)
		}
	}
	if e := v.err(); e != nil {
		return nil, e
	}
	var sessionPolicy *iampolicy.Document
	if f.Has("Policy") {
		d, err := parsePolicy(policy)
		if err != nil {
			return nil, malformedSessionPolicy(policy)
		}
		sessionPolicy = d
	}
	packed := -1 // PackedPolicySize, reported when a policy or tags are passed
	if f.Has("Policy") || len(tagList) > 0 {
		var e *awsError
		if packed, e = packSession(policy, tagList); e != nil {
			return nil, e
		}
	}

	caller := c.Principal
	deny := newError(403, "AccessDenied", "User: %s is not authorized to perform: sts:AssumeRole on resource: %s", caller.ARN, roleARN)
	acct, _, ok := splitRoleARN(roleARN)
	if !ok {
		return nil, newError(400, "ValidationError", "%s is invalid", roleARN)
	}
	s.mu.Lock()
	r := s.roleByARN(roleARN)
	roleAcct := s.accounts[acct]
	disabled := roleAcct != nil && roleAcct.DisabledRegions[c.Region]
	callerAcct := s.accounts[caller.Account]
	lifetime := s.lifetime
	s.mu.Unlock()
	if disabled {
		// STS will not issue credentials of an account in a region the account has not enabled: 403
		// RegionDisabledException naming that account, the role's (observed: aws/aws-cdk#11474,
		// turbot/steampipe-plugin-aws#1510, org-formation/org-formation-cli#465). The caller's own account not
		// having the region is another matter: its credentials are not valid there (authenticate).
		return nil, newError(403, "RegionDisabledException", "STS is not activated in this region for account:%s. Your account administrator can activate STS in this region using the IAM Console.", acct)
	}
	if r == nil {
		return nil, deny // AWS does not reveal whether the role exists, nor that only the path is wrong
	}
	chained := caller.Role != nil
	if duration > r.MaxSession {
		return nil, newError(400, "ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
	}
	if chained && duration > time.Hour {
		return nil, newError(400, "ValidationError", "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.")
	}
	if caller.SourceIdentity != "" && sourceIdentity != "" && sourceIdentity != caller.SourceIdentity {
		return nil, newError(400, "ValidationError", "Source identity cannot be changed in a role chaining session.")
	}
	if sourceIdentity == "" {
		sourceIdentity = caller.SourceIdentity
	}

	ctx := map[string][]string{
		"aws:PrincipalArn":     {principalARNForConditions(caller)},
		"aws:PrincipalAccount": {caller.Account},
		"aws:SourceAccount":    {caller.Account},
		"aws:RequestedRegion":  {c.Region},
		"sts:RoleSessionName":  {session},
	}
	if f.Has("ExternalId") {
		ctx["sts:ExternalId"] = []string{externalID}
	}
	if sourceIdentity != "" {
		ctx["sts:SourceIdentity"] = []string{sourceIdentity}
	}
	for k, val := range tags {
		ctx["aws:RequestTag/"+k] = []string{val}
		ctx["aws:TagKeys"] = append(ctx["aws:TagKeys"], k)
	}
	var scps []*iampolicy.Document
	if callerAcct != nil {
		scps = callerAcct.SCPs
	}
	// Passing session tags or a source identity needs its own permission, from the trust policy and (across
	// accounts) the caller's identity policy, as on AWS: the seed's trust policy allows neither.
	actions := []string{"sts:AssumeRole"}
	if len(tags) > 0 {
		actions = append(actions, "sts:TagSession")
	}
	if sourceIdentity != "" {
		actions = append(actions, "sts:SetSourceIdentity")
	}
	for _, action := range actions {
		if !s.authorizeAssumeRole(caller, action, r, scps, ctx) {
			// wording: observed, for sts:AssumeRole and for sts:TagSession alike: "User:
			// arn:aws:sts::913550007193:assumed-role/stac-publish-oidc-overturemaps/GitHubActions is not
			// authorized to perform: sts:TagSession on resource: arn:aws:iam::763944545891:role/cloudfront-invalidator"
			// (OvertureMaps/stac#113; the same for an IAM user in aws-actions/configure-aws-credentials#54 and
			// 18F/identity-terraform#115, for an EKS pod role in aws/aws-cdk-cli#762). STS names the action
			// that was refused and no reason (which policy, which condition), whichever side refused.
			return nil, newError(403, "AccessDenied", "User: %s is not authorized to perform: %s on resource: %s", caller.ARN, action, roleARN)
		}
	}

	if lifetime > 0 {
		duration = lifetime
	}
	s.mu.Lock()
	// Session tags (no TransitiveTagKeys: the sandbox does not carry tags into chained sessions) become
	// part of the session: the calls log names them on its calls, and its requests carry them as
	// aws:PrincipalTag/ condition keys.
	cred := s.issue(s.sessionPrincipal(r, session, sessionPolicy, chained, sourceIdentity), duration)
	s.setSessionTags(cred.Principal.ARN, tags)
	s.mu.Unlock()

	var out assumeRoleResponse
	out.Xmlns = stsNS
	out.Result.SourceIdentity = sourceIdentity
	out.Result.AssumedRoleUser.AssumedRoleID = cred.Principal.UserID
	out.Result.AssumedRoleUser.Arn = cred.Principal.ARN
	out.Result.Credentials.AccessKeyID = cred.AccessKeyID
	out.Result.Credentials.SecretAccessKey = cred.Secret
	out.Result.Credentials.SessionToken = cred.Token
	out.Result.Credentials.Expiration = cred.Expires.UTC().Format(time.RFC3339)
	if packed >= 0 {
		out.Result.PackedPolicySize = &packed
	}
	out.Meta.RequestID = c.ID
	return out, nil
}

// principalARNForConditions is aws:PrincipalArn: for a role session, the role's ARN.
func principalARNForConditions(p *principal) string {
	if p.Role != nil {
		return p.Role.ARN
	}
	return p.ARN
}

// malformedSessionPolicy is STS's answer to a session policy it cannot read.
func malformedSessionPolicy(policy string) *awsError {
	if !json.Valid([]byte(policy)) {
		// wording: observed; amazon.aws's sts_assume_role integration test against AWS expects it for the
		// policy "invalid policy". Since late 2025 AWS has also been seen to answer the JSON parser's own
		// text ("Unexpected character ('i' (code 105)): expected a valid value ...",
		// ansible-collections/amazon.aws#2778), which the sandbox does not imitate.
		return newError(400, "MalformedPolicyDocument", "The policy is not in the valid JSON format.")
	}
	// wording: IAM's for a document that is JSON but not policy grammar (observed from IAM's PutRolePolicy and
	// CreatePolicy), not observed from STS.
	return newError(400, "MalformedPolicyDocument", "Syntax errors in policy.")
}

// packedLimit is the compressed size, in bytes, that packSession counts as 100%.
//
// AWS packs the session policy, managed policy ARNs and session tags into a binary form it does not document
// ("An AWS conversion compresses the passed inline session policy, managed policy ARNs, and session tags into
// a packed binary format that has a separate limit", STS API reference), so the sandbox's figure is an
// approximation: DEFLATE of the policy and the tags, calibrated so that a compressible policy at the 2,048
// character plaintext maximum uses a few percent (and passes), while 50 tags with random 256-character values,
// the documented maxima of count and value length, come to about 120% and fail, as AWS warns a request within
// every plaintext limit can. It is not calibrated on observed PackedPolicySize figures: AWS's packing counts
// tags far more heavily (EKS Pod Identity's six session tags alone are reported at 74%,
// aws/containers-roadmap#2413), so do not compare the sandbox's percentages with AWS's.
const packedLimit = 8192

// packSession is PackedPolicySize for an AssumeRole request: the percentage of packedLimit that the policy and
// the tags take once compressed, rounded up, or PackedPolicyTooLarge (400) past 100%.
func packSession(policy string, tags [][2]string) (int, *awsError) {
	size := func(policy string, tags [][2]string) int {
		var b bytes.Buffer
		w, _ := flate.NewWriter(&b, flate.BestCompression)
		w.Write([]byte(policy))
		for _, t := range tags {
			w.Write([]byte(t[0] + "\x00" + t[1] + "\x00"))
		}
		w.Close()
		return (b.Len()*100 + packedLimit - 1) / packedLimit
	}
	total := size(policy, tags)
	if total <= 100 {
		return total, nil
	}
	if len(tags) > 0 && (policy == "" || size("", tags) > 100) {
		// wording: observed (a CloudTrail errorMessage quoted in aws/containers-roadmap#2413).
		return 0, newError(400, "PackedPolicyTooLarge", "Packed size of session tags consumes %d%% of allotted space.", total)
	}
	// wording: from documentation (AWS Knowledge Center, "How can I avoid getting a PackedPolicyTooLarge
	// error"), not observed.
	return 0, newError(400, "PackedPolicyTooLarge", "Packed policy consumes %d%% of allotted space, please use smaller policy.", total)
}
