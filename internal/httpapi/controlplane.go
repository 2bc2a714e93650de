package httpapi

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bedrock-relay/bedrock-relay/catalog"
)

// Bedrock's read-only control-plane operations that clients make at start, answered by the relay itself from
// what its targets serve (Claude Code in Bedrock mode lists inference profiles before its first request):
//
//	GET /inference-profiles                    ListInferenceProfiles (type, maxResults, nextToken)
//	GET /inference-profiles/{id or ARN}        GetInferenceProfile
//	GET /foundation-models                     ListFoundationModels (byProvider, byOutputModality,
//	                                           byInferenceType, byCustomizationType)
//	GET /foundation-models/{id or ARN}         GetFoundationModel
//
// They take the relay's keys like the runtime routes, and a key sees only the models it may call. The answer
// is the relay's, not a target's: for each foundation model the targets serve, that model and the system
// profiles of every geography the catalogue gives it (all of which the relay accepts: Router.Resolve maps any
// geography's profile id to the model), with the catalogue's destination regions. ARNs name the relay's region
// (its first target's, which is also where config's source region defaults) and placeholderAccount, never a
// target's account. The relay lists no application profiles: its targets' are theirs, in their accounts.

// placeholderAccount stands in the ARNs of the inference profiles the relay lists, where AWS puts the caller's
// account: the relay has no account of its own to show, and must not show its targets'.
const placeholderAccount = "000000000000"

// profileEpoch is the createdAt and updatedAt of every listed profile: a fixed time, so answers do not change
// between calls.
var profileEpoch = time.Date(2024, time.August, 27, 0, 0, 0, 0, time.UTC)

// maxPage is the largest maxResults Bedrock takes, and the page size without one.
const maxPage = 1000

// controlPlaneRoutes mounts Bedrock's read-only control-plane operations that clients call at start.
func (h *Handler) controlPlaneRoutes() {
	bedrock := func(f apiFunc) http.Handler { return h.serve("bedrock", bedrockShape, f) }
	h.mux.Handle("GET /inference-profiles", bedrock(h.listInferenceProfiles))
	h.mux.Handle("GET /inference-profiles/{id...}", bedrock(h.getInferenceProfile))
	h.mux.Handle("GET /foundation-models", bedrock(h.listFoundationModels))
	h.mux.Handle("GET /foundation-models/{id...}", bedrock(h.getFoundationModel))
	for _, p := range []string{"/inference-profiles", "/inference-profiles/", "/foundation-models", "/foundation-models/"} {
		h.mux.Handle(p, bedrock(h.controlPlaneWrite))
	}
}

// controlPlaneWrite answers the control plane's other operations (CreateInferenceProfile, ...), which the relay
// does not serve.
func (h *Handler) controlPlaneWrite(w http.ResponseWriter, r *http.Request, x *exchange) error {
	return &Error{Status: http.StatusMethodNotAllowed, Code: "UnknownOperationException",
		Message: "The relay answers only Bedrock's model reads: GET /inference-profiles, GET /inference-profiles/{id}, GET /foundation-models and GET /foundation-models/{id}; not " + r.Method + " " + r.URL.EscapedPath() + "."}
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

	model string // the foundation-model id it serves, for the key check
}

type profileModel struct {
	ModelArn string `json:"modelArn"`
}

// foundationModel is FoundationModelSummary and FoundationModelDetails of Bedrock's service model.
type foundationModel struct {
	ModelArn                   string         `json:"modelArn"`
	ModelId                    string         `json:"modelId"`
	ModelName                  string         `json:"modelName,omitempty"`
	ProviderName               string         `json:"providerName,omitempty"`
	InputModalities            []string       `json:"inputModalities"`
	OutputModalities           []string       `json:"outputModalities"`
	ResponseStreamingSupported bool           `json:"responseStreamingSupported"`
	CustomizationsSupported    []string       `json:"customizationsSupported"`
	InferenceTypesSupported    []string       `json:"inferenceTypesSupported"`
	ModelLifecycle             modelLifecycle `json:"modelLifecycle"`
}

type modelLifecycle struct {
	Status string `json:"status"`
}

// region is the region the relay's ARNs name: its first target's.
func (h *Handler) region() string { return h.deps.Router.Targets()[0].Region }

// controlPlaneCaller authenticates r for a control-plane read.
func (h *Handler) controlPlaneCaller(r *http.Request, x *exchange, op string) (*Caller, error) {
	x.op = op
	caller, err := h.Authenticate(r)
	if err != nil {
		return nil, err
	}
	x.key = caller.Name
	return caller, nil
}

