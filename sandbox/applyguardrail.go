package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/arn"

	"github.com/bedrock-relay/bedrock-relay/catalog"
)

// ApplyGuardrail: POST /guardrail/{guardrailIdentifier}/version/{guardrailVersion}/apply with
// {source, content, outputScope}, answered with the scenario guardrail's verdict (GuardrailSpec: a word list).
//
// What is checked, in order: the path's identifier and version against the service model's patterns; IAM
// (bedrock:ApplyGuardrail on arn:aws:bedrock:REGION:ACCOUNT:guardrail/ID, an ARN naming another account
// refused as no resource-based policy allows it); the body's members (source, content blocks, qualifiers,
// outputScope) with Bedrock's validation wording; that the guardrail and version exist in the caller's
// account and the request's region; then faults (operation ApplyGuardrail). Text blocks qualified only as
// grounding_source or query feed the contextual grounding policy, which the sandbox's guardrails do not have:
// they count in guardrailCoverage's total but are not guarded. Images are accepted and counted, not guarded
// (the word list reads text only).

var (
	// The service model's patterns of the path's members.
	guardrailIdentPattern   = `(|([a-z0-9]+)|(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:guardrail/[a-z0-9]+))`
	guardrailVersionPattern = `(|([1-9][0-9]{0,7})|(DRAFT))`
	guardrailIdentRe        = regexp.MustCompile(`^` + guardrailIdentPattern + `$`)
	guardrailPathVersionRe  = regexp.MustCompile(`^` + guardrailVersionPattern + `$`)
)

// msgGuardrailNotFound is Bedrock's answer for a guardrail id or version that does not exist in the region.
// wording: observed as a ValidationException when Converse or InvokeModel name such a guardrail (reported in
// several public projects); ApplyGuardrail's code, ResourceNotFoundException, is from its declared errors, not
// observed.
const msgGuardrailNotFound = "The guardrail identifier or version provided in the request does not exist."

// splitGuardrailPath splits /guardrail/{id}/version/{version}/apply on the escaped path, so that an ARN's
// encoded slash stays inside the id; an ARN sent with a raw slash works too.
func splitGuardrailPath(escaped string) (ident, version string, ok bool) {
	rest, found := strings.CutPrefix(escaped, "/guardrail/")
	if !found {
		return "", "", false
	}
	rest, found = strings.CutSuffix(rest, "/apply")
	if !found {
		return "", "", false
	}
	i := strings.LastIndex(rest, "/version/")
	if i < 0 {
		return "", "", false
	}
	id, err1 := url.PathUnescape(rest[:i])
	v, err2 := url.PathUnescape(rest[i+len("/version/"):])
	return id, v, err1 == nil && err2 == nil
}

// guardrailRequest is an ApplyGuardrail body, checked.
type guardrailRequest struct {
	Source  string
	Guarded []string // the texts the word list reads
	Chars   int      // characters of every text block, guarded or not
	Images  int
}

