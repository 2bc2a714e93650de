// Package iampolicy reads, evaluates and writes IAM policy documents for the cross-account Bedrock setup
// bedrock-relay depends on: a caller role in one account assumes a role in the Bedrock account, whose trust
// policy names the caller and whose permission policy allows the model.
//
// The same evaluator serves the offline sandbox, which must refuse exactly what AWS would refuse and with AWS's
// words, and the CLI's check command, which explains why a setup fails. So Evaluate implements the parts of
// the AWS evaluation logic this setup meets (explicit deny, SCPs, session policies, boundaries, cross-account
// trust) rather than a simplified allow-list, and Decision says which policy decided.
//
// The generators (Trust, Permissions, Caller) derive the foundation-model ARNs from the catalogue, because a
// cross-region inference profile silently needs the model allowed in every destination region, and a missing
// region only fails when a request happens to be routed there.
package iampolicy