// profiles are the system profiles the relay accepts, sorted by id: every geography's profile, in the relay's
// partition, of every served foundation model.
func (h *Handler) profiles() []*inferenceProfile {
	cat := catalog.Default()
	region := h.region()
	partition := catalog.PartitionOf(region)
	models, _ := h.deps.Router.Models()
	var out []*inferenceProfile
	for _, fm := range models {
		m, ok := cat.Model(fm)
		if !ok {
			continue
		}
		for _, prefix := range cat.Prefixes() {
			if _, ok := m.Profiles[prefix]; !ok {
				continue
			}
			prof, err := cat.Profile(prefix + "." + fm)
			if err != nil || prof.Geography.Partition != partition {
				continue
			}
			if got, err := h.deps.Router.Resolve(prof.ID); err != nil || got != fm {
				continue
			}
			ms := make([]profileModel, len(prof.DestinationRegions))
			for i, d := range prof.DestinationRegions {
				ms[i] = profileModel{ModelArn: catalog.FoundationModelARN(partition, d, fm)}
			}
			out = append(out, &inferenceProfile{
				InferenceProfileName: strings.ToUpper(prefix) + " " + m.Name,
				Description:          "Routes requests to " + m.Name + " in " + strings.Join(prof.DestinationRegions, ", ") + ".",
				CreatedAt:            profileEpoch, UpdatedAt: profileEpoch,
				InferenceProfileArn: catalog.InferenceProfileARN(partition, region, placeholderAccount, prof.ID),
				Models:              ms, InferenceProfileId: prof.ID, Status: "ACTIVE", Type: "SYSTEM_DEFINED", model: fm,
			})
		}
	}
	slices.SortFunc(out, func(a, b *inferenceProfile) int { return strings.Compare(a.InferenceProfileId, b.InferenceProfileId) })
	return out
}

// listInferenceProfiles serves GET /inference-profiles.
func (h *Handler) listInferenceProfiles(w http.ResponseWriter, r *http.Request, x *exchange) error {
	caller, err := h.controlPlaneCaller(r, x, "list-inference-profiles")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	var seen []*inferenceProfile
	switch t := q.Get("type"); t {
	case "", "SYSTEM_DEFINED":
		for _, p := range h.profiles() {
			if caller.Allows(p.InferenceProfileId, p.model) {
				seen = append(seen, p)
			}
		}
	case "APPLICATION":
	default:
		return validationError("1 validation error detected: Value '%s' at 'typeEquals' failed to satisfy constraint: Member must satisfy enum value set: [SYSTEM_DEFINED, APPLICATION]", t)
	}
	page, next, err := paginate(seen, q)
	if err != nil {
		return err
	}
	if page == nil {
		page = []*inferenceProfile{}
	}
	writeControlPlane(w, struct {
		InferenceProfileSummaries []*inferenceProfile `json:"inferenceProfileSummaries"`
		NextToken                 string              `json:"nextToken,omitempty"`
	}{page, next})
	return nil
}

// getInferenceProfile serves GET /inference-profiles/{id}: a system profile the relay lists, by id or by any
// ARN naming it (the relay's ARNs are placeholders, so the ARN's region and account are not checked).
func (h *Handler) getInferenceProfile(w http.ResponseWriter, r *http.Request, x *exchange) error {
	caller, err := h.controlPlaneCaller(r, x, "get-inference-profile")
	if err != nil {
		return err
	}
	ident := r.PathValue("id")
	x.asked = ident
	ref, err := catalog.ParseRef(ident)
	if err != nil {
		return validationError("%s", err.Error())
	}
	notFound := &Error{Status: http.StatusNotFound, Code: "ResourceNotFoundException",
		Message: "The relay serves no inference profile " + ident + "; ListInferenceProfiles lists those it does."}
	if ref.Kind != catalog.KindSystemProfile {
		return notFound
	}
	for _, p := range h.profiles() {
		if p.InferenceProfileId != ref.ID {
			continue
		}
		x.model = p.model
		if !caller.Allows(p.InferenceProfileId, p.model) {
			return notAllowed(caller, ident)
		}
		writeControlPlane(w, p)
		return nil
	}
	return notFound
}