func (s *Sandbox) serveApplyGuardrail(w http.ResponseWriter, c *call) {
	p := c.Principal
	ident, version, ok := splitGuardrailPath(c.r.URL.EscapedPath())
	rec := Call{Service: "bedrock", Operation: "ApplyGuardrail", Principal: p.ARN, Account: p.Account, Region: c.Region, Model: ident, RequestID: c.ID}
	fail := func(e *awsError) {
		rec.Outcome = e.Code
		s.record(rec)
		writeBedrockError(w, c.ID, e)
	}
	if !ok {
		fail(validationException("1 validation error detected: the guardrail identifier or version in the path %s is not valid percent-encoding.", c.r.URL.EscapedPath()))
		return
	}
	var v coralViolations
	if len(ident) > 2048 {
		v.add("'"+ident+"'", "guardrailIdentifier", "must have length less than or equal to 2048")
	} else if !guardrailIdentRe.MatchString(ident) {
		v.add("'"+ident+"'", "guardrailIdentifier", "must satisfy regular expression pattern: "+guardrailIdentPattern)
	}
	if !guardrailPathVersionRe.MatchString(version) {
		v.add("'"+version+"'", "guardrailVersion", "must satisfy regular expression pattern: "+guardrailVersionPattern)
	}
	if e := v.err(); e != nil {
		fail(e)
		return
	}

	id, resource := ident, guardrailARN(catalog.PartitionOf(c.Region), c.Region, p.Account, ident)
	if a, err := arn.Parse(ident); err == nil {
		id, resource = strings.TrimPrefix(a.Resource, "guardrail/"), ident
		if a.AccountID != p.Account {
			fail(accessDeniedException("User: %s is not authorized to perform: bedrock:ApplyGuardrail on resource: %s because no resource-based policy allows the bedrock:ApplyGuardrail action", p.ARN, ident))
			return
		}
	}
	if e := s.authorizeBedrock(p, "bedrock:ApplyGuardrail", resource, map[string][]string{"aws:RequestedRegion": {c.Region}}); e != nil {
		fail(e)
		return
	}
	req, e := parseApplyGuardrailBody(c.Body)
	if e != nil {
		fail(e)
		return
	}
	g := s.guardrail(p.Account, c.Region, ident, version) // the scenario does not change: no lock
	if g == nil || version == "" {
		fail(newError(http.StatusNotFound, "ResourceNotFoundException", msgGuardrailNotFound))
		return
	}
	if fault := s.takeFault(faultBedrock, "ApplyGuardrail", p.Account, c.Region, "", "", false); fault != nil {
		if fault.delay() > 0 && !sleepCtx(c.r.Context(), fault.delay()) {
			return
		}
		if fault.Drop {
			rec.Outcome = "dropped"
			s.record(rec)
			dropConnection(w)
			return
		}
		if fault.Code != "" {
			fail(fault.answer())
			return
		}
	}

	check := g.check(req.Source, req.Guarded...)
	action, reason, outputs := "NONE", "No action.", []map[string]string{}
	if check.Intervened() {
		// wording: "Guardrail blocked." as a public test quotes Bedrock's answer; "No action." not observed.
		action, reason = "GUARDRAIL_INTERVENED", "Guardrail blocked."
		outputs = []map[string]string{{"text": check.blockedText()}}
	}
	assessment := check.assessment()
	coverage := map[string]any{"textCharacters": map[string]int{"guarded": check.Chars, "total": req.Chars}}
	if req.Images > 0 {
		coverage["images"] = map[string]int{"guarded": 0, "total": req.Images}
	}
	assessment["invocationMetrics"].(map[string]any)["guardrailCoverage"] = coverage
	assessment["appliedGuardrailDetails"] = map[string]any{"guardrailId": id, "guardrailVersion": version,
		"guardrailArn": guardrailARN(catalog.PartitionOf(c.Region), c.Region, p.Account, id), "guardrailOrigin": []string{"REQUEST"}, "guardrailOwnership": "SELF"}
	body, _ := json.Marshal(map[string]any{
		"usage": check.usage(), "action": action, "actionReason": reason, "outputs": outputs,
		"assessments": []any{assessment}, "guardrailCoverage": coverage,
	})
	rec.Outcome = "ok"
	s.record(rec)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("x-amzn-RequestId", c.ID)
	w.Write(body)
}

