package sandbox

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bedrock-relay/bedrock-relay/catalog"
)

// The Bedrock control plane's read-only model operations, the ones clients make at start (Claude Code in
// Bedrock mode lists inference profiles before its first request):
//
//	GET /inference-profiles                            ListInferenceProfiles (type, maxResults, nextToken)
//	GET /inference-profiles/{inferenceProfileIdentifier} GetInferenceProfile (id or ARN)
//	GET /foundation-models                             ListFoundationModels (byProvider, byOutputModality,
//	                                                   byInferenceType, byCustomizationType)
//	GET /foundation-models/{modelIdentifier}           GetFoundationModel (id or ARN)
//
// They sign with the service "bedrock" as Bedrock Runtime does, so the sandbox tells them apart by path. What
// they answer is the calling account's view in the request's region: the catalogue's system profiles whose
// geography has that region as a source region, the scenario's application profiles of that account and
// region, and the foundation models offered there (on demand or through a profile) that the account has
// access to (Scenario.ModelAccess). Unlike AWS, which lists every model of the region and reports access
// separately, a model without access is not listed and not found, so that a client choosing from the list
// picks one it can call. Each operation is authorized with IAM as AWS does (bedrock:ListInferenceProfiles and
// bedrock:ListFoundationModels on "*", bedrock:GetInferenceProfile on the profile's ARN,
// bedrock:GetFoundationModel on the foundation-model ARN in the region); Bedrock API keys may call them.
// Faults (AddFault) do not apply to them.

// controlPlaneOps names the operations by collection; a collection path with an id is its Get.
var controlPlaneOps = map[string]struct{ list, get, listAction, getAction string }{
	"inference-profiles": {"ListInferenceProfiles", "GetInferenceProfile", "bedrock:ListInferenceProfiles", "bedrock:GetInferenceProfile"},
	"foundation-models":  {"ListFoundationModels", "GetFoundationModel", "bedrock:ListFoundationModels", "bedrock:GetFoundationModel"},
}

// controlPlaneEpoch is the createdAt and updatedAt of every system profile: a fixed time, so that answers are
// deterministic (AWS gives each profile the date it was launched).
var controlPlaneEpoch = time.Date(2024, time.August, 27, 0, 0, 0, 0, time.UTC)

// maxPage is the largest maxResults the control plane takes, and the page size without one.
const maxPage = 1000

