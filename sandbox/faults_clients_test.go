package sandbox_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/bedrock-relay/bedrock-relay/sandbox"
)

// servedOperations are the Bedrock Runtime operations the sandbox serves (docs/conformance.md).
var servedOperations = []string{"ApplyGuardrail", "Converse", "ConverseStream", "CountTokens", "GetAsyncInvoke",
	"InvokeModel", "InvokeModelWithResponseStream", "ListAsyncInvokes", "StartAsyncInvoke"}

// refusedFaults are faults no matching operation declares; the admin API refuses each with a 400.
var refusedFaults = []struct {
	Fault sandbox.Fault
	Want  string // in the refusal
}{
	{sandbox.Fault{Code: "ConflictException", Operation: "Converse"}, "operation Converse does not declare it"},
	{sandbox.Fault{Code: "ModelTimeoutException", Operation: "ConverseStream", AfterEvents: 1}, "ConverseStream's stream does not declare it"},
	{sandbox.Fault{Code: "ModelErrorException", Operation: "ApplyGuardrail"}, "operation ApplyGuardrail does not declare it"},
	{sandbox.Fault{Code: "NoSuchThingException"}, "NoSuchThingException"},
}

// TestJSDeclaredFaults: every error each served operation declares, installed as a fault through the admin API,
// reaches the AWS SDK for JavaScript v3 as an exception of that name and the service model's status; every
// exception event a stream declares, cut in after the first event, is thrown by the stream's iterator under its
// name; a fault no operation declares is refused with a 400 naming what is declared.
func TestJSDeclaredFaults(t *testing.T) {
	_, err := exec.LookPath("node")
	needTool(t, err == nil, "node")
	_, err = os.Stat("clients/node_modules/@aws-sdk/client-bedrock-runtime")
	needTool(t, err == nil, "sandbox/clients/node_modules (.ci/install-js-deps)")

	type declared struct {
		Errors       []string `json:"errors"`
		StreamErrors []string `json:"stream_errors"`
	}
	plan := map[string]declared{}
	want := 0
	for _, op := range servedOperations {
		errs, streamErrs := sandbox.DeclaredErrors(op)
		plan[op] = declared{errs, streamErrs}
		want += len(errs) + len(streamErrs)
	}
	planJSON, _ := json.Marshal(plan)
	var refused []sandbox.Fault
	for _, r := range refusedFaults {
		refused = append(refused, r.Fault)
	}
	refusedJSON, _ := json.Marshal(refused)

	sb, url := startSandbox(t)
	out := runClient(t, clientEnv(t, url, sb, "TARGET_ROLE_ARN="+sandbox.TargetRoleARN(sandbox.LargeAccount), "MODEL_ID="+sandbox.SeedProfile,
		"FOUNDATION_MODEL_ID="+seedFM, "GUARDRAIL_ID="+sandbox.GuardrailID(sandbox.LargeAccount),
		"FAULT_PLAN="+string(planJSON), "REFUSED_FAULTS="+string(refusedJSON)), "node", "clients/js_declared_faults.mjs")
	var got struct {
		Results []struct {
			Op, Code, Name, Message, Error string
			MidStream                      bool `json:"mid_stream"`
			OK                             bool
			Status                         int
		}
		Refused []struct {
			Status int
			Error  string
		}
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(got.Results) != want {
		t.Errorf("%d results, want one per declared error and stream exception event (%d)", len(got.Results), want)
	}
	for _, r := range got.Results {
		status := sandbox.DeclaredStatus(r.Code)
		if r.MidStream {
			status = 200 // an exception frame comes inside a stream that started with 200
		}
		if r.Error != "" || r.OK || r.Name != r.Code || r.Status != status {
			t.Errorf("%s %s (mid-stream %v): the JS SDK got %+v, want %s with status %d", r.Op, r.Code, r.MidStream, r, r.Code, status)
		}
	}
	if len(got.Refused) != len(refusedFaults) {
		t.Fatalf("refused: %+v", got.Refused)
	}
	for i, r := range got.Refused {
		if r.Status != 400 || !strings.Contains(r.Error, refusedFaults[i].Want) {
			t.Errorf("fault %+v: admin API answered %d %q, want 400 containing %q", refusedFaults[i].Fault, r.Status, r.Error, refusedFaults[i].Want)
		}
	}
}
