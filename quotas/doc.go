// Package quotas reads an account's Amazon Bedrock quotas from Service Quotas: the requests and tokens per
// minute and the tokens per day that apply to a model as it is called (on demand, through a cross-region
// profile, or through a global one). It has the one matcher of Service Quotas' quota names, used by the
// relay's `budgets: auto` and by check, so the two cannot disagree about which quota applies.
package quotas