// isControlPlane reports whether r is addressed to the control plane: its path is one of the control-plane
// collections, and it is a Bedrock request (SigV4 for the service "bedrock", or a bearer API key).
func isControlPlane(r *http.Request) bool {
	first, _, _ := strings.Cut(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/")
	if _, ok := controlPlaneOps[first]; !ok {
		return false
	}
	if a, ok := parseSigV4(r.Header.Get("Authorization")); ok {
		return a.Service == "bedrock"
	}
	return true
}

// splitControlPlanePath splits /{collection}[/{id}] on the escaped path, so that an ARN's encoded slash stays
// inside the id; an ARN sent with raw slashes works too.
func splitControlPlanePath(r *http.Request) (collection, id string, hasID bool, err error) {
	rest := strings.TrimPrefix(r.URL.EscapedPath(), "/")
	collection, escID, hasID := strings.Cut(rest, "/")
	id, err = url.PathUnescape(escID)
	return collection, id, hasID, err
}

func (s *Sandbox) serveControlPlane(w http.ResponseWriter, r *http.Request) {
	reqID := newRequestID()
	collection, id, hasID, perr := splitControlPlanePath(r)
	spec := controlPlaneOps[collection]
	op := spec.list
	if hasID {
		op = spec.get
	}
	rec := Call{Service: "bedrock", Operation: op, Model: id, RequestID: reqID}
	fail := func(e *awsError) {
		rec.Outcome = e.Code
		s.record(rec)
		writeBedrockError(w, reqID, e)
	}
	if r.Method != http.MethodGet {
		fail(newError(http.StatusMethodNotAllowed, "UnknownOperationException",
			"The sandbox emulates only the control plane's reads: GET /inference-profiles, GET /inference-profiles/{id}, GET /foundation-models and GET /foundation-models/{id}; not %s %s.", r.Method, r.URL.Path))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		fail(validationException("could not read the request body"))
		return
	}
	c := &call{ID: reqID, Service: serviceBedrock, Body: body, r: r}
	if e := s.authenticate(c); e != nil {
		rec.Region, rec.Account = c.Region, s.accountOfKey(r)
		fail(e)
		return
	}
	if c.Principal.APIKey {
		// authenticate reads the region of bedrock-runtime hosts; the control plane's are bedrock.REGION.
		if region := controlPlaneRegion(r.Host); region != "" && region != c.Region {
			c.Region = region
			if e := s.regionEnabled(c); e != nil {
				fail(e)
				return
			}
		}
	}
	p := c.Principal
	rec.Principal, rec.Account, rec.Region = p.ARN, p.Account, c.Region
	ctx := map[string][]string{"aws:RequestedRegion": {c.Region}}

	var out any
	switch {
	case perr != nil || (hasID && id == ""):
		fail(validationException("1 validation error detected: the identifier in the path %s is empty or not valid percent-encoding.", r.URL.EscapedPath()))
		return
	case !hasID:
		if e := s.authorizeBedrock(p, spec.listAction, "*", ctx); e != nil {
			fail(e)
			return
		}
		var e *awsError
		if collection == "inference-profiles" {
			out, e = s.listInferenceProfiles(p, c.Region, r.URL.Query())
		} else {
			out, e = s.listFoundationModels(p, c.Region, r.URL.Query())
		}
		if e != nil {
			fail(e)
			return
		}
	case collection == "inference-profiles":
		prof, arn, e := s.findInferenceProfile(p, c.Region, id)
		if e == nil {
			e = s.authorizeBedrock(p, spec.getAction, arn, ctx)
		}
		if e == nil && prof == nil {
			e = newError(http.StatusNotFound, "ResourceNotFoundException", "The inference profile %s was not found in %s.", id, c.Region)
		}
		if e != nil {
			fail(e)
			return
		}
		out = prof
	default:
		m, arn, e := s.findFoundationModel(p, c.Region, id)
		if e == nil {
			e = s.authorizeBedrock(p, spec.getAction, arn, ctx)
		}
		if e == nil && m == nil {
			e = newError(http.StatusNotFound, "ResourceNotFoundException", "Could not resolve the foundation model from the provided model identifier.")
		}
		if e != nil {
			fail(e)
			return
		}
		out = struct {
			ModelDetails *foundationModel `json:"modelDetails"`
		}{m}
	}
	rec.Outcome = "ok"
	s.record(rec)
	b, _ := json.Marshal(out)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("x-amzn-RequestId", reqID)
	w.Write(b)
}

// controlPlaneRegion reads the region of bedrock.REGION.amazonaws.com style hosts.
func controlPlaneRegion(host string) string {
	host, _, _ = strings.Cut(host, ":")
	parts := strings.Split(host, ".")
	for i, p := range parts {
		if p == "bedrock" && i+1 < len(parts) && regionRe.MatchString(parts[i+1]) {
			return parts[i+1]
		}
	}
	return ""
}

// inferenceProfile is InferenceProfileSummary and GetInferenceProfileResponse of Bedrock's service model.
type inferenceProfile struct {
	InferenceProfileName string         `json:"inferenceProfileName"`
	Description          string         `json:"description,omitempty"`
	CreatedAt            time.Time      `json:"createdAt"`
	UpdatedAt            time.Time      `json:"updatedAt"`
	InferenceProfileArn  string         `json:"inferenceProfileArn"`
	Models               []profileModel `json:"models"`
	InferenceProfileId   string         `json:"inferenceProfileId"`
	Status               string         `json:"status"`
	Type                 string         `json:"type"`
}

type profileModel struct {
	ModelArn string `json:"modelArn"`
}

// foundationModel is FoundationModelSummary and FoundationModelDetails of Bedrock's service model.
type foundationModel struct {
	ModelArn                   string   `json:"modelArn"`
	ModelId                    string   `json:"modelId"`
	ModelName                  string   `json:"modelName"`
	ProviderName               string   `json:"providerName"`
	InputModalities            []string `json:"inputModalities"`
	OutputModalities           []string `json:"outputModalities"`
	ResponseStreamingSupported bool     `json:"responseStreamingSupported"`
	CustomizationsSupported    []string `json:"customizationsSupported"`
	InferenceTypesSupported    []string `json:"inferenceTypesSupported"`
	ModelLifecycle             struct {
		Status string `json:"status"`
	} `json:"modelLifecycle"`
}

// systemProfiles are the catalogue's system profiles callable from region, sorted by id, with ARNs in acct.
func (s *Sandbox) systemProfiles(acct, region string) []*inferenceProfile {
	partition := catalog.PartitionOf(region)
	var out []*inferenceProfile
	for _, m := range s.catalog.Models {
		for _, prefix := range s.catalog.Prefixes() {
			if _, ok := m.Profiles[prefix]; !ok {
				continue
			}
			prof, err := s.catalog.Profile(prefix + "." + m.ID)
			if err != nil || !slices.Contains(prof.Geography.SourceRegions, region) {
				continue
			}
			out = append(out, &inferenceProfile{
				InferenceProfileName: strings.ToUpper(prefix) + " " + m.Name,
				Description:          "Routes requests to " + m.Name + " in " + strings.Join(prof.DestinationRegions, ", ") + ".",
				CreatedAt:            controlPlaneEpoch, UpdatedAt: controlPlaneEpoch,
				InferenceProfileArn: catalog.InferenceProfileARN(partition, region, acct, prof.ID),
				Models:              destinationModels(partition, m.ID, prof.DestinationRegions),
				InferenceProfileId:  prof.ID, Status: "ACTIVE", Type: "SYSTEM_DEFINED",
			})
		}
	}
	slices.SortFunc(out, func(a, b *inferenceProfile) int { return strings.Compare(a.InferenceProfileId, b.InferenceProfileId) })
	return out
}

func destinationModels(partition, modelID string, regions []string) []profileModel {
	out := make([]profileModel, len(regions))
	for i, r := range regions {
		out[i] = profileModel{ModelArn: catalog.FoundationModelARN(partition, r, modelID)}
	}
	return out
}

// applicationProfiles are the scenario's application profiles of acct in region, sorted by ARN.
func (s *Sandbox) applicationProfiles(acct, region string) []*inferenceProfile {
	s.mu.Lock()
	aps := make([]ApplicationProfile, 0, len(s.appProfiles))
	for _, ap := range s.appProfiles {
		aps = append(aps, ap)
	}
	s.mu.Unlock()
	slices.SortFunc(aps, func(a, b ApplicationProfile) int { return strings.Compare(a.ARN, b.ARN) })
	partition := catalog.PartitionOf(region)
	var out []*inferenceProfile
	for _, ap := range aps {
		ref, err := catalog.ParseRef(ap.ARN)
		if err != nil || ref.Account != acct || ref.Region != region {
			continue
		}
		var models []profileModel
		if from, err := catalog.ParseRef(ap.CopyFrom); err == nil {
			switch from.Kind {
			case catalog.KindSystemProfile:
				if prof, err := s.catalog.Profile(from.ID); err == nil {
					models = destinationModels(partition, prof.Model.ID, prof.DestinationRegions)
				}
			case catalog.KindFoundationModel:
				models = destinationModels(partition, from.ID, []string{region})
			}
		}
		out = append(out, &inferenceProfile{
			InferenceProfileName: ref.ID, Description: "Copied from " + ap.CopyFrom + ".",
			CreatedAt: controlPlaneEpoch, UpdatedAt: controlPlaneEpoch,
			InferenceProfileArn: ap.ARN, Models: models, InferenceProfileId: ref.ID, Status: "ACTIVE", Type: "APPLICATION",
		})
	}
	return out
}

func (s *Sandbox) listInferenceProfiles(p *principal, region string, q url.Values) (any, *awsError) {
	var all []*inferenceProfile
	switch t := q.Get("type"); t {
	case "":
		all = append(s.systemProfiles(p.Account, region), s.applicationProfiles(p.Account, region)...)
	case "SYSTEM_DEFINED":
		all = s.systemProfiles(p.Account, region)
	case "APPLICATION":
		all = s.applicationProfiles(p.Account, region)
	default:
		return nil, validationException("1 validation error detected: Value '%s' at 'typeEquals' failed to satisfy constraint: Member must satisfy enum value set: [SYSTEM_DEFINED, APPLICATION]", t)
	}
	items, next, e := paginate(all, q)
	if e != nil {
		return nil, e
	}
	return struct {
		InferenceProfileSummaries []*inferenceProfile `json:"inferenceProfileSummaries"`
		NextToken                 string              `json:"nextToken,omitempty"`
	}{items, next}, nil
}

// paginate cuts one page out of items by the request's maxResults and nextToken. The token is the offset of
// the next item, opaque to clients.
func paginate[T any](items []T, q url.Values) ([]T, string, *awsError) {
	size := maxPage
	if v := q.Get("maxResults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPage {
			return nil, "", validationException("1 validation error detected: Value '%s' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and %d", v, maxPage)
		}
		size = n
	}
	start := 0
	if tok := q.Get("nextToken"); tok != "" {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		n, cerr := strconv.Atoi(strings.TrimPrefix(string(raw), "offset:"))
		if err != nil || cerr != nil || !strings.HasPrefix(string(raw), "offset:") || n < 0 || n > len(items) {
			return nil, "", validationException("The provided pagination token is invalid.")
		}
		start = n
	}
	end := min(start+size, len(items))
	next := ""
	if end < len(items) {
		next = base64.RawURLEncoding.EncodeToString([]byte("offset:" + strconv.Itoa(end)))
	}
	return items[start:end], next, nil
}

