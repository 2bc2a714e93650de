package lambdafn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"

	relay "github.com/bedrock-relay/bedrock-relay"
	"github.com/bedrock-relay/bedrock-relay/bedrock"
	"github.com/bedrock-relay/bedrock-relay/credcache"
	"github.com/bedrock-relay/bedrock-relay/internal/awsenv"
)

// Function is the Lambda handler. Build it once at init; it is safe for concurrent use.
type Function struct {
	cfg    Config
	client *bedrock.Client
	log    *slog.Logger
	// initErr is a configuration problem found at init: every invocation answers it.
	initErr error
}

var _ lambda.Handler = (*Function)(nil)

// Response is the seed's answer shape.
type Response struct {
	StatusCode int    `json:"statusCode"`
	Body       string `json:"body"`
}

const successMessage = "Cross-account Bedrock access successful"

// NewFromEnv builds the function from the environment: configuration and source credentials through getenv
// (awsenv.Load: in Lambda, the execution role's keys the runtime sets; elsewhere the SDK default chain). It
// does not fail: a problem is logged now and answered by every invocation, so that the invoker sees it
// rather than a crashed runtime.
func NewFromEnv(ctx context.Context, getenv func(string) string, log *slog.Logger) *Function {
	cfg, err := ConfigFromEnv(getenv)
	if err != nil {
		return failed(cfg, log, err)
	}
	src, err := awsenv.Load(ctx, awsenv.Options{Getenv: getenv})
	if err != nil {
		return failed(cfg, log, err)
	}
	return New(ctx, cfg, src, log)
}

func failed(cfg Config, log *slog.Logger, err error) *Function {
	log.Error("function not configured", "error", err)
	return &Function{cfg: cfg, log: log, initErr: err}
}

// New builds the function from cfg and the source configuration src, and warms it up: it looks up the caller
// and assumes the target role, logging the seed's milestones. A failure there is logged and tried again by
// each invocation.
func New(ctx context.Context, cfg Config, src aws.Config, log *slog.Logger) *Function {
	f := &Function{cfg: cfg, log: log}
	client, err := bedrock.New(src, cfg.Target, bedrock.Options{Credentials: credcache.Options{OnRefresh: f.logRefresh}})
	if err != nil {
		return failed(cfg, log, err)
	}
	f.client = client
	log.Info("configured", "target_role", cfg.Target.RoleARN, "target_account", cfg.Target.Account(),
		"region", cfg.Target.Region, "model_id", cfg.ModelID, "session_duration_s", int(cfg.Target.SessionDuration.Seconds()),
		"external_id_set", cfg.Target.ExternalID != "", "log_prompts", cfg.LogPrompts)
	if id, err := client.CallerIdentity(ctx); err != nil {
		log.Warn("caller identity not available yet", "error", err)
	} else {
		log.Info("lambda account", "lambda_account", id.Account, "caller_arn", id.ARN)
	}
	log.Info("assuming role", "target_account", cfg.Target.Account(), "role_arn", cfg.Target.RoleARN)
	if _, err := client.AssumedAccount(ctx); err != nil {
		f.logError(ctx, "role not assumed yet", err)
	}
	return f
}

// Client is the function's Bedrock client (for tests and metrics).
func (f *Function) Client() *bedrock.Client { return f.client }

// logRefresh logs each AssumeRole: the seed's "Role assumed: 111111111111 -> 222222222222". It holds no secret.
func (f *Function) logRefresh(r credcache.Refresh) {
	if r.Err != nil {
		return // logged with its hint by whoever needed the credentials
	}
	caller := "?"
	if id, ok := f.client.Caller(); ok {
		caller = id.Account
	}
	f.log.Info("role assumed "+caller+" -> "+r.Account, "lambda_account", caller, "bedrock_account", r.Account,
		"role_arn", r.Target.RoleARN, "expires", r.Expires.UTC().Format(time.RFC3339), "duration_ms", r.Took.Milliseconds())
}

// Invoke implements lambda.Handler: every payload gets an answer, never an error.
func (f *Function) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	var resp Response
	if ev, err := decodeEvent(payload); err != nil {
		resp = f.answerError(ctx, err, "")
	} else {
		resp = f.Handle(ctx, ev)
	}
	return marshal(resp)
}

// Handle answers one event.
func (f *Function) Handle(ctx context.Context, ev Event) Response {
	if f.initErr != nil {
		return f.answerError(ctx, f.initErr, "")
	}
	modelID, body, err := ev.body(f.cfg)
	if err != nil {
		return f.answerError(ctx, err, ev.ModelID)
	}
	id, err := f.client.CallerIdentity(ctx)
	if err != nil {
		return f.answerError(ctx, err, modelID)
	}
	log := f.log.With(requestAttrs(ctx)...)
	args := []any{"lambda_account", id.Account, "target_account", f.cfg.Target.Account(), "model_id", modelID, "region", f.cfg.Target.Region}
	if f.cfg.LogPrompts {
		args = append(args, "prompt", ev.Prompt)
		if len(ev.Messages) > 0 {
			args = append(args, "messages", ev.Messages)
		}
	}
	log.Info("invoking bedrock", args...)
	start := time.Now()
	resp, err := f.client.Invoke(ctx, body, modelID)
	if err != nil {
		return f.answerError(ctx, err, modelID)
	}
	took := time.Since(start)
	reply, err := bedrock.ParseAnthropicReply(resp.Body)
	if err != nil {
		return f.answerError(ctx, err, modelID)
	}
	acct, err := f.client.AssumedAccount(ctx)
	if err != nil {
		return f.answerError(ctx, err, modelID)
	}
	u := usage{InputTokens: resp.Usage.InputTokens, OutputTokens: resp.Usage.OutputTokens}
	if u.InputTokens == 0 && u.OutputTokens == 0 {
		u = usage{InputTokens: reply.Usage.InputTokens, OutputTokens: reply.Usage.OutputTokens}
	}
	args = []any{"duration_ms", took.Milliseconds(), "input_tokens", u.InputTokens, "output_tokens", u.OutputTokens,
		"stop_reason", reply.StopReason, "bedrock_request_id", resp.RequestID, "bedrock_account", acct}
	if f.cfg.LogPrompts {
		args = append(args, "response", reply.Text())
	}
	log.Info("bedrock invocation succeeded", args...)
	return answer(http.StatusOK, successBody{
		Message:        successMessage,
		LambdaAccount:  id.Account,
		BedrockAccount: acct,
		Response:       reply.Text(),
		ModelID:        modelID,
		Region:         f.cfg.Target.Region,
		Usage:          u,
	})
}

