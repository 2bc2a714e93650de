package openai

import (
	"sort"
	"time"

	"github.com/bedrock-relay/bedrock-relay/catalog"
)

// Model is one entry of GET /v1/models.
type Model struct {
	ID      string `json:"id"`
	Object  string `json:"object"` // model
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// ModelList is the GET /v1/models answer.
type ModelList struct {
	Object string  `json:"object"` // list
	Data   []Model `json:"data"`
}

// NewModelList lists models by the name a caller uses (foundation-model id or alias) → the foundation-model
// id it serves, sorted by name. owned_by is the model's provider (anthropic, amazon, ...).
func NewModelList(names map[string]string, created time.Time) ModelList {
	l := ModelList{Object: "list", Data: []Model{}}
	for name, fm := range names {
		owner := "bedrock"
		if m, ok := catalog.Default().Model(fm); ok && m.Provider != "" {
			owner = m.Provider
		}
		l.Data = append(l.Data, Model{ID: name, Object: "model", Created: created.Unix(), OwnedBy: owner})
	}
	sort.Slice(l.Data, func(i, j int) bool { return l.Data[i].ID < l.Data[j].ID })
	return l
}