// findInferenceProfile finds a profile the caller sees in region by id or ARN. It returns the ARN to
// authorize, and a nil profile (without error) when there is none by that name.
func (s *Sandbox) findInferenceProfile(p *principal, region, ident string) (*inferenceProfile, string, *awsError) {
	ref, err := catalog.ParseRef(ident)
	if err != nil {
		return nil, "", validationException("%s", err.Error())
	}
	partition := catalog.PartitionOf(region)
	if ref.IsARN && ref.Account != p.Account && (ref.Kind == catalog.KindSystemProfile || ref.Kind == catalog.KindApplicationProfile) {
		return nil, "", accessDeniedException("User: %s is not authorized to perform: bedrock:GetInferenceProfile on resource: %s because no resource-based policy allows the bedrock:GetInferenceProfile action", p.ARN, ident)
	}
	var arn string
	var candidates []*inferenceProfile
	switch {
	case ref.Kind == catalog.KindSystemProfile:
		arn = catalog.InferenceProfileARN(partition, region, p.Account, ref.ID)
		candidates = s.systemProfiles(p.Account, region)
	case ref.Kind == catalog.KindApplicationProfile:
		arn = catalog.ApplicationProfileARN(partition, region, p.Account, ref.ID)
		candidates = s.applicationProfiles(p.Account, region)
	case ref.Kind == catalog.KindFoundationModel && !ref.IsARN:
		// A plain id that is not a system profile's: an application profile's id.
		arn = catalog.ApplicationProfileARN(partition, region, p.Account, ref.ID)
		candidates = s.applicationProfiles(p.Account, region)
	default:
		return nil, "", validationException("%s is not an inference profile id or ARN.", ident)
	}
	if ref.IsARN && ref.Region != region {
		return nil, arn, nil
	}
	for _, c := range candidates {
		if c.InferenceProfileArn == arn {
			return c, arn, nil
		}
	}
	return nil, arn, nil
}

