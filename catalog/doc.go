// Package catalog is the data bedrock-relay knows about Amazon Bedrock models: foundation models, the system
// cross-region inference profiles that serve them per geography (us., eu., jp., apac., au., ca., us-gov.,
// global.) and the regions each profile routes to.
//
// The data lives in catalog.yaml, embedded at build time, so that adding a model or a region is an edit to one
// data file. The sandbox uses it to decide what a request may call and where it is routed; the IAM policy
// generator uses it to list the foundation-model ARN in every destination region of a profile.
package catalog
