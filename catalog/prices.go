package catalog

import (
	_ "embed"
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"
)

//go:embed prices.yaml
var defaultPriceData []byte

// The region values of a price row that are not AWS regions.
const (
	// PriceRegionDefault is the model's row for every region no other row of it names.
	PriceRegionDefault = "default"
	// PriceRegionGlobal is the row of the model's global. inference profile, which Bedrock bills at one price
	// wherever it is called from (for Anthropic's models from Sonnet 4.5 on, below the regional price).
	PriceRegionGlobal = "global"
)

// Price is what a model costs in a region, in USD per million tokens.
type Price struct {
	Model  string // foundation-model id
	Region string // an AWS region, PriceRegionDefault or PriceRegionGlobal
	// Input is uncached input, Output output (thinking included), CacheRead a token read from the prompt cache
	// and CacheWrite one written to it (the 5-minute write).
	Input, Output, CacheRead, CacheWrite float64
	// LongPrompt is the model's price for a long prompt, if it has one (LongPrompt.Above > 0).
	LongPrompt PriceTier
	// Source says where the figures come from; Date (YYYY-MM-DD) when they were read.
	Source, Date string
}

// PriceTier is a higher price a model charges a request whose prompt (input, cache read and cache write tokens
// together) is over Above tokens: all of that request's tokens, output included, are charged at it.
type PriceTier struct {
	Above                                int
	Input, Output, CacheRead, CacheWrite float64
}

// TokenUsage is a request's tokens as Bedrock reports them: Input excludes the cached tokens, which Bedrock
// reports apart (cacheReadInputTokens, cacheWriteInputTokens).
type TokenUsage struct {
	Input, Output, CacheRead, CacheWrite int
}

// Cost is what u costs at p, in USD.
func (p Price) Cost(u TokenUsage) float64 {
	in, out, read, write := max(u.Input, 0), max(u.Output, 0), max(u.CacheRead, 0), max(u.CacheWrite, 0)
	r := [4]float64{p.Input, p.Output, p.CacheRead, p.CacheWrite}
	if t := p.LongPrompt; t.Above > 0 && in+read+write > t.Above {
		r = [4]float64{t.Input, t.Output, t.CacheRead, t.CacheWrite}
	}
	return (float64(in)*r[0] + float64(out)*r[1] + float64(read)*r[2] + float64(write)*r[3]) / 1e6
}

// Prices is a price table: the embedded one (DefaultPrices) or one with a relay config's prices over it
// (With). It is not changed after it is built, so it may be shared.
type Prices struct {
	cat  *Catalog
	rows map[priceKey]Price
}

type priceKey struct{ model, region string }

var (
	defaultPricesOnce sync.Once
	defaultPrices     *Prices
)

// DefaultPrices returns the embedded price table (prices.yaml), checked against the embedded catalogue.
func DefaultPrices() *Prices {
	defaultPricesOnce.Do(func() {
		ps, err := ParsePrices(defaultPriceData, Default())
		if err != nil {
			panic("catalog: embedded prices.yaml is invalid: " + err.Error())
		}
		defaultPrices = ps
	})
	return defaultPrices
}

type priceFile struct {
	Prices []priceRow `yaml:"prices"`
}

type priceRow struct {
	Model      string   `yaml:"model"`
	Regions    []string `yaml:"regions"`
	Input      *float64 `yaml:"input"`
	Output     *float64 `yaml:"output"`
	CacheRead  *float64 `yaml:"cache_read"`
	CacheWrite *float64 `yaml:"cache_write"`
	LongPrompt *tierRow `yaml:"long_prompt"`
	Source     string   `yaml:"source"`
	Date       string   `yaml:"date"`
}

type tierRow struct {
	Above      int     `yaml:"above"`
	Input      float64 `yaml:"input"`
	Output     float64 `yaml:"output"`
	CacheRead  float64 `yaml:"cache_read"`
	CacheWrite float64 `yaml:"cache_write"`
}

