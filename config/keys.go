package config

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/bedrock-relay/bedrock-relay/catalog"
)

// KeyBudgets are the limits of one caller key, or of a group of keys, over every model and target: a
// request counts against its key's and its group's budgets before it is routed, and is refused with 429
// (ThrottlingException, or rate_limit_error on the OpenAI and Anthropic APIs) naming the budget when one is
// spent. 0 is no limit. The token and money budgets reserve a request's max_tokens (at the model's output
// price) and are settled with its real usage, as the targets' budgets are.
type KeyBudgets struct {
	RequestsPerMinute int `yaml:"requests_per_minute"`
	TokensPerMinute   int `yaml:"tokens_per_minute"`
	TokensPerDay      int `yaml:"tokens_per_day"`
	// USDPerDay and USDPerMonth are spend limits per calendar day and month, in UTC, at the prices of
	// the catalogue (or the config's prices).
	USDPerDay   float64 `yaml:"usd_per_day"`
	USDPerMonth float64 `yaml:"usd_per_month"`
}

// Zero reports whether b limits nothing.
func (b KeyBudgets) Zero() bool { return b == KeyBudgets{} }

// Group is a named set of budgets that the keys naming it share.
type Group struct {
	Name    string     `yaml:"name"`
	Budgets KeyBudgets `yaml:"budgets"`
}

// Group returns the group named name.
func (c *Config) Group(name string) (Group, bool) {
	for _, g := range c.Groups {
		if g.Name == name {
			return g, true
		}
	}
	return Group{}, false
}

// PriceSpec is a model's price in a region, in USD per million tokens: it replaces the catalogue's for that
// model (and region; an empty region is every region the catalogue does not price on its own).
type PriceSpec struct {
	Model  string `yaml:"model"`
	Region string `yaml:"region"`
	// Input, Output, CacheRead and CacheWrite are USD per million tokens. CacheRead and CacheWrite left
	// out are the catalogue's rule for the model family (Anthropic: 0.1× and 1.25× input).
	Input      float64  `yaml:"input"`
	Output     float64  `yaml:"output"`
	CacheRead  *float64 `yaml:"cache_read"`
	CacheWrite *float64 `yaml:"cache_write"`
	// Source and Date say where the figure comes from, for the usage report.
	Source string `yaml:"source"`
	Date   string `yaml:"date"`
}

// Attribution is how callers show in the Bedrock accounts' bills and CloudTrail.
type Attribution struct {
	// SessionPerKey assumes each target's role once per caller key (and keeps those credentials apart),
	// with RoleSessionName and session tags naming the key and its group, so that Bedrock's cost and usage
	// data, which records the calling principal, splits by caller. The targets' trust policies must then
	// allow sts:TagSession (`bedrock-relay policy` prints it). Off: one session per target for every caller.
	SessionPerKey bool `yaml:"session_per_key"`
	// MaxSessions bounds the per-key sessions cached per target (least recently used go first); default 256.
	MaxSessions int `yaml:"max_sessions"`
}

// The session tags per-key sessions carry (Attribution.SessionPerKey).
const (
	TagKey   = "relay-key"
	TagGroup = "relay-group"
)

// DefaultMaxSessions is Attribution.MaxSessions's default.
const DefaultMaxSessions = 256

// nameRe is what a key's or group's name may be: it becomes a session tag value and part of a role session
// name (STS: [\w+=,.@-]{2,64}), so the relay keeps to what both accept.
var nameRe = regexp.MustCompile(`^[A-Za-z0-9_+=,.@-]{1,48}$`)

var dateRe = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

func (c *Config) validateKeys(add func(string, ...any)) {
	budgets := func(at string, b KeyBudgets) {
		for _, f := range []struct {
			name string
			v    int
		}{{"requests_per_minute", b.RequestsPerMinute}, {"tokens_per_minute", b.TokensPerMinute}, {"tokens_per_day", b.TokensPerDay}} {
			if f.v < 0 {
				add("%s.budgets.%s %d: want a whole number >= 0 (0: no limit)", at, f.name, f.v)
			}
		}
		if b.USDPerDay < 0 || b.USDPerMonth < 0 {
			add("%s.budgets: usd_per_day and usd_per_month are amounts >= 0 (0: no limit)", at)
		}
	}
	groups := map[string]bool{}
	for i, g := range c.Groups {
		at := fmt.Sprintf("groups[%d]", i)
		if !nameRe.MatchString(g.Name) {
			add("%s.name %q: want 1 to 48 letters, digits or _+=,.@-", at, g.Name)
		}
		if groups[g.Name] {
			add("%s.name %q: duplicate", at, g.Name)
		}
		groups[g.Name] = true
		budgets(at, g.Budgets)
	}
	for i, k := range c.Auth.Keys {
		at := fmt.Sprintf("auth.keys[%d]", i)
		if c.Attribution.SessionPerKey && k.Name != "" && !nameRe.MatchString(k.Name) {
			add("%s.name %q: with attribution.session_per_key, want 1 to 48 letters, digits or _+=,.@- (it goes into the role session's name and tags)", at, k.Name)
		}
		if k.Group != "" && !groups[k.Group] {
			add("%s.group %q: no such entry in groups (add `groups: [{name: %s, budgets: {...}}]`)", at, k.Group, k.Group)
		}
		budgets(at, k.Budgets)
	}
	for i, p := range c.Prices {
		at := fmt.Sprintf("prices[%d]", i)
		if strings.TrimSpace(p.Model) == "" {
			add("%s.model: required (a foundation-model id)", at)
		}
		if p.Input < 0 || p.Output < 0 || (p.CacheRead != nil && *p.CacheRead < 0) || (p.CacheWrite != nil && *p.CacheWrite < 0) {
			add("%s: prices are USD per million tokens, >= 0", at)
		}
		if p.Date != "" && !dateRe.MatchString(p.Date) {
			add("%s.date %q: want YYYY-MM-DD", at, p.Date)
		} else if p.Date != "" {
			if _, err := time.Parse(time.DateOnly, p.Date); err != nil {
				add("%s.date %q: %v", at, p.Date, err)
			}
		}
	}
	if c.Attribution.MaxSessions < 0 {
		add("attribution.max_sessions %d: want a positive number (default %d)", c.Attribution.MaxSessions, DefaultMaxSessions)
	}
}

// PriceTable is the catalogue's prices for cat (the config's ModelCatalog) with the config's prices over them.
func (c *Config) PriceTable(cat *catalog.Catalog) (*catalog.Prices, error) {
	var over []catalog.PriceOverride
	for _, p := range c.Prices {
		over = append(over, catalog.PriceOverride{Model: p.Model, Region: p.Region, Input: p.Input, Output: p.Output,
			CacheRead: p.CacheRead, CacheWrite: p.CacheWrite, Source: p.Source, Date: p.Date})
	}
	return catalog.DefaultPrices().ForCatalog(cat).With(over)
}
