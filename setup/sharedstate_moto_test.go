package setup

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

// ec2 sends one EC2 Query API call to moto as account (unsigned, as put does: the module has no EC2 client)
// and decodes the XML answer into out.
func (m *moto) ec2(t *testing.T, ctx context.Context, account string, params url.Values, out any) {
	t.Helper()
	params.Set("Version", "2016-11-15")
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, m.url+"/", strings.NewReader(params.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("x-moto-account-id", account)
	// moto routes by the credential scope's service; it does not verify the signature.
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAMOTOTESTING00000/20250101/"+seedRegion+"/ec2/aws4_request, SignedHeaders=host, Signature=00")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("EC2 %s: %s %s", params.Get("Action"), resp.Status, b)
	}
	if err := xml.Unmarshal(b, out); err != nil {
		t.Fatalf("EC2 %s: %v\n%s", params.Get("Action"), err, b)
	}
}

type ec2SecurityGroup struct {
	GroupID       string `xml:"groupId"`
	VpcID         string `xml:"vpcId"`
	IPPermissions []struct {
		IPProtocol string   `xml:"ipProtocol"`
		FromPort   int      `xml:"fromPort"`
		ToPort     int      `xml:"toPort"`
		Groups     []string `xml:"groups>item>groupId"`
		IPRanges   []string `xml:"ipRanges>item>cidrIp"`
	} `xml:"ipPermissions>item"`
}

// withoutCache is the caller template without what moto's CloudFormation cannot create: the
// AWS::ElastiCache::ServerlessCache (moto skips the type) and the outputs that read its attributes (a
// template whose Outputs name a resource moto skipped fails). It returns the names of what it took out.
func withoutCache(t *testing.T, body []byte) ([]byte, []string) {
	t.Helper()
	var tpl map[string]any
	if err := yaml.Unmarshal(body, &tpl); err != nil {
		t.Fatal(err)
	}
	var removed []string
	resources := tpl["Resources"].(map[string]any)
	for id, r := range resources {
		if r.(map[string]any)["Type"] == "AWS::ElastiCache::ServerlessCache" {
			delete(resources, id)
			removed = append(removed, id)
		}
	}
	outputs := tpl["Outputs"].(map[string]any)
	for id, o := range outputs {
		b, _ := yaml.Marshal(o)
		for _, r := range removed {
			if strings.Contains(string(b), "- "+r+"\n") || strings.Contains(string(b), "${"+r+".") {
				delete(outputs, id)
				removed = append(removed, "Outputs."+id)
			}
		}
	}
	out, err := yaml.Marshal(tpl)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(removed)
	return out, removed
}

