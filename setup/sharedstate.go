package setup

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// SharedState asks the caller side of a template for what state.backend: redis needs in AWS: an ElastiCache
// Serverless cache for Valkey in the caller account (TLS is always on for serverless caches), in subnets of
// an existing VPC that the template takes as parameters (CloudFormation VpcId and SubnetIds, Terraform
// var.vpc_id and var.subnet_ids); a security group for the relay and one for the cache that admits TCP 6379
// (the endpoint) and 6380 (the reader endpoint) from the relay's group only; the AWSLambdaVPCAccessExecutionRole
// managed policy on the execution role; the function (when the template has one) in those subnets with the
// relay's group; and outputs with the endpoint, the relay's group and the config's state: stanza.
//
// The cache has no user group: access is by security group, so the stanza names no user and no password, and
// no secret is ever written into a template.
type SharedState struct {
	// CacheName of the serverless cache; default "bedrock-relay-state". 1 to 40 lowercase letters, digits
	// and single hyphens, starting with a letter (ElastiCache's rule for the name).
	CacheName string
	// KeyPrefix is written into the stanza when set: the config's state.redis.key_prefix.
	KeyPrefix string
}

// Ports the cache listens on: the endpoint and the reader endpoint of a serverless cache.
const (
	CachePort       = 6379
	CacheReaderPort = 6380
)

// DefaultCacheName is the serverless cache's name when SharedState.CacheName is empty.
const DefaultCacheName = "bedrock-relay-state"

var cacheNameRe = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)

func (s SharedState) withDefaults() (SharedState, error) {
	if s.CacheName == "" {
		s.CacheName = DefaultCacheName
	}
	var errs []string
	if len(s.CacheName) > 40 || !cacheNameRe.MatchString(s.CacheName) {
		errs = append(errs, fmt.Sprintf("cache name %q: want 1 to 40 lowercase letters, digits and single hyphens, starting with a letter", s.CacheName))
	}
	// As the config refuses it, and a brace or a line break would also change the templates' substitutions.
	if strings.ContainsAny(s.KeyPrefix, "{}\r\n") {
		errs = append(errs, fmt.Sprintf("key prefix %q: no { or } and no line breaks", s.KeyPrefix))
	}
	if len(errs) > 0 {
		return s, fmt.Errorf("%w: shared state: %s", ErrInvalid, strings.Join(errs, "; "))
	}
	return s, nil
}

// VPCAccessPolicyARN is the AWS managed policy a Lambda function in a VPC needs on its execution role (it
// creates and deletes the function's network interfaces), in the partition of the caller's role.
func VPCAccessPolicyARN(callerRoleARN string) string {
	return "arn:" + partitionOf(callerRoleARN) + ":iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
}

// StateStanza is the relay config's state: section for the generated cache, in block style, one line per
// element and no trailing newline; addr is the endpoint's host:port (or what stands for it in a template).
func (s SharedState) StateStanza(addr string) string {
	lines := []string{
		"state:",
		"  backend: redis",
		"  redis:",
		`    addrs: ["` + addr + `"]`,
		"    cluster: true",
		"    tls: true",
	}
	if s.KeyPrefix != "" {
		lines = append(lines, "    key_prefix: "+strconv.Quote(s.KeyPrefix))
	}
	return strings.Join(lines, "\n")
}

// stateFlow is StateStanza on one line (YAML flow style), for a CloudFormation output.
func (s SharedState) stateFlow(addr string) string {
	redis := `addrs: ["` + addr + `"], cluster: true, tls: true`
	if s.KeyPrefix != "" {
		redis += ", key_prefix: " + strconv.Quote(s.KeyPrefix)
	}
	return "{state: {backend: redis, redis: {" + redis + "}}}"
}

// sharedStateNotes are the comment lines both kinds of template put before the shared-state pieces.
func sharedStateNotes(withFunction bool) []string {
	notes := []string{
		"Shared state: an ElastiCache Serverless cache for Valkey (TLS always on, no user group: access is by",
		"security group) admitting TCP 6379-6380 only from the relay's security group.",
	}
	if withFunction {
		notes = append(notes,
			"The function runs in the same subnets: they need a route to STS and Bedrock Runtime (a NAT gateway,",
			"or interface VPC endpoints for sts and bedrock-runtime).")
	} else {
		notes = append(notes, "Attach the relay's security group to the relay (function, tasks or instances) in these subnets.")
	}
	return notes
}
