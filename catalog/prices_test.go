package catalog

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	sonnet45 = "anthropic.claude-sonnet-4-5-20250929-v1:0"
	novaPro  = "amazon.nova-pro-v1:0"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func ptr(v float64) *float64 { return &v }

// TestPriceRows checks every row of prices.yaml: a model of the catalogue, a source, a real date not in the
// future, prices >= 0, and regional rows 10% above global ones where a model has both.
func TestPriceRows(t *testing.T) {
	c := Default()
	rows := DefaultPrices().All()
	if len(rows) == 0 {
		t.Fatal("no price rows")
	}
	for _, p := range rows {
		if _, ok := c.Model(p.Model); !ok {
			t.Errorf("%s: not a model of catalog.yaml", p.Model)
		}
		if strings.TrimSpace(p.Source) == "" {
			t.Errorf("%s %s: no source", p.Model, p.Region)
		}
		d, err := time.Parse(time.DateOnly, p.Date)
		if err != nil {
			t.Errorf("%s %s: date %q: %v", p.Model, p.Region, p.Date, err)
		} else if d.After(time.Now()) {
			t.Errorf("%s %s: date %s is in the future", p.Model, p.Region, p.Date)
		}
		for _, v := range []float64{p.Input, p.Output, p.CacheRead, p.CacheWrite} {
			if !validAmount(v) {
				t.Errorf("%s %s: price %v", p.Model, p.Region, v)
			}
		}
		if p.Input <= 0 || p.Output <= 0 {
			t.Errorf("%s %s: input %v, output %v: want both > 0", p.Model, p.Region, p.Input, p.Output)
		}
		if p.Region != PriceRegionDefault && p.Region != PriceRegionGlobal && !slices.Contains(allSourceRegions(c), p.Region) {
			t.Errorf("%s: region %s is no geography's source region", p.Model, p.Region)
		}
	}
	// Every model priced has a default row, so that any region has a price.
	ps := DefaultPrices()
	for _, p := range rows {
		if _, ok := ps.rows[priceKey{p.Model, PriceRegionDefault}]; !ok {
			t.Errorf("%s: no default row", p.Model)
		}
		if p.Region != PriceRegionGlobal {
			continue
		}
		if m, _ := c.Model(p.Model); m.Profiles != nil {
			if _, ok := m.Profiles["global"]; !ok {
				t.Errorf("%s: a global row but no global. profile in the catalogue", p.Model)
			}
		}
		// Anthropic's regional endpoints are 10% above global, on every price.
		d, _ := ps.Lookup(p.Model, PriceRegionDefault)
		pairs := [][2]float64{{d.Input, p.Input}, {d.Output, p.Output}, {d.CacheRead, p.CacheRead}, {d.CacheWrite, p.CacheWrite},
			{d.LongPrompt.Input, p.LongPrompt.Input}, {d.LongPrompt.Output, p.LongPrompt.Output},
			{d.LongPrompt.CacheRead, p.LongPrompt.CacheRead}, {d.LongPrompt.CacheWrite, p.LongPrompt.CacheWrite}}
		for _, pr := range pairs {
			if !near(pr[0], 1.1*pr[1]) {
				t.Errorf("%s: default %+v is not global %+v +10%%", p.Model, d, p)
				break
			}
		}
		if d.LongPrompt.Above != p.LongPrompt.Above {
			t.Errorf("%s: long-prompt threshold %d (default) vs %d (global)", p.Model, d.LongPrompt.Above, p.LongPrompt.Above)
		}
	}
	// The figures the brief names.
	for _, w := range []struct {
		model, region string
		in, out       float64
	}{
		{sonnet45, PriceRegionGlobal, 3, 15},
		{"anthropic.claude-haiku-4-5-20251001-v1:0", PriceRegionGlobal, 1, 5},
		{"anthropic.claude-opus-4-5-20251101-v1:0", PriceRegionGlobal, 5, 25},
		{"anthropic.claude-opus-4-1-20250805-v1:0", "us-east-1", 15, 75},
		{"anthropic.claude-opus-4-20250514-v1:0", "us-east-1", 15, 75},
		{novaPro, "us-east-1", 0.8, 3.2},
		{"amazon.nova-lite-v1:0", "us-east-1", 0.06, 0.24},
		{"amazon.nova-micro-v1:0", "us-east-1", 0.035, 0.14},
	} {
		p, ok := ps.Lookup(w.model, w.region)
		if !ok || !near(p.Input, w.in) || !near(p.Output, w.out) {
			t.Errorf("%s in %s: %+v, %v; want $%v/$%v", w.model, w.region, p, ok, w.in, w.out)
		}
	}
}

