package sandbox

import (
	"slices"
	"strings"
)

// The Bedrock Runtime operations of the service model (bedrock-runtime 2023-09-30, as botocore 1.43 ships it),
// with what each declares it may fail with. A client parses an error answer into a typed exception only when
// the operation declares it: boto3 and the Go SDK read an undeclared code as a generic error, and an exception
// frame that the stream union does not declare as an empty code. Faults are held to this table, so that what
// the sandbox injects is what Bedrock could send. TestOperationTable checks it against botocore's JSON; when
// the model changes, the test prints the table to paste here.

// bedrockErrorStatus is every error shape the service model declares, with its HTTP status. A shape has one
// status whichever operation declares it.
var bedrockErrorStatus = map[string]int{
	"AccessDeniedException":         403,
	"ConflictException":             400,
	"InternalServerException":       500,
	"ModelErrorException":           424,
	"ModelNotReadyException":        429,
	"ModelStreamErrorException":     424,
	"ModelTimeoutException":         408,
	"ResourceNotFoundException":     404,
	"ServiceQuotaExceededException": 400,
	"ServiceUnavailableException":   503,
	"ThrottlingException":           429,
	"ValidationException":           400,
}

// bedrockOperation is what the service model declares of one operation.
type bedrockOperation struct {
	// Errors are the error shapes the operation declares, as codes (the X-Amzn-ErrorType of its answer).
	Errors []string
	// StreamErrors, for an operation that answers with an event stream, are the exception members of the
	// stream's union, as codes (the member is the code with a lower-case first letter, the :exception-type of
	// the frame): the only exceptions a stream may carry once it has started.
	StreamErrors []string
}

// stream reports whether the operation answers with an event stream.
func (o bedrockOperation) stream() bool { return len(o.StreamErrors) > 0 }

var bedrockOperations = map[string]bedrockOperation{
	"ApplyGuardrail": {
		Errors: []string{"AccessDeniedException", "InternalServerException", "ResourceNotFoundException", "ServiceQuotaExceededException", "ServiceUnavailableException", "ThrottlingException", "ValidationException"},
	},
	"Converse": {
		Errors: []string{"AccessDeniedException", "InternalServerException", "ModelErrorException", "ModelNotReadyException", "ModelTimeoutException", "ResourceNotFoundException", "ServiceUnavailableException", "ThrottlingException", "ValidationException"},
	},
	"ConverseStream": {
		Errors:       []string{"AccessDeniedException", "InternalServerException", "ModelErrorException", "ModelNotReadyException", "ModelTimeoutException", "ResourceNotFoundException", "ServiceUnavailableException", "ThrottlingException", "ValidationException"},
		StreamErrors: []string{"InternalServerException", "ModelStreamErrorException", "ServiceUnavailableException", "ThrottlingException", "ValidationException"},
	},
	"CountTokens": {
		Errors: []string{"AccessDeniedException", "InternalServerException", "ResourceNotFoundException", "ServiceUnavailableException", "ThrottlingException", "ValidationException"},
	},
	"GetAsyncInvoke": {
		Errors: []string{"AccessDeniedException", "InternalServerException", "ThrottlingException", "ValidationException"},
	},
	"InvokeModel": {
		Errors: []string{"AccessDeniedException", "InternalServerException", "ModelErrorException", "ModelNotReadyException", "ModelTimeoutException", "ResourceNotFoundException", "ServiceQuotaExceededException", "ServiceUnavailableException", "ThrottlingException", "ValidationException"},
	},
	"InvokeModelWithBidirectionalStream": {
		Errors:       []string{"AccessDeniedException", "InternalServerException", "ModelErrorException", "ModelNotReadyException", "ModelStreamErrorException", "ModelTimeoutException", "ResourceNotFoundException", "ServiceQuotaExceededException", "ServiceUnavailableException", "ThrottlingException", "ValidationException"},
		StreamErrors: []string{"InternalServerException", "ModelStreamErrorException", "ModelTimeoutException", "ServiceUnavailableException", "ThrottlingException", "ValidationException"},
	},
	"InvokeModelWithResponseStream": {
		Errors:       []string{"AccessDeniedException", "InternalServerException", "ModelErrorException", "ModelNotReadyException", "ModelStreamErrorException", "ModelTimeoutException", "ResourceNotFoundException", "ServiceQuotaExceededException", "ServiceUnavailableException", "ThrottlingException", "ValidationException"},
		StreamErrors: []string{"InternalServerException", "ModelStreamErrorException", "ModelTimeoutException", "ServiceUnavailableException", "ThrottlingException", "ValidationException"},
	},
	"ListAsyncInvokes": {
		Errors: []string{"AccessDeniedException", "InternalServerException", "ThrottlingException", "ValidationException"},
	},
	"StartAsyncInvoke": {
		Errors: []string{"AccessDeniedException", "ConflictException", "InternalServerException", "ResourceNotFoundException", "ServiceQuotaExceededException", "ServiceUnavailableException", "ThrottlingException", "ValidationException"},
	},
}

// declares reports whether Bedrock Runtime's op may answer code: before a stream starts (midStream false), or
// as an exception frame inside its stream (midStream true).
func declares(op, code string, midStream bool) bool {
	o := bedrockOperations[op]
	if midStream {
		return slices.Contains(o.StreamErrors, code)
	}
	return slices.Contains(o.Errors, code)
}

// declaredBy lists, of ops, those that declare code (see declares).
func declaredBy(ops []string, code string, midStream bool) []string {
	var out []string
	for _, op := range ops {
		if declares(op, code, midStream) {
			out = append(out, op)
		}
	}
	return out
}

// streamOperations are, of ops, those that answer with an event stream.
func streamOperations(ops []string) []string {
	var out []string
	for _, op := range ops {
		if bedrockOperations[op].stream() {
			out = append(out, op)
		}
	}
	return out
}

// declaredList lists what op declares, for an error message: its errors, or its stream's exception events.
func declaredList(op string, midStream bool) string {
	if midStream {
		return strings.Join(bedrockOperations[op].StreamErrors, ", ")
	}
	return strings.Join(bedrockOperations[op].Errors, ", ")
}
