package iampolicy

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestParseShorthands(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want *Document
	}{
		{
			name: "single statement object, string values",
			in:   `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"arn:aws:iam::222222222222:role/R"}}`,
			want: &Document{Version: Version2012, Statement: []Statement{{Effect: EffectAllow, Action: StringList{"sts:AssumeRole"}, Resource: StringList{"arn:aws:iam::222222222222:role/R"}}}},
		},
		{
			name: "bare star principal",
			in:   `{"Statement":[{"Effect":"Deny","Principal":"*","NotAction":["bedrock:Get*","bedrock:List*"]}]}`,
			want: &Document{Statement: []Statement{{Effect: EffectDeny, Principal: &Principal{All: true}, NotAction: StringList{"bedrock:Get*", "bedrock:List*"}}}},
		},
		{
			name: "principal types as strings and arrays",
			in: `{"Version":"2012-10-17","Id":"trust","Statement":[{"Sid":"A","Effect":"Allow","Principal":{"AWS":["111111111111","arn:aws:iam::111111111111:root"],"Service":"lambda.amazonaws.com","Federated":"cognito-identity.amazonaws.com"},"Action":"sts:AssumeRole"},
				{"Effect":"Allow","NotPrincipal":{"AWS":"*"},"Action":"sts:TagSession"}]}`,
			want: &Document{Version: Version2012, ID: "trust", Statement: []Statement{
				{Sid: "A", Effect: EffectAllow, Principal: &Principal{AWS: StringList{"111111111111", "arn:aws:iam::111111111111:root"}, Service: StringList{"lambda.amazonaws.com"}, Federated: StringList{"cognito-identity.amazonaws.com"}}, Action: StringList{"sts:AssumeRole"}},
				{Effect: EffectAllow, NotPrincipal: &Principal{AWS: StringList{"*"}}, Action: StringList{"sts:TagSession"}},
			}},
		},
		{
			name: "condition values of every JSON scalar type",
			in:   `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":false},"NumericLessThan":{"s3:max-keys":[10, 2.5]},"StringEquals":{"sts:ExternalId":"x"}}}]}`,
			want: &Document{Version: Version2012, Statement: []Statement{{Effect: EffectDeny, Action: StringList{"*"}, Resource: StringList{"*"}, Condition: Conditions{
				"Bool":            {"aws:SecureTransport": {"false"}},
				"NumericLessThan": {"s3:max-keys": {"10", "2.5"}},
				"StringEquals":    {"sts:ExternalId": {"x"}},
			}}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.in))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // substring of the error
	}{
		{"not JSON", `{`, "invalid JSON"},
		{"array document", `[]`, "want a JSON object, got an array"},
		{"no statement", `{"Version":"2012-10-17"}`, "Statement: missing or empty"},
		{"bad version", `{"Version":"2012-10-18","Statement":[]}`, `Version: got "2012-10-18", want "2012-10-17"`},
		{"unknown element", `{"Statment":[]}`, "Statment: unknown top-level element"},
		{"lowercase element", `{"statement":[]}`, "case-sensitive"},
		{"statement is a string", `{"Statement":"x"}`, "Statement: want a statement object or an array of them, got a string"},
		{"bad effect", `{"Statement":[{"Effect":"allow","Action":"s3:*"}]}`, `Statement[0].Effect: got "allow", want "Allow" or "Deny"`},
		{"no effect", `{"Statement":[{"Action":"s3:*"}]}`, "Statement[0].Effect: missing"},
		{"no action", `{"Statement":[{"Effect":"Allow"}]}`, "Statement[0]: needs Action or NotAction"},
		{"both action forms", `{"Statement":[{"Effect":"Allow","Action":"a:b","NotAction":"a:c"}]}`, "both Action and NotAction"},
		{"both resource forms", `{"Statement":[{"Effect":"Allow","Action":"a:b","Resource":"*","NotResource":"x"}]}`, "both Resource and NotResource"},
		{"action number", `{"Statement":[{"Effect":"Allow","Action":5}]}`, "Statement[0].Action: want a string or an array of strings, got a number"},
		{"action array of numbers", `{"Statement":[{"Effect":"Allow","Action":["a:b",1]}]}`, "Statement[0].Action: element 1"},
		{"action without service", `{"Statement":[{"Effect":"Allow","Action":"InvokeModel"}]}`, `"InvokeModel" is not service:action`},
		{"principal string", `{"Statement":[{"Effect":"Allow","Principal":"arn:aws:iam::1:root","Action":"sts:AssumeRole"}]}`, `Statement[0].Principal: got the string "arn:aws:iam::1:root"; only "*"`},
		{"principal type", `{"Statement":[{"Effect":"Allow","Principal":{"Aws":"x"},"Action":"sts:AssumeRole"}]}`, "Statement[0].Principal.Aws: unknown principal type"},
		{"principal empty", `{"Statement":[{"Effect":"Allow","Principal":{},"Action":"sts:AssumeRole"}]}`, "Statement[0].Principal: is empty"},
		{"condition operator", `{"Statement":[{"Effect":"Allow","Action":"a:b","Condition":{"StringEqual":{"k":"v"}}}]}`, `Statement[0].Condition.StringEqual: unknown condition operator "StringEqual"`},
		{"condition set prefix", `{"Statement":[{"Effect":"Allow","Action":"a:b","Condition":{"ForSomeValues:StringLike":{"k":"v"}}}]}`, "unknown set operator"},
		{"condition value object", `{"Statement":[{"Effect":"Allow","Action":"a:b","Condition":{"StringEquals":{"k":{}}}}]}`, "Statement[0].Condition.StringEquals.k: want a string, boolean, number"},
		{"unknown statement element", `{"Statement":[{"Effect":"Allow","Action":"a:b","Resources":"*"}]}`, "Statement[0].Resources: unknown statement element"},
		{"second statement", `{"Statement":[{"Effect":"Allow","Action":"a:b"},{"Effect":"Allow"}]}`, "Statement[1]: needs Action"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in))
			if err == nil {
				t.Fatalf("Parse(%s): got nil error, want one containing %q", tt.in, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse(%s): got error %q, want it to contain %q", tt.in, err, tt.want)
			}
		})
	}
}