// ParsePrices reads a price table in the prices.yaml format. Every row must name a model of c by its
// foundation-model id, its regions, input and output, a source and a date; cache_read and cache_write left out
// take the family rule (With). Every problem is reported, one per line.
func ParsePrices(data []byte, c *Catalog) (*Prices, error) {
	var f priceFile
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("parse prices: %w", err)
	}
	ps := &Prices{cat: c, rows: make(map[priceKey]Price, len(f.Prices))}
	var errs []error
	for i, r := range f.Prices {
		at := fmt.Sprintf("prices[%d]", i)
		if r.Model != "" {
			at = fmt.Sprintf("prices[%d] (%s)", i, r.Model)
		}
		bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(at+": "+format, args...)) }
		m, merr := c.priceModel(r.Model)
		if merr != nil {
			bad("%v", merr)
		}
		if r.Input == nil || r.Output == nil {
			bad("input and output: required (USD per million tokens)")
		}
		for _, v := range []*float64{r.Input, r.Output, r.CacheRead, r.CacheWrite} {
			if v != nil && !validAmount(*v) {
				bad("prices are USD per million tokens, >= 0")
				break
			}
		}
		var tier PriceTier
		if t := r.LongPrompt; t != nil {
			tier = PriceTier{Above: t.Above, Input: t.Input, Output: t.Output, CacheRead: t.CacheRead, CacheWrite: t.CacheWrite}
			if t.Above <= 0 || !validAmount(t.Input) || !validAmount(t.Output) || !validAmount(t.CacheRead) || !validAmount(t.CacheWrite) {
				bad("long_prompt: want above (prompt tokens, > 0) and its prices (>= 0)")
			}
		}
		if strings.TrimSpace(r.Source) == "" {
			bad("source: required (a URL, or the page and what of it was read)")
		}
		if r.Date == "" || checkPriceDate(r.Date) != nil {
			bad("date %q: want the YYYY-MM-DD the figures were read", r.Date)
		}
		if len(r.Regions) == 0 {
			bad("regions: required (AWS regions, %s or %s)", PriceRegionDefault, PriceRegionGlobal)
		}
		if merr != nil || r.Input == nil || r.Output == nil {
			continue
		}
		p := Price{Model: m.ID, Input: *r.Input, Output: *r.Output, LongPrompt: tier, Source: r.Source, Date: r.Date}
		p.CacheRead, p.CacheWrite = cacheRule(m, p.Input)
		if r.CacheRead != nil {
			p.CacheRead = *r.CacheRead
		}
		if r.CacheWrite != nil {
			p.CacheWrite = *r.CacheWrite
		}
		for _, region := range r.Regions {
			region, err := normPriceRegion(region)
			if err != nil {
				bad("%v", err)
				continue
			}
			k := priceKey{m.ID, region}
			if _, dup := ps.rows[k]; dup {
				bad("region %s: the model is priced there twice", region)
				continue
			}
			p.Region = region
			ps.rows[k] = p
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("parse prices: %w", errors.Join(errs...))
	}
	return ps, nil
}

// ForCatalog is ps with c as its catalogue: a relay config's (Catalog.With), so that With accepts prices for
// the config's own models and Lookup knows its geographies. The rows are shared, not copied; neither table
// changes them.
func (ps *Prices) ForCatalog(c *Catalog) *Prices {
	return &Prices{cat: c, rows: ps.rows}
}

