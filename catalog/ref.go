package catalog

import (
	"fmt"
	"net/url"
	"strings"
)

// Kind says what a modelId names.
type Kind int

const (
	KindFoundationModel    Kind = iota + 1 // "anthropic.claude-..." or arn:...:foundation-model/...
	KindSystemProfile                      // "jp.anthropic.claude-..." or arn:...:inference-profile/...
	KindApplicationProfile                 // arn:...:application-inference-profile/...
	KindProvisionedModel                   // arn:...:provisioned-model/...
)

func (k Kind) String() string {
	switch k {
	case KindFoundationModel:
		return "foundation-model"
	case KindSystemProfile:
		return "inference-profile"
	case KindApplicationProfile:
		return "application-inference-profile"
	case KindProvisionedModel:
		return "provisioned-model"
	}
	return "unknown"
}

// Ref is a parsed Bedrock modelId: a plain id or an ARN.
type Ref struct {
	Kind Kind
	// ID is the resource id: the foundation-model id, the profile id, or the application profile's id.
	ID string
	// From an ARN; empty for plain ids.
	Partition, Region, Account string
	IsARN                      bool
}

// ParseRef parses a modelId as Bedrock accepts it in the request path, percent-encoded or not.
func ParseRef(modelID string) (Ref, error) {
	if strings.Contains(modelID, "%") {
		dec, err := url.PathUnescape(modelID)
		if err != nil {
			return Ref{}, fmt.Errorf("model id %q is not valid percent-encoding", modelID)
		}
		modelID = dec
	}
	if modelID == "" {
		return Ref{}, fmt.Errorf("model id is empty")
	}
	if len(modelID) > 2048 {
		return Ref{}, fmt.Errorf("model id is longer than 2048 characters")
	}
	if !strings.HasPrefix(modelID, "arn:") {
		if strings.ContainsAny(modelID, "/ \t\n") {
			return Ref{}, fmt.Errorf("model id %q is neither a model id nor an ARN", modelID)
		}
		if _, _, ok := SplitProfileID(modelID); ok {
			return Ref{Kind: KindSystemProfile, ID: modelID}, nil
		}
		return Ref{Kind: KindFoundationModel, ID: modelID}, nil
	}
	// arn:partition:bedrock:region:account:type/id (the id may itself contain ':').
	parts := strings.SplitN(modelID, ":", 6)
	if len(parts) != 6 || parts[2] != "bedrock" {
		return Ref{}, fmt.Errorf("model ARN %q is not a Bedrock ARN (arn:aws:bedrock:REGION:ACCOUNT:TYPE/ID)", modelID)
	}
	typ, id, ok := strings.Cut(parts[5], "/")
	if !ok || id == "" {
		return Ref{}, fmt.Errorf("model ARN %q has no resource id", modelID)
	}
	r := Ref{ID: id, Partition: parts[1], Region: parts[3], Account: parts[4], IsARN: true}
	switch typ {
	case "foundation-model":
		r.Kind = KindFoundationModel
	case "inference-profile":
		r.Kind = KindSystemProfile
	case "application-inference-profile":
		r.Kind = KindApplicationProfile
	case "provisioned-model":
		r.Kind = KindProvisionedModel
	default:
		return Ref{}, fmt.Errorf("model ARN %q has resource type %q; want foundation-model, inference-profile or application-inference-profile", modelID, typ)
	}
	return r, nil
}

// FoundationModelARN is the ARN IAM checks for a foundation model served in region. Foundation models have no
// account in their ARN. An empty region gives the regionless form that global profiles use.
func FoundationModelARN(partition, region, modelID string) string {
	if partition == "" {
		partition = "aws"
	}
	return "arn:" + partition + ":bedrock:" + region + "::foundation-model/" + modelID
}

// InferenceProfileARN is the ARN of a system inference profile in an account and source region.
func InferenceProfileARN(partition, region, account, profileID string) string {
	if partition == "" {
		partition = "aws"
	}
	return "arn:" + partition + ":bedrock:" + region + ":" + account + ":inference-profile/" + profileID
}

// ApplicationProfileARN is the ARN of an application inference profile.
func ApplicationProfileARN(partition, region, account, id string) string {
	if partition == "" {
		partition = "aws"
	}
	return "arn:" + partition + ":bedrock:" + region + ":" + account + ":application-inference-profile/" + id
}

// PartitionOf returns the partition of a region name.
func PartitionOf(region string) string {
	switch {
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	}
	return "aws"
}
