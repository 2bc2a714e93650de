// Package check walks a cross-account Bedrock setup the way the relay will use it — who am I, assume the
// target role, call the model, read the quotas — and turns each known failure into a diagnosis that names the
// fix, with the policy statement to add where one is missing.
//
// Some failures cannot be told apart from the caller's side: STS answers AccessDenied without a reason when a
// role trust policy refuses, and the caller cannot read the other account's trust policy. The diagnoses then
// say every possibility the evidence leaves open, most likely first, instead of guessing.
package check