func allSourceRegions(c *Catalog) []string {
	var out []string
	for _, g := range c.Geographies {
		out = append(out, g.SourceRegions...)
	}
	return out
}

func TestDefaultPricesOnce(t *testing.T) {
	if DefaultPrices() != DefaultPrices() {
		t.Error("DefaultPrices parses the table more than once")
	}
}

func TestPriceCost(t *testing.T) {
	ps := DefaultPrices()
	p, ok := ps.Lookup(sonnet45, PriceRegionGlobal)
	if !ok {
		t.Fatal("Sonnet 4.5 has no global price")
	}
	u := TokenUsage{Input: 1000, Output: 500, CacheRead: 2000, CacheWrite: 1000}
	if got, want := p.Cost(u), 0.003+0.0075+0.0006+0.00375; !near(got, want) {
		t.Errorf("Sonnet 4.5 global cost of %+v = %v, want %v", u, got, want)
	}
	// The regional price is 10% above.
	r, _ := ps.Lookup(sonnet45, "eu-west-1")
	if got, want := r.Cost(u), 1.1*(0.003+0.0075+0.0006+0.00375); !near(got, want) {
		t.Errorf("Sonnet 4.5 regional cost = %v, want %v", got, want)
	}
	// A prompt over 200K tokens, cached ones counted, is charged the long-prompt rates on every token.
	long := TokenUsage{Input: 150_000, Output: 1_000, CacheRead: 40_000, CacheWrite: 20_000}
	want := (150_000*6.0 + 1_000*22.5 + 40_000*0.6 + 20_000*7.5) / 1e6
	if got := p.Cost(long); !near(got, want) {
		t.Errorf("long prompt: cost = %v, want %v", got, want)
	}
	at := TokenUsage{Input: 200_000, Output: 1_000}
	if got, want := p.Cost(at), (200_000*3.0+1_000*15.0)/1e6; !near(got, want) {
		t.Errorf("a prompt of exactly 200K tokens: cost = %v, want %v (the base rates)", got, want)
	}
	h, _ := ps.Lookup("global.anthropic.claude-haiku-5-5", "")
	if got, want := h.Cost(TokenUsage{Input: 100_001, Output: 10}), (100_001*0.5+10*2.5)/1e6; !near(got, want) {
		t.Errorf("Haiku 5.5 over 100K: cost = %v, want %v", got, want)
	}
	if got := (Price{}).Cost(u); got != 0 {
		t.Errorf("zero price: cost %v", got)
	}
	if got := p.Cost(TokenUsage{Input: -5, Output: 1_000_000}); !near(got, 15) {
		t.Errorf("negative counts: cost %v, want them ignored (15)", got)
	}
}