func (s *Sandbox) listFoundationModels(p *principal, region string, q url.Values) (any, *awsError) {
	if e := checkEnum(q, "byOutputModality", "TEXT", "IMAGE", "EMBEDDING"); e != nil {
		return nil, e
	}
	if e := checkEnum(q, "byInferenceType", "ON_DEMAND", "PROVISIONED", "INFERENCE_PROFILE"); e != nil {
		return nil, e
	}
	if e := checkEnum(q, "byCustomizationType", "FINE_TUNING", "CONTINUED_PRE_TRAINING", "DISTILLATION"); e != nil {
		return nil, e
	}
	provider := q.Get("byProvider")
	out := []*foundationModel{}
	for _, m := range s.catalog.Models {
		fm := s.visibleModel(p, region, m)
		if fm == nil ||
			(provider != "" && !strings.EqualFold(provider, m.Provider) && !strings.EqualFold(provider, fm.ProviderName)) ||
			!matches(fm.OutputModalities, q.Get("byOutputModality")) ||
			!matches(fm.InferenceTypesSupported, q.Get("byInferenceType")) ||
			!matches(fm.CustomizationsSupported, q.Get("byCustomizationType")) {
			continue
		}
		out = append(out, fm)
	}
	slices.SortFunc(out, func(a, b *foundationModel) int { return strings.Compare(a.ModelId, b.ModelId) })
	return struct {
		ModelSummaries []*foundationModel `json:"modelSummaries"`
	}{out}, nil
}

