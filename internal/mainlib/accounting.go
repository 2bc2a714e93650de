package mainlib

import (
	"strings"

	"github.com/bedrock-relay/bedrock-relay/catalog"
	"github.com/bedrock-relay/bedrock-relay/config"
	"github.com/bedrock-relay/bedrock-relay/internal/httpapi"
	"github.com/bedrock-relay/bedrock-relay/ratelimit"
	"github.com/bedrock-relay/bedrock-relay/ratelimit/redisstore"
	"github.com/bedrock-relay/bedrock-relay/usage"
)

// newAccounting builds the keys' budgets and the usage ledger: in the process, or with a state store in
// Redis, where the keys' windows, their spend and the usage totals are shared by every replica.
func newAccounting(cfg *config.Config, st *redisstore.Store, m *httpapi.Metrics) (*httpapi.Accounting, error) {
	cat, err := cfg.ModelCatalog()
	if err != nil {
		return nil, err
	}
	ps, err := cfg.PriceTable(cat)
	if err != nil {
		return nil, err
	}
	billed := map[[2]string]string{} // target × foundation-model id → the region its price is of
	byModel := map[string][]string{} // foundation-model id → those regions, over the targets serving it
	for _, t := range cfg.Targets {
		for _, id := range t.Models {
			fm, err := config.ServedModelIn(cat, id, t.Region)
			if err != nil {
				continue // Validate has said so
			}
			r := priceRegion(id, t.Region)
			billed[[2]string{t.Name, fm}] = r
			byModel[fm] = append(byModel[fm], r)
		}
	}
	a := &httpapi.Accounting{Metrics: m,
		Price: func(model, target string) (catalog.Price, bool) {
			r, ok := billed[[2]string{target, model}]
			if !ok {
				return catalog.Price{}, false
			}
			return ps.Lookup(model, r)
		},
		MaxPrice: func(model string) (catalog.Price, bool) {
			var best catalog.Price
			found := false
			for _, r := range byModel[model] {
				if p, ok := ps.Lookup(model, r); ok && (!found || p.Output > best.Output) {
					best, found = p, true
				}
			}
			return best, found
		},
	}
	if st != nil {
		a.Limits = ratelimit.New(ratelimit.WithShared(st, st.Share()))
		led := st.Usage()
		a.Spend, a.Usage = led, led
	} else {
		a.Limits = ratelimit.New()
		mem := &usage.Memory{}
		a.Spend, a.Usage = mem, mem
	}
	return httpapi.NewAccounting(cfg, a)
}

// priceRegion is the region whose price a target's model id is billed at: a global. profile has its own.
func priceRegion(id, region string) string {
	if strings.HasPrefix(id, "global.") {
		return "global"
	}
	return region
}