// describe is a served foundation model as ListFoundationModels and GetFoundationModel show it.
func (h *Handler) describe(fm string) *foundationModel {
	partition := catalog.PartitionOf(h.region())
	d := &foundationModel{ModelArn: catalog.FoundationModelARN(partition, h.region(), fm), ModelId: fm,
		InputModalities: []string{"TEXT"}, OutputModalities: []string{"TEXT"}, ResponseStreamingSupported: true,
		CustomizationsSupported: []string{}, InferenceTypesSupported: []string{"ON_DEMAND"}, ModelLifecycle: modelLifecycle{Status: "ACTIVE"}}
	cat := catalog.Default()
	m, ok := cat.Model(fm)
	if !ok {
		return d
	}
	d.ModelName, d.ProviderName, d.InputModalities = m.Name, providerName(m.Provider), inputModalities(m)
	for prefix := range m.Profiles {
		if g, ok := cat.Geography(prefix); ok && g.Partition == partition {
			d.InferenceTypesSupported = []string{"ON_DEMAND", "INFERENCE_PROFILE"}
			break
		}
	}
	return d
}

// listFoundationModels serves GET /foundation-models: the served models the key may call, as the relay
// offers them (by their foundation-model id "on demand", and through profiles).
func (h *Handler) listFoundationModels(w http.ResponseWriter, r *http.Request, x *exchange) error {
	caller, err := h.controlPlaneCaller(r, x, "list-foundation-models")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	for _, f := range []struct {
		name   string
		values []string
	}{
		{"byOutputModality", []string{"TEXT", "IMAGE", "EMBEDDING"}},
		{"byInferenceType", []string{"ON_DEMAND", "PROVISIONED", "INFERENCE_PROFILE"}},
		{"byCustomizationType", []string{"FINE_TUNING", "CONTINUED_PRE_TRAINING", "DISTILLATION"}},
	} {
		if v := q.Get(f.name); v != "" && !slices.Contains(f.values, v) {
			return validationError("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy enum value set: [%s]", v, f.name, strings.Join(f.values, ", "))
		}
	}
	provider := q.Get("byProvider")
	has := func(list []string, want string) bool { return want == "" || slices.Contains(list, want) }
	models, _ := h.deps.Router.Models()
	out := []*foundationModel{}
	for _, fm := range models {
		if !caller.Allows(fm, fm) {
			continue
		}
		d := h.describe(fm)
		m, _ := catalog.Default().Model(fm)
		if (provider != "" && !strings.EqualFold(provider, d.ProviderName) && !strings.EqualFold(provider, m.Provider)) ||
			!has(d.OutputModalities, q.Get("byOutputModality")) || !has(d.InferenceTypesSupported, q.Get("byInferenceType")) ||
			!has(d.CustomizationsSupported, q.Get("byCustomizationType")) {
			continue
		}
		out = append(out, d)
	}
	writeControlPlane(w, struct {
		ModelSummaries []*foundationModel `json:"modelSummaries"`
	}{out})
	return nil
}

// getFoundationModel serves GET /foundation-models/{id}: a served model by its id, an alias or any
// foundation-model ARN naming it.
func (h *Handler) getFoundationModel(w http.ResponseWriter, r *http.Request, x *exchange) error {
	caller, err := h.controlPlaneCaller(r, x, "get-foundation-model")
	if err != nil {
		return err
	}
	ident := r.PathValue("id")
	x.asked = ident
	ref, err := catalog.ParseRef(ident)
	if err != nil || ref.Kind != catalog.KindFoundationModel {
		return validationError("The provided model identifier is invalid.")
	}
	fm, err := h.deps.Router.Resolve(ident)
	if err != nil {
		return &Error{Status: http.StatusNotFound, Code: "ResourceNotFoundException",
			Message: "Could not resolve the foundation model from the provided model identifier: the relay serves no model " + ident + "."}
	}
	x.model = fm
	if !caller.Allows(ident, fm) {
		return notAllowed(caller, ident)
	}
	writeControlPlane(w, struct {
		ModelDetails *foundationModel `json:"modelDetails"`
	}{h.describe(fm)})
	return nil
}

func writeControlPlane(w http.ResponseWriter, v any) {
	w.Header().Set("X-Amzn-RequestId", newRequestID())
	writeJSON(w, http.StatusOK, v)
}

// paginate cuts one page out of items by the request's maxResults and nextToken. The token is the offset of
// the next item, opaque to clients.
func paginate[T any](items []T, q url.Values) ([]T, string, error) {
	size := maxPage
	if v := q.Get("maxResults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPage {
			return nil, "", validationError("1 validation error detected: Value '%s' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and %d", v, maxPage)
		}
		size = n
	}
	start := 0
	if tok := q.Get("nextToken"); tok != "" {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		rest, ok := strings.CutPrefix(string(raw), "offset:")
		n, cerr := strconv.Atoi(rest)
		if err != nil || !ok || cerr != nil || n < 0 || n > len(items) {
			return nil, "", validationError("The provided pagination token is invalid.")
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