func TestMarshalCanonical(t *testing.T) {
	d, err := Parse([]byte(`{"Statement":{"Condition":{"StringLike":{"k":["a&b"]}},"Resource":["*"],"Action":["sts:AssumeRole"],"Principal":"*","Effect":"Allow","Sid":"s"},"Version":"2012-10-17"}`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := d.MarshalIndent()
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "s",
      "Effect": "Allow",
      "Principal": "*",
      "Action": "sts:AssumeRole",
      "Resource": "*",
      "Condition": {
        "StringLike": {
          "k": "a&b"
        }
      }
    }
  ]
}
`
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("MarshalIndent (-want +got):\n%s", diff)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(seedTrustJSON))
	f.Add([]byte(seedPermissionsJSON))
	f.Add([]byte(seedCallerJSON))
	f.Add([]byte(`{"Statement":{"Effect":"Deny","Principal":"*","NotAction":"a:*","Condition":{"ForAllValues:StringLikeIfExists":{"k":[true,1]},"Null":{"x":"true"}}}}`))
	f.Add([]byte(`{"Statement":[{"Effect":"Allow","Principal":{"AWS":["*"],"Service":"s"},"Action":["x:y"],"NotResource":"r"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse(data)
		if err != nil {
			return
		}
		out, err := d.MarshalIndent()
		if err != nil {
			t.Fatalf("MarshalIndent of a parsed document: %v", err)
		}
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse of our own output %s: %v", out, err)
		}
		if diff := cmp.Diff(d, back, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
		// Whatever parses must evaluate without panicking.
		Evaluate(Request{Principal: "arn:aws:sts::111111111111:assumed-role/r/s", Action: "x:y", Resource: "r",
			Context: map[string][]string{"k": {"v"}}}, Policies{Identity: []*Document{d}, Resource: d, SCPs: []*Document{d}})
	})
}

// Documents embedded in other JSON (sandbox scenarios, CLI config) go through the same rules as Parse.
func TestUnmarshalEmbedded(t *testing.T) {
	var cfg struct {
		Trust      Document   `json:"trust"`
		Statement  Statement  `json:"statement"`
		Principal  Principal  `json:"principal"`
		Actions    StringList `json:"actions"`
		Conditions Conditions `json:"conditions"`
	}
	in := `{"trust":` + seedTrustJSON + `,"statement":{"Effect":"Deny","Action":"*"},"principal":{"AWS":"111111111111"},"actions":"bedrock:InvokeModel","conditions":{"Bool":{"aws:SecureTransport":false}}}`
	if err := json.Unmarshal([]byte(in), &cfg); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(*Trust(seedCaller, ""), cfg.Trust); diff != "" {
		t.Errorf("trust (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(Statement{Effect: EffectDeny, Action: StringList{"*"}}, cfg.Statement); diff != "" {
		t.Errorf("statement (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(Principal{AWS: StringList{"111111111111"}}, cfg.Principal); diff != "" {
		t.Errorf("principal (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(StringList{"bedrock:InvokeModel"}, cfg.Actions); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(Conditions{"Bool": {"aws:SecureTransport": {"false"}}}, cfg.Conditions); diff != "" {
		t.Errorf("conditions (-want +got):\n%s", diff)
	}
	var d Document
	err := json.Unmarshal([]byte(`{"Statement":{"Effect":"Permit","Action":"*"}}`), &d)
	var se *SyntaxError
	if !errors.As(err, &se) || se.Field != "Statement.Effect" {
		t.Errorf("got %v, want a *SyntaxError for Statement.Effect", err)
	}
}