// TestCloudFormationSharedStateInMoto deploys the caller template with shared state into moto, in a VPC and
// two subnets made for it, and reads back what moto creates: the two security groups and the cache's one
// ingress rule (TCP 6379-6380 from the relay's group, nothing else), and the function in those subnets with
// the relay's group.
//
// Not deployed, and checked as written by TestCloudFormationSharedState instead: the ServerlessCache (moto's
// CloudFormation has no AWS::ElastiCache::ServerlessCache), the outputs that read its endpoint, and the role's
// ManagedPolicyArns (moto's AWS::IAM::Role ignores the property).
func TestCloudFormationSharedStateInMoto(t *testing.T) {
	m := startMoto(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const acct = "111111111111"

	p, err := New(twoAccounts())
	if err != nil {
		t.Fatal(err)
	}
	files, err := CloudFormation(p, TemplateOptions{SharedState: &SharedState{}})
	if err != nil {
		t.Fatal(err)
	}
	caller := files[0]
	body, removed := withoutCache(t, caller.Body)
	if diff := cmp.Diff([]string{"Cache", "Outputs.CacheEndpointAddress", "Outputs.CacheEndpointPort", "Outputs.RelayStateConfig"}, removed); diff != "" {
		t.Fatalf("taken out for moto (-want +got):\n%s", diff)
	}
	caller.Body = body

	var vpc struct {
		ID string `xml:"vpc>vpcId"`
	}
	m.ec2(t, ctx, acct, url.Values{"Action": {"CreateVpc"}, "CidrBlock": {"10.20.0.0/16"}}, &vpc)
	var subnets []string
	for i, az := range []string{"ap-northeast-1a", "ap-northeast-1c"} {
		var sn struct {
			ID string `xml:"subnet>subnetId"`
		}
		m.ec2(t, ctx, acct, url.Values{"Action": {"CreateSubnet"}, "VpcId": {vpc.ID}, "AvailabilityZone": {az},
			"CidrBlock": {[]string{"10.20.1.0/24", "10.20.2.0/24"}[i]}}, &sn)
		subnets = append(subnets, sn.ID)
	}
	if vpc.ID == "" || subnets[0] == "" || subnets[1] == "" {
		t.Fatalf("vpc %q subnets %q", vpc.ID, subnets)
	}

	m.put(t, acct, "/relay-code", []byte(`<CreateBucketConfiguration><LocationConstraint>ap-northeast-1</LocationConstraint></CreateBucketConfiguration>`))
	m.put(t, acct, "/relay-code/bedrock-relay-lambda-arm64.zip", append([]byte("PK\x05\x06"), make([]byte, 18)...))
	deployStack(t, ctx, m.config(acct), caller, map[string]string{"CodeS3Bucket": "relay-code", "VpcId": vpc.ID, "SubnetIds": strings.Join(subnets, ",")})

	cf := cloudformation.NewFromConfig(m.config(acct))
	stacks, err := cf.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(caller.Stack)})
	if err != nil {
		t.Fatal(err)
	}
	var relaySG string
	for _, o := range stacks.Stacks[0].Outputs {
		if aws.ToString(o.OutputKey) == "RelaySecurityGroupId" {
			relaySG = aws.ToString(o.OutputValue)
		}
	}
	cacheRes, err := cf.DescribeStackResource(ctx, &cloudformation.DescribeStackResourceInput{StackName: aws.String(caller.Stack), LogicalResourceId: aws.String("CacheSecurityGroup")})
	if err != nil {
		t.Fatal(err)
	}
	cacheSG := aws.ToString(cacheRes.StackResourceDetail.PhysicalResourceId)
	if !strings.HasPrefix(relaySG, "sg-") || !strings.HasPrefix(cacheSG, "sg-") || relaySG == cacheSG {
		t.Fatalf("relay group %q (output RelaySecurityGroupId), cache group %q: want two security groups", relaySG, cacheSG)
	}

	var groups struct {
		Groups []ec2SecurityGroup `xml:"securityGroupInfo>item"`
	}
	m.ec2(t, ctx, acct, url.Values{"Action": {"DescribeSecurityGroups"}, "GroupId.1": {relaySG}, "GroupId.2": {cacheSG}}, &groups)
	byID := map[string]ec2SecurityGroup{}
	for _, g := range groups.Groups {
		byID[g.GroupID] = g
	}
	relay, cache := byID[relaySG], byID[cacheSG]
	if relay.VpcID != vpc.ID || cache.VpcID != vpc.ID {
		t.Errorf("groups in VPCs %q and %q, want %s (the VpcId parameter)", relay.VpcID, cache.VpcID, vpc.ID)
	}
	if len(relay.IPPermissions) != 0 {
		t.Errorf("relay group admits %+v, want nothing", relay.IPPermissions)
	}
	if len(cache.IPPermissions) != 1 {
		t.Fatalf("cache group rules %+v, want one", cache.IPPermissions)
	}
	r := cache.IPPermissions[0]
	if r.IPProtocol != "tcp" || r.FromPort != 6379 || r.ToPort != 6380 || !cmp.Equal(r.Groups, []string{relaySG}) || len(r.IPRanges) != 0 {
		t.Errorf("cache group rule %s %d-%d from groups %v and ranges %v, want tcp 6379-6380 from %s only", r.IPProtocol, r.FromPort, r.ToPort, r.Groups, r.IPRanges, relaySG)
	}

	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m.url+"/2015-03-31/functions/bedrock-relay", nil)
	req.Header.Set("x-moto-account-id", acct)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAMOTOTESTING00000/20250101/"+seedRegion+"/lambda/aws4_request, SignedHeaders=host, Signature=00")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var fn struct {
		Configuration struct {
			VpcConfig struct{ SubnetIds, SecurityGroupIds []string }
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&fn); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GetFunction: %s %v", resp.Status, err)
	}
	if got := fn.Configuration.VpcConfig; !cmp.Equal(got.SubnetIds, subnets) || !cmp.Equal(got.SecurityGroupIds, []string{relaySG}) {
		t.Errorf("function VpcConfig subnets %v groups %v, want %v and [%s]", got.SubnetIds, got.SecurityGroupIds, subnets, relaySG)
	}
}