// Lookup returns the price of model in region: the model's row for that region if it has one, else its
// default row. model is a foundation-model id, a system inference profile id ("jp.anthropic.claude-..."),
// whose geography prefix is dropped, or the ARN of either, percent-encoded or not. A global. profile, and
// region "global", take the model's global row whatever the region (Bedrock bills it at one price), or its
// default row if it has none; a geographic profile takes the row of region, the source region it is called
// in. An empty region is the default row, or with an ARN the ARN's region. ok is false when the model has no
// price: its cost is unknown, not zero.
func (ps *Prices) Lookup(model, region string) (Price, bool) {
	if ps == nil {
		return Price{}, false
	}
	ref, err := ParseRef(model)
	if err != nil || (ref.Kind != KindFoundationModel && ref.Kind != KindSystemProfile) {
		return Price{}, false
	}
	id := ref.ID
	if region == "" {
		region = ref.Region
	}
	if prefix, rest, ok := SplitProfileID(id); ok {
		g, known := ps.cat.Geography(prefix)
		if !known {
			return Price{}, false
		}
		id = rest
		if g.Global {
			region = PriceRegionGlobal
		}
	}
	if region != "" && region != PriceRegionDefault {
		if p, ok := ps.rows[priceKey{id, region}]; ok {
			return p, true
		}
	}
	p, ok := ps.rows[priceKey{id, PriceRegionDefault}]
	return p, ok
}

// All lists the table's rows, sorted by model and then region (default first, then global, then the regions
// by name): for a usage report's footnote on where its prices come from.
func (ps *Prices) All() []Price {
	if ps == nil {
		return nil
	}
	out := make([]Price, 0, len(ps.rows))
	for _, p := range ps.rows {
		out = append(out, p)
	}
	rank := func(region string) int {
		switch region {
		case PriceRegionDefault:
			return 0
		case PriceRegionGlobal:
			return 1
		}
		return 2
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Model != b.Model {
			return a.Model < b.Model
		}
		if ra, rb := rank(a.Region), rank(b.Region); ra != rb {
			return ra < rb
		}
		return a.Region < b.Region
	})
	return out
}

// PriceOverride is a relay config's price for a model: it replaces the table's row for that model and region
// or adds one, long-prompt tier included (an override has none).
type PriceOverride struct {
	// Model is a foundation-model id of the catalogue, or its global. profile id (then Region is global).
	Model string
	// Region is an AWS region, "global" for the model's global. profile, or empty (or "default") for the
	// model's default row, which prices every region without a row of its own.
	Region string
	// Input and Output are USD per million tokens.
	Input, Output float64
	// CacheRead and CacheWrite are USD per million tokens; nil takes the family rule: for Anthropic's models,
	// and for any other whose catalogue entry has prompt_cache, 0.1x input for a read and 1.25x input for a
	// write; 0 for a model without prompt caching.
	CacheRead, CacheWrite *float64
	// Source and Date say where the figures come from; Source defaults to "relay config".
	Source, Date string
}

