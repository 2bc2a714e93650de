package setup

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
	"gopkg.in/yaml.v3"
)

// The function a template deploys is one of two packages `make lambda` builds:
//
//   - without a Function URL, bedrock-relay-lambda: the seed's function done properly, invoked directly
//     (aws lambda invoke, an SDK's Invoke) with the seed's event, configured by TARGET_ROLE_ARN, MODEL_ID,
//     BEDROCK_REGION and EXTERNAL_ID;
//   - with one, bedrock-relay-lambda-url: the relay itself (the `serve` handler: Bedrock Runtime, OpenAI and
//     Anthropic APIs) behind a Function URL with AuthType NONE (callers present relay keys as bearer tokens,
//     so the relay config must have auth.mode keys) and InvokeMode RESPONSE_STREAM, configured by the relay
//     config in BEDROCK_RELAY_CONFIG_YAML (as JSON, which is YAML).
const (
	// CodeKeyPrefix and URLCodeKeyPrefix name the zips: PREFIX-ARCH.zip.
	CodeKeyPrefix    = "bedrock-relay-lambda"
	URLCodeKeyPrefix = "bedrock-relay-lambda-url"
	// RelayConfigVar is the variable the Function URL relay reads its config from.
	RelayConfigVar = "BEDROCK_RELAY_CONFIG_YAML"
	// LambdaEnvLimit is Lambda's limit on the total size of a function's environment variables (names and
	// values), in bytes.
	LambdaEnvLimit = 4096
	// URLFunctionTimeout is the Function URL relay's timeout: Lambda's maximum, since a streamed answer may
	// take minutes.
	URLFunctionTimeout = 900
	// cacheEndpointMark stands for the cache's endpoint in the relay config until a template substitutes it.
	cacheEndpointMark = "BEDROCK-RELAY-CACHE-ENDPOINT"
	// endpointAllowance is what the endpoint (host:port) may add to the config once substituted.
	endpointAllowance = 120
)

// ErrRelayConfig wraps every error about the relay config a Function URL relay is deployed with (as against
// the template's options, ErrInvalid).
var ErrRelayConfig = errors.New("relay config for the Function URL relay")

// CodeKey is the default S3 key of the function's zip for an architecture.
func (o TemplateOptions) CodeKey() string {
	if o.FunctionURL {
		return URLCodeKeyPrefix + "-" + o.Arch + ".zip"
	}
	return CodeKeyPrefix + "-" + o.Arch + ".zip"
}

// relayConfig is the Function URL relay's config as it goes into the function's environment: with shared
// state, the state: section is the generated cache's (its endpoint marked by cacheEndpointMark). It checks
// the config against Lambda's environment limit.
func (o TemplateOptions) relayConfig() (map[string]any, error) {
	if len(o.RelayConfig) == 0 {
		return nil, fmt.Errorf("%w: missing (a Function URL serves the relay)", ErrRelayConfig)
	}
	// Through JSON and back: what the function will read, in the few kinds of value JSON has (a YAML
	// timestamp becomes its RFC 3339 string, a number stays exact as a json.Number).
	cfg, err := normalize(o.RelayConfig)
	if err != nil {
		return nil, err
	}
	if ss := o.SharedState; ss != nil {
		var state map[string]any
		if err := yaml.Unmarshal([]byte(ss.StateStanza(cacheEndpointMark)), &state); err != nil {
			panic(err) // the stanza is ours
		}
		cfg["state"] = state["state"]
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRelayConfig, err)
	}
	size := len(RelayConfigVar) + len(b)
	if o.SharedState != nil {
		size += endpointAllowance
	}
	if size > LambdaEnvLimit {
		return nil, fmt.Errorf("%w: it takes %d bytes as the function's environment (JSON, with the variable's name%s); Lambda allows %d bytes in all: leave out what the function does not need (comments go already; catalog, prices, long key lists), or package the config with the function (BEDROCK_RELAY_CONFIG names a file in the zip)",
			ErrRelayConfig, size, map[bool]string{true: " and room for the cache endpoint", false: ""}[o.SharedState != nil], LambdaEnvLimit)
	}
	return cfg, nil
}

// normalize is cfg as JSON would carry it: maps, lists, strings, json.Numbers, booleans and nulls only.
func normalize(cfg map[string]any) (map[string]any, error) {
	if err := mapsHaveStringKeys(cfg, "config"); err != nil {
		return nil, err
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRelayConfig, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out map[string]any
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRelayConfig, err)
	}
	if out == nil {
		out = map[string]any{}
	}
	return out, nil
}