type usage struct {
	InputTokens  int `json:"input_tokens"`
	OutputTokens int `json:"output_tokens"`
}

// successBody is the seed's body, in the seed's key order, plus model_id, region and usage.
type successBody struct {
	Message        string `json:"message"`
	LambdaAccount  string `json:"lambda_account"`
	BedrockAccount string `json:"bedrock_account"`
	Response       string `json:"response"`
	ModelID        string `json:"model_id"`
	Region         string `json:"region"`
	Usage          usage  `json:"usage"`
}

type errorBody struct {
	Message string      `json:"message"`
	Error   errorDetail `json:"error"`
	ModelID string      `json:"model_id,omitempty"`
	Region  string      `json:"region,omitempty"`
	Role    string      `json:"target_role,omitempty"`
}

type errorDetail struct {
	Code      string   `json:"code"`
	Message   string   `json:"message"`
	Field     string   `json:"field,omitempty"`
	Problems  []string `json:"problems,omitempty"`
	Operation string   `json:"operation,omitempty"`
	Hint      string   `json:"hint,omitempty"`
	RequestID string   `json:"request_id,omitempty"`
}

// answerError turns err into the answer for it, and logs it once.
func (f *Function) answerError(ctx context.Context, err error, modelID string) Response {
	status, b := f.describe(ctx, err, modelID)
	level := slog.LevelError
	if status < 500 {
		level = slog.LevelWarn
	}
	f.log.Log(ctx, level, "invocation failed", append(requestAttrs(ctx),
		"status", status, "code", b.Error.Code, "error", b.Error.Message, "operation", b.Error.Operation,
		"hint", b.Error.Hint, "field", b.Error.Field)...)
	return answer(status, b)
}

func (f *Function) logError(ctx context.Context, msg string, err error) {
	_, b := f.describe(ctx, err, "")
	f.log.Warn(msg, "code", b.Error.Code, "error", b.Error.Message, "operation", b.Error.Operation, "hint", b.Error.Hint)
}

// describe is the status code and body answering err.
func (f *Function) describe(ctx context.Context, err error, modelID string) (int, errorBody) {
	b := errorBody{Message: "Cross-account Bedrock access failed", ModelID: modelID, Region: f.cfg.Target.Region, Role: f.cfg.Target.RoleARN}
	var (
		ee *eventError
		ce *ConfigError
		be *bedrock.Error
	)
	switch {
	case errors.As(err, &ee):
		b.Message = "Bad request"
		b.Error = errorDetail{Code: "ValidationException", Message: ee.Error(), Field: ee.Field}
		return http.StatusBadRequest, b
	case errors.As(err, &ce):
		b.Error = errorDetail{Code: "InvalidConfiguration", Message: "the function's environment variables are not valid", Problems: ce.Problems,
			Hint: "fix the function's environment variables; each problem names one"}
		return http.StatusInternalServerError, b
	case errors.As(err, &be):
		b.Error = errorDetail{Code: be.Code, Message: be.Message, Operation: be.Op, Hint: be.Hint(), RequestID: be.RequestID}
		if b.Error.Code == "" {
			b.Error.Code = "InternalFailure"
		}
		if b.ModelID == "" {
			b.ModelID = be.ModelID
		}
	default:
		b.Error = errorDetail{Code: "InternalFailure", Message: err.Error()}
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil:
		if b.Error.Code == "InternalFailure" {
			b.Error.Code = "Timeout"
		}
		return http.StatusGatewayTimeout, b
	case errors.Is(err, relay.ErrInvalidTarget):
		return http.StatusInternalServerError, b
	case errors.Is(err, relay.ErrInvalidRequest):
		return http.StatusBadRequest, b
	case errors.Is(err, relay.ErrAccessDenied):
		return http.StatusForbidden, b
	case errors.Is(err, relay.ErrNotFound):
		return http.StatusNotFound, b
	case errors.Is(err, relay.ErrThrottled):
		return http.StatusTooManyRequests, b
	}
	return http.StatusBadGateway, b
}

func requestAttrs(ctx context.Context) []any {
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		return []any{"aws_request_id", lc.AwsRequestID}
	}
	return nil
}

// answer encodes body as the string the seed returns: non-ASCII text stays readable (Python's
// ensure_ascii=False), and <, >, & are not escaped either.
func answer(status int, body any) Response {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(body); err != nil {
		// Only plain structs of strings and ints are encoded here.
		panic("lambdafn: encode answer: " + err.Error())
	}
	return Response{StatusCode: status, Body: string(bytes.TrimRight(buf.Bytes(), "\n"))}
}

func marshal(r Response) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}