func TestPriceLookup(t *testing.T) {
	ps := DefaultPrices()
	for _, tt := range []struct {
		model, region string
		wantRegion    string
		wantInput     float64
	}{
		{sonnet45, "us-east-1", PriceRegionDefault, 3.3},
		{sonnet45, "", PriceRegionDefault, 3.3},
		{sonnet45, PriceRegionDefault, PriceRegionDefault, 3.3},
		{sonnet45, PriceRegionGlobal, PriceRegionGlobal, 3},
		{"us." + sonnet45, "us-west-2", PriceRegionDefault, 3.3},
		{"jp." + sonnet45, "ap-northeast-1", PriceRegionDefault, 3.3},
		{"global." + sonnet45, "us-east-1", PriceRegionGlobal, 3},
		{"global." + sonnet45, "", PriceRegionGlobal, 3},
		// A model with no global row: its global. profile is its default price.
		{"global.anthropic.claude-sonnet-4-20250514-v1:0", "eu-west-1", PriceRegionDefault, 3},
		{novaPro, "us-east-1", PriceRegionDefault, 0.8},
		{novaPro, "ap-southeast-2", "ap-southeast-2", 0.84},
		{"us." + novaPro, "us-east-2", PriceRegionDefault, 0.8},
		{"apac." + novaPro, "ap-northeast-1", "ap-northeast-1", 0.84},
		{"jp." + novaPro, "ap-northeast-3", "ap-northeast-3", 0.84},
		{"arn:aws:bedrock:ap-south-1::foundation-model/" + novaPro, "", "ap-south-1", 0.84},
		{"arn:aws:bedrock:us-east-1::foundation-model/" + novaPro, "ap-south-1", "ap-south-1", 0.84},
		{"arn:aws:bedrock:us-east-1:222222222222:inference-profile/global." + sonnet45, "", PriceRegionGlobal, 3},
		{"arn%3Aaws%3Abedrock%3Aeu-west-1%3A222222222222%3Ainference-profile%2Feu." + sonnet45, "", PriceRegionDefault, 3.3},
	} {
		p, ok := ps.Lookup(tt.model, tt.region)
		if !ok || p.Region != tt.wantRegion || !near(p.Input, tt.wantInput) {
			t.Errorf("Lookup(%q, %q) = %s %s $%v, %v; want region %s, input $%v", tt.model, tt.region, p.Model, p.Region, p.Input, ok,
				tt.wantRegion, tt.wantInput)
		}
		if ok && strings.Contains(p.Model, ".anthropic.") {
			t.Errorf("Lookup(%q) kept the profile prefix: %s", tt.model, p.Model)
		}
	}
	for _, tt := range [][2]string{
		{"anthropic.claude-3-5-haiku-20241022-v1:0", "us-east-1"}, // not in the catalogue
		{"xx." + sonnet45, "us-east-1"},                           // not a geography
		{"", "us-east-1"},
		{"arn:aws:bedrock:us-east-1:222222222222:application-inference-profile/abc123", ""},
		{"arn:aws:s3:::bucket/x", ""},
		{"meta.llama3-70b-instruct-v1:0", ""},
	} {
		if p, ok := ps.Lookup(tt[0], tt[1]); ok {
			t.Errorf("Lookup(%q, %q) = %+v; want no price", tt[0], tt[1], p)
		}
	}
	var none *Prices
	if _, ok := none.Lookup(sonnet45, ""); ok {
		t.Error("a nil table has prices")
	}
	if none.All() != nil {
		t.Error("a nil table lists rows")
	}
}