// relayConfigJSON is the config as compact JSON (with shared state, the cache endpoint still marked).
func relayConfigJSON(cfg map[string]any) string {
	b, err := json.Marshal(cfg)
	if err != nil {
		panic(err) // relayConfig marshalled it
	}
	return string(b)
}

// cfnSubEscape makes literal text safe inside Fn::Sub: "${" is written "${!".
func cfnSubEscape(s string) string { return strings.ReplaceAll(s, "${", "${!") }

// relayConfigTokens is the config as an HCL jsonencode({...}) call; with shared state, the cache
// endpoint's mark becomes the template "endpoint" (raw HCL template text such as "${a.b}:${a.c}"). String
// values are escaped as HCL literals, so a config's own "${" reaches the function unchanged.
func relayConfigTokens(cfg map[string]any, endpoint string) hclwrite.Tokens {
	toks := hclwrite.TokensForFunctionCall("jsonencode", hclwrite.TokensForValue(ctyOf(cfg)))
	for _, t := range toks {
		if t.Type == hclsyntax.TokenQuotedLit && string(t.Bytes) == cacheEndpointMark {
			t.Bytes = []byte(endpoint)
		}
	}
	return toks
}

// ctyOf converts a decoded YAML value (maps, lists, strings, numbers, booleans, null) to cty.
func ctyOf(v any) cty.Value {
	switch v := v.(type) {
	case map[string]any:
		if len(v) == 0 {
			return cty.EmptyObjectVal
		}
		m := make(map[string]cty.Value, len(v))
		for k, e := range v {
			m[k] = ctyOf(e)
		}
		return cty.ObjectVal(m)
	case []any:
		if len(v) == 0 {
			return cty.EmptyTupleVal
		}
		l := make([]cty.Value, len(v))
		for i, e := range v {
			l[i] = ctyOf(e)
		}
		return cty.TupleVal(l)
	case string:
		return cty.StringVal(v)
	case json.Number:
		n, err := cty.ParseNumberVal(string(v))
		if err != nil {
			panic(err) // encoding/json wrote it
		}
		return n
	case bool:
		return cty.BoolVal(v)
	case int:
		return cty.NumberIntVal(int64(v))
	case int64:
		return cty.NumberIntVal(v)
	case uint64:
		return cty.NumberUIntVal(v)
	case float64:
		return cty.NumberFloatVal(v)
	case nil:
		return cty.NullVal(cty.DynamicPseudoType)
	}
	panic(fmt.Sprintf("setup: no cty value for %T", v))
}

// RelayConfigForLambda turns a relay config file into the config the Function URL relay is deployed with:
// the server: section is Lambda's business (only access_log is kept), and the source credentials are the
// function's execution role (only source.region is kept). The notes say what was left out and why.
func RelayConfigForLambda(file []byte) (cfg map[string]any, notes []string, err error) {
	if err := yaml.Unmarshal(file, &cfg); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrRelayConfig, err)
	}
	if cfg == nil {
		cfg = map[string]any{}
	}
	if err := mapsHaveStringKeys(cfg, "config"); err != nil {
		return nil, nil, err
	}
	if server, ok := cfg["server"].(map[string]any); ok {
		var dropped []string
		for k := range server {
			if k != "access_log" {
				dropped = append(dropped, "server."+k)
			}
		}
		if al, ok := server["access_log"]; ok {
			cfg["server"] = map[string]any{"access_log": al}
		} else {
			delete(cfg, "server")
		}
		if len(dropped) > 0 {
			sort.Strings(dropped)
			notes = append(notes, "left out "+strings.Join(dropped, ", ")+": the Function URL is the listener")
		}
	}
	if source, ok := cfg["source"].(map[string]any); ok {
		var dropped []string
		for k := range source {
			if k != "region" {
				dropped = append(dropped, "source."+k)
			}
		}
		if r, ok := source["region"]; ok {
			cfg["source"] = map[string]any{"region": r}
		} else {
			delete(cfg, "source")
		}
		if len(dropped) > 0 {
			sort.Strings(dropped)
			notes = append(notes, "left out "+strings.Join(dropped, ", ")+": the function's execution role is the source of credentials")
		}
	}
	return cfg, notes, nil
}

// mapsHaveStringKeys refuses YAML mappings whose keys are not strings (JSON has no other kind).
func mapsHaveStringKeys(v any, path string) error {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if err := mapsHaveStringKeys(e, path+"."+k); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range v {
			if err := mapsHaveStringKeys(e, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case map[any]any:
		return fmt.Errorf("%w: %s has a key that is not a string", ErrRelayConfig, path)
	}
	return nil
}
