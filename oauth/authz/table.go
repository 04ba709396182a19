package authz

import (
	"cmp"
	"slices"
	"strings"

	"github.com/accessd/accessd/oauth/api"
)

// table is one group's permissions compiled for lookup. It is immutable
// once built, so SetGroup builds it outside the lock and swaps it in.
type table struct {
	// byResource maps a resource ("*" included) to the grants on it, one
	// entry per product ("" = any product).
	byResource map[string][]grant
	wildcard   bool             // some grant has resource "*"
	list       []api.Permission // normalised, sorted, distinct: for Effective
}

// grant is what one group allows on one (product, resource).
type grant struct {
	product string
	verbs   uint16   // verbBit values; verbAny for "*"
	other   []string // lower-case actions that are not known verbs
}

// Known actions, as bits, so a decision compares integers.
const (
	verbGet uint16 = 1 << iota
	verbHead
	verbPost
	verbPut
	verbPatch
	verbDelete
	verbOptions
	verbConnect
	verbTrace
	verbAny // "*"
)

var verbs = [...]struct {
	name string
	bit  uint16
}{
	{"get", verbGet}, {"head", verbHead}, {"post", verbPost}, {"put", verbPut},
	{"patch", verbPatch}, {"delete", verbDelete}, {"options", verbOptions},
	{"connect", verbConnect}, {"trace", verbTrace},
}

// verbBit maps an HTTP verb in any case to its bit, or 0 when it is not
// one. "*" as a requested action is not a wildcard: it maps to 0 and is
// matched only by a stored "*".
func verbBit(action string) uint16 {
	for _, v := range verbs {
		if strings.EqualFold(action, v.name) {
			return v.bit
		}
	}
	return 0
}

// normalize puts p in the one form the index matches on, or reports that
// it grants nothing (empty resource or action).
func normalize(p api.Permission) (api.Permission, bool) {
	if p.Resource == "" || p.Action == "" {
		return api.Permission{}, false
	}
	p.Action = strings.ToLower(p.Action)
	if prefix, rest, ok := strings.Cut(p.Resource, "/"); ok && prefix != "" && rest != "" {
		switch p.Product {
		case "":
			p.Product, p.Resource = prefix, rest
		case prefix:
			p.Resource = rest
		}
	}
	return p, true
}

func comparePerm(a, b api.Permission) int {
	return cmp.Or(cmp.Compare(a.Product, b.Product), cmp.Compare(a.Resource, b.Resource), cmp.Compare(a.Action, b.Action))
}

// compile builds the lookup table of one group's permissions.
func compile(perms []api.Permission) *table {
	t := &table{byResource: make(map[string][]grant)}
	for _, p := range perms {
		n, ok := normalize(p)
		if !ok {
			continue
		}
		t.list = append(t.list, n)
	}
	slices.SortFunc(t.list, comparePerm)
	t.list = slices.Compact(t.list)
	for _, n := range t.list {
		gs := t.byResource[n.Resource]
		i := slices.IndexFunc(gs, func(g grant) bool { return g.product == n.Product })
		if i < 0 {
			gs = append(gs, grant{product: n.Product})
			i = len(gs) - 1
		}
		switch bit := verbBit(n.Action); {
		case n.Action == "*":
			gs[i].verbs |= verbAny
		case bit != 0:
			gs[i].verbs |= bit
		default:
			gs[i].other = append(gs[i].other, n.Action)
		}
		t.byResource[n.Resource] = gs
		if n.Resource == "*" {
			t.wildcard = true
		}
	}
	return t
}

// allows reports whether the table grants action (whose verbBit is verb)
// on resource of product. It does not allocate.
func (t *table) allows(product, resource, action string, verb uint16) bool {
	if t.match(t.byResource[resource], product, action, verb) {
		return true
	}
	return t.wildcard && t.match(t.byResource["*"], product, action, verb)
}

func (t *table) match(gs []grant, product, action string, verb uint16) bool {
	for i := range gs {
		g := &gs[i]
		if g.product != "" && g.product != product {
			continue
		}
		if g.verbs&(verb|verbAny) != 0 {
			return true
		}
		for _, o := range g.other {
			if strings.EqualFold(o, action) {
				return true
			}
		}
	}
	return false
}
