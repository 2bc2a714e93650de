package relay

import (
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws/arn"
)

// AccountOf is the account id field of an ARN (arn:partition:service:region:account:resource): "" for an ARN
// without one (a foundation model's) and for a string that is not an ARN.
func AccountOf(s string) string {
	a, err := arn.Parse(s)
	if err != nil {
		return ""
	}
	return a.AccountID
}

// PartitionOf is the partition field of an ARN (aws, aws-cn, aws-us-gov, ...), or def when s is not an ARN.
func PartitionOf(s, def string) string {
	a, err := arn.Parse(s)
	if err != nil {
		return def
	}
	return a.Partition
}

// RoleAccount is the account of an IAM role ARN, or an error naming the form expected.
func RoleAccount(roleARN string) (string, error) {
	m := roleARNPattern.FindStringSubmatch(roleARN)
	if m == nil {
		return "", fmt.Errorf("%q is not a role ARN like arn:aws:iam::222222222222:role/BedrockAccessRole", roleARN)
	}
	return m[2], nil
}