func checkEnum(q url.Values, name string, values ...string) *awsError {
	v := q.Get(name)
	if v == "" || slices.Contains(values, v) {
		return nil
	}
	return validationException("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy enum value set: [%s]", v, name, strings.Join(values, ", "))
}

func matches(have []string, want string) bool { return want == "" || slices.Contains(have, want) }

// findFoundationModel finds a model the caller sees in region by id or ARN, with the ARN to authorize; nil
// (without error) when there is none by that name.
func (s *Sandbox) findFoundationModel(p *principal, region, ident string) (*foundationModel, string, *awsError) {
	ref, err := catalog.ParseRef(ident)
	if err != nil || ref.Kind != catalog.KindFoundationModel {
		return nil, "", validationException(msgInvalidModel)
	}
	arn := catalog.FoundationModelARN(catalog.PartitionOf(region), region, ref.ID)
	m, ok := s.catalog.Model(ref.ID)
	if !ok || (ref.IsARN && ref.Region != region) {
		return nil, arn, nil
	}
	return s.visibleModel(p, region, m), arn, nil
}

// visibleModel describes m as seen from region by p's account: nil when it is not offered there, on demand or
// through a profile, or the account has no access to it.
func (s *Sandbox) visibleModel(p *principal, region string, m catalog.Model) *foundationModel {
	var types []string
	if slices.Contains(m.OnDemandRegions, region) {
		types = append(types, "ON_DEMAND")
	}
	if s.hasProfileIn(m, region) {
		types = append(types, "INFERENCE_PROFILE")
	}
	s.mu.Lock()
	a := s.accounts[p.Account]
	enabled := a == nil || a.ModelAccess == nil || a.ModelAccess[m.ID]
	s.mu.Unlock()
	if len(types) == 0 || !enabled {
		return nil
	}
	fm := &foundationModel{
		ModelArn: catalog.FoundationModelARN(catalog.PartitionOf(region), region, m.ID), ModelId: m.ID,
		ModelName: m.Name, ProviderName: providerName(m.Provider),
		InputModalities: inputModalities(m), OutputModalities: []string{"TEXT"},
		ResponseStreamingSupported: true, CustomizationsSupported: []string{}, InferenceTypesSupported: types,
	}
	fm.ModelLifecycle.Status = "ACTIVE"
	return fm
}

// providerName is the providerName Bedrock shows for a catalogue provider.
func providerName(p string) string {
	switch p {
	case "ai21":
		return "AI21 Labs"
	case "mistral":
		return "Mistral AI"
	case "deepseek":
		return "DeepSeek"
	case "openai":
		return "OpenAI"
	case "twelvelabs":
		return "TwelveLabs"
	case "stability":
		return "Stability AI"
	case "luma":
		return "Luma AI"
	case "":
		return ""
	}
	return strings.ToUpper(p[:1]) + p[1:]
}

// inputModalities is what Bedrock lists for a model's input. The catalogue does not record it; this follows the
// body dialect: Claude and Nova take images, except Nova Micro, which is text only.
func inputModalities(m catalog.Model) []string {
	if m.Family == "amazon-nova" && strings.Contains(m.ID, "micro") {
		return []string{"TEXT"}
	}
	if m.Family == "anthropic-messages" || m.Family == "amazon-nova" {
		return []string{"TEXT", "IMAGE"}
	}
	return []string{"TEXT"}
}