// parseApplyGuardrailBody checks an ApplyGuardrail body against the service model: source (INPUT, OUTPUT),
// content (a list of unions: text {text, qualifiers} or image {format, source {bytes}}), outputScope
// (INTERVENTIONS, FULL); every constraint failure is reported at once, in Bedrock's wording.
func parseApplyGuardrailBody(body []byte) (guardrailRequest, *awsError) {
	var out guardrailRequest
	obj, e := decodeRequestBody(body, coralWording)
	if e != nil {
		return out, e
	}
	var v coralViolations
	raw, present := obj["source"]
	switch src, isString := decodeString(raw); {
	case !present || isNull(raw):
		v.add("null", "source", "must not be null")
	case !isString:
		return out, typeMismatch("source", "a string", raw)
	case src != "INPUT" && src != "OUTPUT":
		v.add("'"+src+"'", "source", "must satisfy enum value set: [INPUT, OUTPUT]")
	default:
		out.Source = src
	}
	if raw, ok := obj["outputScope"]; ok && !isNull(raw) {
		scope, isString := decodeString(raw)
		if !isString {
			return out, typeMismatch("outputScope", "a string", raw)
		}
		if scope != "INTERVENTIONS" && scope != "FULL" {
			v.add("'"+scope+"'", "outputScope", "must satisfy enum value set: [INTERVENTIONS, FULL]")
		}
	}
	raw, present = obj["content"]
	if !present || isNull(raw) {
		v.add("null", "content", "must not be null")
		return out, v.err()
	}
	blocks, isList := decodeArray(raw)
	if !isList {
		return out, typeMismatch("content", "a list", raw)
	}
	for i, braw := range blocks {
		at := "content." + strconv.Itoa(i+1) + ".member"
		block, isObj := decodeObject(braw)
		if !isObj {
			return out, typeMismatch(fmt.Sprintf("content[%d]", i), "a JSON object", braw)
		}
		var set []string
		for _, k := range sortedKeys(block) {
			if !isNull(block[k]) {
				set = append(set, k)
			}
		}
		if len(set) != 1 {
			// wording: not observed; the SDKs send exactly one member of a union.
			return out, validationException("Malformed request body: content[%d] must set exactly one of text and image, not %d members.", i, len(set))
		}
		switch set[0] {
		case "text":
			tb, isObj := decodeObject(block["text"])
			if !isObj {
				return out, typeMismatch(fmt.Sprintf("content[%d].text", i), "a JSON object", block["text"])
			}
			text, isString := decodeString(tb["text"])
			switch {
			case isNull(tb["text"]):
				v.add("null", at+".text.text", "must not be null")
			case !isString:
				return out, typeMismatch(fmt.Sprintf("content[%d].text.text", i), "a string", tb["text"])
			}
			guarded := true
			if qraw, ok := tb["qualifiers"]; ok && !isNull(qraw) {
				qs, isList := decodeArray(qraw)
				if !isList {
					return out, typeMismatch(fmt.Sprintf("content[%d].text.qualifiers", i), "a list", qraw)
				}
				var names []string
				for j, q := range qs {
					name, _ := decodeString(q)
					if !slices.Contains([]string{"grounding_source", "query", "guard_content"}, name) {
						v.add(quoteValue(q), at+".text.qualifiers."+strconv.Itoa(j+1)+".member", "must satisfy enum value set: [grounding_source, query, guard_content]")
					}
					names = append(names, name)
				}
				// A grounding source or query is read by the contextual grounding policy only.
				guarded = len(names) == 0 || slices.Contains(names, "guard_content")
			}
			out.Chars += len([]rune(text))
			if guarded {
				out.Guarded = append(out.Guarded, text)
			}
		case "image":
			ib, isObj := decodeObject(block["image"])
			if !isObj {
				return out, typeMismatch(fmt.Sprintf("content[%d].image", i), "a JSON object", block["image"])
			}
			format, _ := decodeString(ib["format"])
			switch {
			case isNull(ib["format"]):
				v.add("null", at+".image.format", "must not be null")
			case format != "png" && format != "jpeg":
				v.add(quoteValue(ib["format"]), at+".image.format", "must satisfy enum value set: [png, jpeg]")
			}
			src, isObj := decodeObject(ib["source"])
			data, _ := decodeString(src["bytes"])
			switch {
			case isNull(ib["source"]):
				v.add("null", at+".image.source", "must not be null")
			case !isObj:
				return out, typeMismatch(fmt.Sprintf("content[%d].image.source", i), "a JSON object", ib["source"])
			case !validBase64(data):
				v.add("''", at+".image.source.bytes", "must have length greater than or equal to 1")
			}
			out.Images++
		default:
			return out, validationException("Malformed request body: content[%d] has unknown member %q.", i, set[0]) // wording: not observed
		}
	}
	return out, v.err()
}