// A model of the catalogue that prices.yaml does not price has no price, and a config can give it one.
func TestPricesUnpricedModel(t *testing.T) {
	cat, err := Default().With([]Model{
		{ID: "anthropic.claude-test-9", Provider: "anthropic", Family: FamilyAnthropic, Profiles: map[string][]string{"us": nil, "global": nil}},
		{ID: "amazon.test-nocache-v1:0", Provider: "amazon", Family: FamilyNova, OnDemandRegions: []string{"us-east-1"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ps := DefaultPrices().ForCatalog(cat)
	if p, ok := ps.Lookup("anthropic.claude-test-9", "us-east-1"); ok {
		t.Errorf("an unpriced model has price %+v", p)
	}
	if _, err := DefaultPrices().With([]PriceOverride{{Model: "anthropic.claude-test-9", Input: 1, Output: 2}}); err == nil {
		t.Error("With against the embedded catalogue took a model only the config's catalogue has")
	}
	_, err = ps.With([]PriceOverride{
		{Model: "us.anthropic.claude-test-9", Region: "us-east-1", Input: 1, Output: 2},
	})
	if err == nil || !strings.Contains(err.Error(), "anthropic.claude-test-9 and that region") {
		t.Errorf("a us. profile id: err %v, want a hint to give the foundation-model id", err)
	}
	ps2, err := ps.With([]PriceOverride{
		{Model: "anthropic.claude-test-9", Input: 1, Output: 2},
		{Model: "global.anthropic.claude-test-9", Input: 0.9, Output: 1.8},
		{Model: "amazon.test-nocache-v1:0", Input: 1, Output: 2},
	})
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := ps2.Lookup("us.anthropic.claude-test-9", "us-east-2"); !ok || p.Input != 1 || !near(p.CacheRead, 0.1) || !near(p.CacheWrite, 1.25) {
		t.Errorf("added Anthropic model: %+v, %v; want input 1 and the family's cache rule", p, ok)
	}
	if p, ok := ps2.Lookup("global.anthropic.claude-test-9", "us-east-2"); !ok || p.Region != PriceRegionGlobal || p.Input != 0.9 {
		t.Errorf("added global row: %+v, %v", p, ok)
	}
	if p, ok := ps2.Lookup("amazon.test-nocache-v1:0", "us-east-1"); !ok || p.CacheRead != 0 || p.CacheWrite != 0 {
		t.Errorf("a model without prompt caching: %+v, %v; want no cache prices", p, ok)
	}
}

func TestPricesWith(t *testing.T) {
	base := DefaultPrices()
	before := base.All()
	ps, err := base.With([]PriceOverride{
		// Replaces Sonnet 4.5's default row; the cache prices follow the family rule.
		{Model: sonnet45, Input: 2, Output: 10, Date: "2026-11-30"},
		// Adds a region row with its own cache prices (a zero is a price, not a gap).
		{Model: sonnet45, Region: "eu-west-1", Input: 4, Output: 20, CacheRead: ptr(0.5), CacheWrite: ptr(0), Source: "our EDP contract"},
		// Replaces the global row through the profile id.
		{Model: "global." + sonnet45, Input: 2.5, Output: 12},
		// A non-Anthropic model with prompt caching takes the same ratios.
		{Model: novaPro, Region: "default", Input: 1, Output: 4},
	})
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := ps.Lookup(sonnet45, "us-east-1"); p.Input != 2 || p.Output != 10 || !near(p.CacheRead, 0.2) || !near(p.CacheWrite, 2.5) ||
		p.Source != "relay config" || p.Date != "2026-11-30" || p.LongPrompt.Above != 0 {
		t.Errorf("replaced default row: %+v", p)
	}
	if p, _ := ps.Lookup("eu."+sonnet45, "eu-west-1"); p.Region != "eu-west-1" || p.Input != 4 || p.CacheRead != 0.5 || p.CacheWrite != 0 ||
		p.Source != "our EDP contract" {
		t.Errorf("added region row: %+v", p)
	}
	if p, _ := ps.Lookup("eu."+sonnet45, "eu-central-1"); p.Region != PriceRegionDefault || p.Input != 2 {
		t.Errorf("another region: %+v, want the new default row", p)
	}
	if p, _ := ps.Lookup("global."+sonnet45, "us-east-1"); p.Input != 2.5 || !near(p.CacheRead, 0.25) || !near(p.CacheWrite, 3.125) {
		t.Errorf("replaced global row: %+v", p)
	}
	if p, _ := ps.Lookup(novaPro, "us-east-1"); p.Input != 1 || !near(p.CacheRead, 0.1) || !near(p.CacheWrite, 1.25) {
		t.Errorf("Nova override: %+v, want the 0.1x/1.25x rule (it has prompt_cache)", p)
	}
	if p, _ := ps.Lookup(novaPro, "ap-southeast-2"); p.Input != 0.84 {
		t.Errorf("Nova's APAC row: %+v, want it kept", p)
	}
	if got := len(ps.All()); got != len(before)+1 {
		t.Errorf("%d rows after overrides, want %d (one added)", got, len(before)+1)
	}
	// The table overridden is unchanged.
	if after := base.All(); !slices.Equal(before, after) {
		t.Error("With changed the table it was called on")
	}
	if p, _ := base.Lookup(sonnet45, "us-east-1"); p.Input != 3.3 {
		t.Errorf("base Sonnet 4.5: %+v", p)
	}
	// No overrides: an equal table.
	same, err := base.With(nil)
	if err != nil || !slices.Equal(same.All(), before) {
		t.Errorf("With(nil): %v", err)
	}
}

func TestPricesWithErrors(t *testing.T) {
	base := DefaultPrices()
	for _, tt := range []struct {
		name string
		o    PriceOverride
		want string
	}{
		{"unknown model", PriceOverride{Model: "anthropic.claude-nope-1", Input: 1, Output: 1}, `"anthropic.claude-nope-1"`},
		{"no model", PriceOverride{Input: 1, Output: 1}, "model: required"},
		{"negative input", PriceOverride{Model: sonnet45, Input: -1, Output: 1}, ">= 0"},
		{"negative cache", PriceOverride{Model: sonnet45, Input: 1, Output: 1, CacheWrite: ptr(-0.1)}, ">= 0"},
		{"NaN", PriceOverride{Model: sonnet45, Input: math.NaN(), Output: 1}, ">= 0"},
		{"infinite", PriceOverride{Model: sonnet45, Input: 1, Output: math.Inf(1)}, ">= 0"},
		{"bad region", PriceOverride{Model: sonnet45, Region: "US East", Input: 1, Output: 1}, `region "US East"`},
		{"bad date", PriceOverride{Model: sonnet45, Input: 1, Output: 1, Date: "2026-13-01"}, "YYYY-MM-DD"},
		{"geographic profile", PriceOverride{Model: "jp." + sonnet45, Input: 1, Output: 1}, "jp. is a geographic profile"},
		{"global profile in a region", PriceOverride{Model: "global." + sonnet45, Region: "us-east-1", Input: 1, Output: 1}, "global row"},
		{"ARN", PriceOverride{Model: "arn:aws:bedrock:us-east-1::foundation-model/" + novaPro, Input: 1, Output: 1}, "not an ARN"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ps, err := base.With([]PriceOverride{tt.o})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err %v, want one containing %q", err, tt.want)
			}
			if ps != nil {
				t.Error("a table came back with the error")
			}
			if err != nil && !strings.HasPrefix(err.Error(), "prices[0]") {
				t.Errorf("err %q does not say which entry", err)
			}
		})
	}
	_, err := base.With([]PriceOverride{
		{Model: sonnet45, Region: "us-east-1", Input: 1, Output: 1},
		{Model: sonnet45, Region: "us-east-1", Input: 2, Output: 2},
		{Model: "anthropic.claude-nope-1", Input: 1, Output: 1},
		{Model: "amazon.nope-v1:0", Input: 1, Output: 1},
	})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"prices[1] (" + sonnet45 + "): region us-east-1: the model is priced there twice", "prices[2] (anthropic.claude-nope-1)", "prices[3] (amazon.nope-v1:0)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err %q: want %q among the lines", err, want)
		}
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != 3 {
		t.Errorf("%d lines, want 3:\n%v", n, err)
	}
}

