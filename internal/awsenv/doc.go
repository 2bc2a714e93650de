// Package awsenv is the one place a program of this module gets its AWS configuration: the source
// credentials (the SDK's default chain, or the keys in the environment it is given), the region and an
// endpoint override, and an HTTP client that is safe against a server on this machine.
//
// serve, the Lambda functions, check and invoke all load their configuration here, so that a region, an
// endpoint or a credential source means the same to each of them.
package awsenv
