package sandbox

import (
	"math"
	"sync"
	"time"
)

// quotaBook keeps the quotas and their sliding windows per account × region × quota key. Bedrock counts
// requests and tokens per minute and tokens per day; tokens are reserved (input + max_tokens) when a
// request starts and corrected when it ends.
type quotaBook struct {
	mu     sync.Mutex
	limits map[string]Quota // account|region|key, with region "" for every region
	use    map[string]*quotaUse
}

type quotaUse struct {
	reqs []time.Time
	toks []*tokenUse // last minute
	day  []*tokenUse // last 24 hours
}

type tokenUse struct {
	at time.Time
	n  int
}

type reservation struct {
	tok *tokenUse
}

func newQuotaBook() *quotaBook {
	return &quotaBook{limits: map[string]Quota{}, use: map[string]*quotaUse{}}
}

func (b *quotaBook) set(acct, region, key string, q Quota) {
	b.mu.Lock()
	b.limits[acct+"|"+region+"|"+key] = q
	b.mu.Unlock()
}

// limit returns the quota for a key: region-specific, then every-region, then DefaultQuota.
func (b *quotaBook) limit(acct, region, key string) Quota {
	if q, ok := b.limits[acct+"|"+region+"|"+key]; ok {
		return q
	}
	if q, ok := b.limits[acct+"||"+key]; ok {
		return q
	}
	return DefaultQuota
}

func (b *quotaBook) reserve(now time.Time, acct, region, key string, input, maxTokens int) (*reservation, *awsError) {
	b.mu.Lock()
	defer b.mu.Unlock()
	q := b.limit(acct, region, key)
	k := acct + "|" + region + "|" + key
	u := b.use[k]
	if u == nil {
		u = &quotaUse{}
		b.use[k] = u
	}
	u.prune(now)
	need := input + maxTokens
	if q.RequestsPerMinute > 0 && len(u.reqs) >= q.RequestsPerMinute {
		e := throttlingException("Too many requests, please wait before trying again.")
		e.RetryAfter = retryAfter(u.reqs[0].Add(time.Minute).Sub(now))
		return nil, e
	}
	if q.TokensPerMinute > 0 && sum(u.toks)+need > q.TokensPerMinute && len(u.toks) > 0 {
		e := throttlingException("Too many tokens, please wait before trying again.")
		e.RetryAfter = retryAfter(u.toks[0].at.Add(time.Minute).Sub(now))
		return nil, e
	}
	if q.TokensPerDay > 0 && sum(u.day)+need > q.TokensPerDay {
		e := throttlingException("Too many tokens per day, please wait before trying again.")
		if len(u.day) > 0 {
			e.RetryAfter = retryAfter(u.day[0].at.Add(24 * time.Hour).Sub(now))
		}
		return nil, e
	}
	t := &tokenUse{at: now, n: need}
	u.reqs = append(u.reqs, now)
	u.toks = append(u.toks, t)
	if q.TokensPerDay > 0 { // a day of records is kept only where a daily quota needs it: long benchmarks stay flat
		u.day = append(u.day, t)
	}
	return &reservation{tok: t}, nil
}

// commit corrects a reservation to what the request really cost.
func (b *quotaBook) commit(r *reservation, cost int) {
	b.mu.Lock()
	r.tok.n = cost
	b.mu.Unlock()
}

// snapshot returns the quota and the current use of a key, for Service Quotas and the admin API.
func (b *quotaBook) usage(now time.Time, acct, region, key string) (q Quota, reqs, toks, day int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	q = b.limit(acct, region, key)
	if u := b.use[acct+"|"+region+"|"+key]; u != nil {
		u.prune(now)
		return q, len(u.reqs), sum(u.toks), sum(u.day)
	}
	return q, 0, 0, 0
}

func (u *quotaUse) prune(now time.Time) {
	minute, day := now.Add(-time.Minute), now.Add(-24*time.Hour)
	i := 0
	for i < len(u.reqs) && !u.reqs[i].After(minute) {
		i++
	}
	u.reqs = u.reqs[i:]
	i = 0
	for i < len(u.toks) && !u.toks[i].at.After(minute) {
		i++
	}
	u.toks = u.toks[i:]
	i = 0
	for i < len(u.day) && !u.day[i].at.After(day) {
		i++
	}
	u.day = u.day[i:]
}

func sum(ts []*tokenUse) int {
	n := 0
	for _, t := range ts {
		n += t.n
	}
	return n
}

func retryAfter(d time.Duration) int {
	s := int(math.Ceil(d.Seconds()))
	if s < 1 {
		s = 1
	}
	return s
}