func TestPricesAll(t *testing.T) {
	all := DefaultPrices().All()
	for i := 1; i < len(all); i++ {
		a, b := all[i-1], all[i]
		if a.Model > b.Model {
			t.Fatalf("not sorted by model: %s before %s", a.Model, b.Model)
		}
	}
	var regions []string
	for _, p := range all {
		if p.Model == novaPro {
			regions = append(regions, p.Region)
		}
	}
	if len(regions) < 2 || regions[0] != PriceRegionDefault || !slices.IsSorted(regions[1:]) {
		t.Errorf("Nova Pro's rows in order %v: want default first, then the regions sorted", regions)
	}
	var sonnet []string
	for _, p := range all {
		if p.Model == sonnet45 {
			sonnet = append(sonnet, p.Region)
		}
	}
	if !slices.Equal(sonnet, []string{PriceRegionDefault, PriceRegionGlobal}) {
		t.Errorf("Sonnet 4.5's rows %v: want default, global", sonnet)
	}
	all[0].Input = 1e9
	if DefaultPrices().All()[0].Input == 1e9 {
		t.Error("All hands out the table's own rows")
	}
}

func TestParsePricesErrors(t *testing.T) {
	c := Default()
	row := func(extra string) string {
		return "prices:\n  - model: " + sonnet45 + "\n    regions: [default]\n    input: 1\n    output: 2\n    source: test\n    date: \"2026-12-01\"\n" + extra
	}
	if ps, err := ParsePrices([]byte(row("")), c); err != nil {
		t.Fatalf("a good row: %v", err)
	} else if p, _ := ps.Lookup(sonnet45, "us-east-1"); !near(p.CacheRead, 0.1) || !near(p.CacheWrite, 1.25) {
		t.Errorf("cache prices left out: %+v, want the family rule", p)
	}
	for _, tt := range []struct{ name, yaml, want string }{
		{"unknown model", strings.Replace(row(""), sonnet45, "anthropic.nope", 1), `"anthropic.nope"`},
		{"profile id", strings.Replace(row(""), sonnet45, "us."+sonnet45, 1), "inference profile id"},
		{"no source", strings.Replace(row(""), "source: test", "source: \"\"", 1), "source: required"},
		{"no date", strings.Replace(row(""), `date: "2026-12-01"`, "", 1), "date"},
		{"bad date", strings.Replace(row(""), "2026-12-01", "2026-02-30", 1), "date"},
		{"no regions", strings.Replace(row(""), "regions: [default]", "", 1), "regions: required"},
		{"bad region", strings.Replace(row(""), "[default]", "[Tokyo]", 1), `region "Tokyo"`},
		{"twice", row("  - model: " + sonnet45 + "\n    regions: [us-east-1, default]\n    input: 1\n    output: 2\n    source: t\n    date: \"2026-12-01\"\n"), "priced there twice"},
		{"negative", strings.Replace(row(""), "input: 1", "input: -1", 1), ">= 0"},
		{"no output", strings.Replace(row(""), "output: 2", "", 1), "input and output: required"},
		{"bad tier", row("    long_prompt: {above: 0, input: 1, output: 1}\n"), "long_prompt"},
		{"unknown field", row("    currency: EUR\n"), "currency"},
		{"not yaml", "prices: [", "parse prices"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePrices([]byte(tt.yaml), c)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err %v, want one containing %q", err, tt.want)
			}
		})
	}
}
