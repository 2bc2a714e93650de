package credcache

import (
	"container/list"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"

	relay "github.com/bedrock-relay/bedrock-relay"
)

// SessionPrefix starts the role session name of a caller key's own session: the key "alice" assumes the role
// as the session "brk-alice".
const SessionPrefix = "brk-"

// SessionName is the role session name of key's own session: SessionPrefix + key. In the target account's
// CloudTrail, the Bedrock calls made with it show userIdentity.arn
// arn:aws:sts::ACCOUNT:assumed-role/ROLE/brk-KEY and principalId ROLEID:brk-KEY, and the AssumeRole event
// lists the session tags in requestParameters.tags; Bedrock's cost and usage data names the same
// assumed-role ARN as the caller. A key name of 1 to 48 characters of [A-Za-z0-9_+=,.@-] (what the config
// accepts with attribution.session_per_key) always makes a valid name: STS takes 2 to 64 of [\w+=,.@-].
func SessionName(key string) string { return SessionPrefix + key }

var sessionNameRe = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)

// DefaultMaxSessions is KeyedOptions.MaxSessions's default.
const DefaultMaxSessions = 256

// KeyedOptions tune a Keyed.
type KeyedOptions struct {
	// Options are each key's Cache's (expiry window, jitter, clock); OnRefresh is told of every key's
	// AssumeRole, with Refresh.Key set.
	Options
	// MaxSessions bounds the keys whose sessions are kept; the least recently used is dropped first (its
	// credentials are forgotten, and the key assumes the role anew when it comes back). 0 is
	// DefaultMaxSessions.
	MaxSessions int
	// TagKey and TagGroup are the session tags naming the key and its group (config.TagKey, config.TagGroup).
	// The group tag is left out for a key without a group.
	TagKey, TagGroup string
}

// Keyed is the per-caller-key sessions of one target: each key assumes the target's role in its own session,
// named after it (SessionName) and tagged with the key and its group, so that the target account's CloudTrail
// and Bedrock's cost and usage data, which record the calling principal, tell callers apart. Each key's
// credentials are a Cache of their own (the SDK's AssumeRoleProvider in its CredentialsCache, refreshed
// early), so STS is called once per key and credential lifetime, and a key whose AssumeRole fails leaves the
// others' sessions alone. It is safe for concurrent use.
type Keyed struct {
	client stscreds.AssumeRoleAPIClient
	base   relay.Target
	opts   KeyedOptions

	mu    sync.Mutex
	lru   list.List // of *keyedEntry, most recently used first
	byKey map[keyedID]*list.Element

	evictions atomic.Int64
}

// keyedID is a session's identity: the key and the group it is tagged with.
type keyedID struct{ key, group string }

type keyedEntry struct {
	id    keyedID
	cache *Cache
}

// NewKeyed makes the per-key sessions of target t (its SessionName is replaced by each key's; its other fields
// are kept). No STS call is made until a key's first Retrieve.
func NewKeyed(client stscreds.AssumeRoleAPIClient, t relay.Target, o KeyedOptions) (*Keyed, error) {
	if client == nil {
		return nil, errors.New("credcache: nil STS client")
	}
	if o.TagKey == "" || o.TagGroup == "" {
		return nil, errors.New("credcache: per-key sessions need the tag names of the key and the group")
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	if o.MaxSessions <= 0 {
		o.MaxSessions = DefaultMaxSessions
	}
	return &Keyed{client: client, base: t, opts: o, byKey: map[keyedID]*list.Element{}}, nil
}

// Target is the target whose role the sessions assume.
func (k *Keyed) Target() relay.Target { return k.base }

// For returns the credentials of key's session tagged with group, making the session (no STS call yet) when
// the key has none, and dropping the least recently used one past MaxSessions. A key that cannot name a
// session (empty, or not 1 to 60 characters of [\w+=,.@-]) is an error; the config never lets one through.
func (k *Keyed) For(key, group string) (*Cache, error) {
	id := keyedID{key, group}
	k.mu.Lock()
	defer k.mu.Unlock()
	if e, ok := k.byKey[id]; ok {
		k.lru.MoveToFront(e)
		return e.Value.(*keyedEntry).cache, nil
	}
	name := SessionName(key)
	if key == "" || !sessionNameRe.MatchString(name) {
		return nil, fmt.Errorf("credcache: key %q cannot name a role session (%s + 1 to %d characters of letters, digits and +=,.@_-)",
			key, SessionPrefix, 64-len(SessionPrefix))
	}
	t := k.base
	t.SessionName = name
	tags := []types.Tag{{Key: aws.String(k.opts.TagKey), Value: aws.String(key)}}
	if group != "" {
		tags = append(tags, types.Tag{Key: aws.String(k.opts.TagGroup), Value: aws.String(group)})
	}
	// Validate the session as a whole (the target's own tags with the key's).
	check := t
	check.Tags = map[string]string{}
	for kk, v := range k.base.Tags {
		check.Tags[kk] = v
	}
	for _, tg := range tags {
		check.Tags[*tg.Key] = *tg.Value
	}
	if err := check.Validate(); err != nil {
		return nil, err
	}
	c, err := newCache(k.client, t, k.opts.Options, key, tags)
	if err != nil {
		return nil, err
	}
	k.byKey[id] = k.lru.PushFront(&keyedEntry{id: id, cache: c})
	for k.lru.Len() > k.opts.MaxSessions {
		old := k.lru.Back()
		k.lru.Remove(old)
		delete(k.byKey, old.Value.(*keyedEntry).id)
		k.evictions.Add(1)
	}
	return c, nil
}

// ForKey is For as an aws.CredentialsProvider, for upstream.Options.KeyCredentials.
func (k *Keyed) ForKey(key, group string) (aws.CredentialsProvider, error) {
	c, err := k.For(key, group)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Len is how many keys' sessions are kept.
func (k *Keyed) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.lru.Len()
}

// Evictions is how many sessions MaxSessions has dropped.
func (k *Keyed) Evictions() int64 { return k.evictions.Load() }

// Refreshes is how many AssumeRole calls of the kept sessions succeeded; Failures how many failed.
func (k *Keyed) Refreshes() (ok, failed int64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for e := k.lru.Front(); e != nil; e = e.Next() {
		c := e.Value.(*keyedEntry).cache
		ok += c.Refreshes()
		failed += c.Failures()
	}
	return ok, failed
}