// With is a copy of ps with overrides applied. Each override must name a model of the catalogue (ForCatalog
// for a config's own models), a valid region, prices >= 0, a date in YYYY-MM-DD if any, and no model and
// region twice; every problem is reported, one per line.
func (ps *Prices) With(overrides []PriceOverride) (*Prices, error) {
	out := &Prices{cat: ps.cat, rows: make(map[priceKey]Price, len(ps.rows)+len(overrides))}
	for k, v := range ps.rows {
		out.rows[k] = v
	}
	var errs []error
	seen := map[priceKey]bool{}
	for i, o := range overrides {
		id := strings.TrimSpace(o.Model)
		at := fmt.Sprintf("prices[%d]", i)
		if id != "" {
			at = fmt.Sprintf("prices[%d] (%s)", i, id)
		}
		bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(at+": "+format, args...)) }
		region, err := normPriceRegion(o.Region)
		if err != nil {
			bad("%v", err)
		}
		if prefix, rest, ok := SplitProfileID(id); ok {
			if g, known := ps.cat.Geography(prefix); known {
				switch {
				case !g.Global:
					bad("%s. is a geographic profile, billed at the price of the region it is called in: give the foundation-model id %s and that region", prefix, rest)
					continue
				case o.Region != "" && region != PriceRegionGlobal:
					bad("a global. profile is priced by its global row; leave region empty or give %s", PriceRegionGlobal)
					continue
				}
				id, region = rest, PriceRegionGlobal
			}
		}
		m, merr := ps.cat.priceModel(id)
		if merr != nil {
			bad("%v", merr)
		}
		amounts := []float64{o.Input, o.Output}
		for _, v := range []*float64{o.CacheRead, o.CacheWrite} {
			if v != nil {
				amounts = append(amounts, *v)
			}
		}
		for _, v := range amounts {
			if !validAmount(v) {
				bad("input %v, output %v, cache_read and cache_write: prices are USD per million tokens, >= 0", o.Input, o.Output)
				merr = errors.New("bad amount")
				break
			}
		}
		if err := checkPriceDate(o.Date); err != nil {
			bad("date %q: want YYYY-MM-DD", o.Date)
		}
		if err != nil || merr != nil {
			continue
		}
		k := priceKey{m.ID, region}
		if seen[k] {
			bad("region %s: the model is priced there twice", region)
			continue
		}
		seen[k] = true
		p := Price{Model: m.ID, Region: region, Input: o.Input, Output: o.Output, Source: o.Source, Date: o.Date}
		p.CacheRead, p.CacheWrite = cacheRule(m, p.Input)
		if o.CacheRead != nil {
			p.CacheRead = *o.CacheRead
		}
		if o.CacheWrite != nil {
			p.CacheWrite = *o.CacheWrite
		}
		if strings.TrimSpace(p.Source) == "" {
			p.Source = "relay config"
		}
		out.rows[k] = p
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// cacheRule is the cache prices of a model whose row gives none: Anthropic's 0.1x input for a read and 1.25x
// for a 5-minute write, for Anthropic's models and for any other the catalogue says caches prompts; none for a
// model without prompt caching.
func cacheRule(m Model, input float64) (read, write float64) {
	if strings.EqualFold(m.Provider, "anthropic") || strings.HasPrefix(m.ID, "anthropic.") || m.PromptCache != nil {
		return 0.1 * input, 1.25 * input
	}
	return 0, 0
}

// priceModel is the catalogue's model a price row names, which must be a foundation-model id.
func (c *Catalog) priceModel(id string) (Model, error) {
	switch {
	case id == "":
		return Model{}, errors.New("model: required, a foundation-model id such as anthropic.claude-sonnet-4-5-20250929-v1:0")
	case strings.HasPrefix(id, "arn:") || strings.ContainsAny(id, "/ \t\n"):
		return Model{}, fmt.Errorf("model %q: want a foundation-model id, not an ARN or a path", id)
	}
	if prefix, rest, ok := SplitProfileID(id); ok {
		if _, known := c.Geography(prefix); known {
			return Model{}, fmt.Errorf("model %q is an inference profile id; give the foundation-model id %s and the region", id, rest)
		}
	}
	m, ok := c.Model(id)
	if !ok {
		return Model{}, fmt.Errorf("%w %q: the catalogue does not list it (add it under the config's catalog models, or check the id)", ErrUnknownModel, id)
	}
	return m, nil
}

// priceRegionRe is the shape of an AWS region name: us-east-1, ap-southeast-4, us-gov-west-1, eusc-de-east-1.
var priceRegionRe = regexp.MustCompile(`^[a-z]{2,5}(-[a-z]+)+-[0-9]{1,2}$`)

func normPriceRegion(region string) (string, error) {
	switch region = strings.TrimSpace(region); {
	case region == "" || region == PriceRegionDefault:
		return PriceRegionDefault, nil
	case region == PriceRegionGlobal || priceRegionRe.MatchString(region):
		return region, nil
	}
	return "", fmt.Errorf("region %q: want an AWS region such as us-east-1, %s (the global. profile) or %s", region, PriceRegionGlobal, PriceRegionDefault)
}

func validAmount(v float64) bool { return v >= 0 && !math.IsInf(v, 1) && !math.IsNaN(v) }

// checkPriceDate accepts an empty date or a real YYYY-MM-DD one.
func checkPriceDate(d string) error {
	if d == "" {
		return nil
	}
	_, err := time.Parse(time.DateOnly, d)
	return err
}
