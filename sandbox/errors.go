package sandbox

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"strconv"
)

// awsError is an error as an AWS service returns it: a code the SDKs map to a typed error, a message and an
// HTTP status. The same value is written in each protocol's shape (rest-json for Bedrock, query/XML for STS,
// JSON 1.1 for Service Quotas, an exception frame inside an event stream).
type awsError struct {
	Code    string // e.g. "ValidationException", "AccessDenied"
	Message string
	Status  int
	// Sender or Receiver, for STS's XML shape.
	Fault string
	// RetryAfter, when set, is sent as a Retry-After header (seconds). Bedrock does not always send one; the
	// sandbox does on throttles so that clients can be tested against it.
	RetryAfter int
}

func (e *awsError) Error() string { return e.Code + ": " + e.Message }

func newError(status int, code, format string, args ...any) *awsError {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	fault := "Sender"
	if status >= 500 {
		fault = "Receiver"
	}
	return &awsError{Code: code, Message: msg, Status: status, Fault: fault}
}

// bedrockError is a Bedrock Runtime error with the HTTP status the service model gives its code
// (bedrockErrorStatus); 400 for a code the model does not declare.
func bedrockError(code, format string, args ...any) *awsError {
	status, ok := bedrockErrorStatus[code]
	if !ok {
		status = http.StatusBadRequest
	}
	return newError(status, code, format, args...)
}

func validationException(format string, args ...any) *awsError {
	return bedrockError("ValidationException", format, args...)
}

func accessDeniedException(format string, args ...any) *awsError {
	return bedrockError("AccessDeniedException", format, args...)
}

func throttlingException(msg string) *awsError {
	return bedrockError("ThrottlingException", "%s", msg)
}

// defaultMessage is what Bedrock says for an error injected without a message.
func defaultMessage(code string) string {
	switch code {
	case "ThrottlingException":
		return "Too many requests, please wait before trying again."
	case "ServiceUnavailableException":
		return "Bedrock is unable to process your request."
	case "InternalServerException":
		return "The server encountered an internal error while processing the request."
	case "ModelNotReadyException":
		return "Model is not ready to serve inference requests. The AWS SDK will automatically retry the operation up to 5 times."
	case "ModelTimeoutException":
		return "Model has timed out in processing the request. Try your request again."
	case "ModelErrorException":
		return "The system encountered an unexpected error during processing. Try your request again."
	case "ModelStreamErrorException":
		return "The model stream encountered an error. Try your request again."
	case "ServiceQuotaExceededException":
		return "Your request exceeds the service quota for your account."
	case "AccessDeniedException":
		return "You don't have access to the model with the specified model ID."
	case "ResourceNotFoundException":
		// wording: from documentation, not observed
		return "The specified resource ARN was not found. Check the ARN and try your request again."
	case "ValidationException":
		// wording: from documentation, not observed
		return "The input fails to satisfy the constraints specified by Amazon Bedrock."
	case "ConflictException":
		// wording: from documentation, not observed
		return "Error occurred because of a conflict while performing an operation."
	}
	return "The request failed."
}

// stsFaultErrors are the STS errors a Fault may inject, with the status and wording STS answers them with
// (Throttling is a 400 in STS's query protocol, not a 429).
var stsFaultErrors = map[string]struct {
	Status  int
	Message string
}{
	"Throttling":         {http.StatusBadRequest, "Rate exceeded"},
	"ServiceUnavailable": {http.StatusServiceUnavailable, "The request has failed due to a temporary failure of the server."},
	"InternalFailure":    {http.StatusInternalServerError, "The request processing has failed because of an unknown error, exception or failure."},
}

func writeBedrockError(w http.ResponseWriter, requestID string, e *awsError) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Amzn-ErrorType", e.Code+":http://internal.amazon.com/coral/com.amazon.bedrock/")
	h.Set("x-amzn-RequestId", requestID)
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	w.WriteHeader(e.Status)
	body, _ := json.Marshal(struct {
		Message string `json:"message"`
	}{e.Message})
	w.Write(body)
}

func writeSTSError(w http.ResponseWriter, requestID string, e *awsError) {
	type errXML struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	type respXML struct {
		XMLName   xml.Name `xml:"ErrorResponse"`
		Xmlns     string   `xml:"xmlns,attr"`
		Error     errXML   `xml:"Error"`
		RequestID string   `xml:"RequestId"`
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", requestID)
	w.WriteHeader(e.Status)
	out, _ := xml.Marshal(respXML{Xmlns: "https://sts.amazonaws.com/doc/2011-06-15/",
		Error: errXML{Type: e.Fault, Code: e.Code, Message: e.Message}, RequestID: requestID})
	w.Write([]byte(xml.Header))
	w.Write(out)
}

func writeJSON11Error(w http.ResponseWriter, requestID string, e *awsError) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("x-amzn-RequestId", requestID)
	w.WriteHeader(e.Status)
	body, _ := json.Marshal(map[string]string{"__type": e.Code, "message": e.Message})
	w.Write(body)
}
