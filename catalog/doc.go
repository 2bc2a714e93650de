// Package catalog is the data bedrock-relay knows about Amazon Bedrock models: foundation models, the system
// cross-region inference profiles that serve them per geography (us., eu., jp., apac., au., ca., us-gov.,
// global.) and the regions each profile routes to, and what each Anthropic model accepts in an InvokeModel
// body on Bedrock (the anthropic table: anthropic_version values and anthropic_beta flags, each row with its
// evidence).
//
// The data lives in catalog.yaml, embedded at build time, so that adding a model or a region is an edit to one
// data file; a relay config adds models without a release (Catalog.With). The sandbox uses it to decide what a
// request may call, where it is routed and which versions and betas a model takes; the IAM policy generator
// uses it to list the foundation-model ARN in every destination region of a profile; the router's
// compatibility shim adapts bodies to it (docs/compat.md).
package catalog
