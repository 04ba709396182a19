package authz

import (
	"cmp"
	"slices"
	"strings"
)

// table is one group's permissions compiled for lookup: rules sorted by
// resource, product and action, searched by bisection. A slice of small
// structs rather than a map keeps ten thousand groups to a few MiB. A
// table is immutable once built, so SetGroup builds it outside the lock.
type table struct {
	rules    []rule
	wildcard bool // some rule has resource "*"
}

// rule is what one group allows on one (product, resource): the known
// verbs as bits, or one other action.
type rule struct {
	resource string
	product  string // "" = any product
	other    string // a lower-case action that is not a known verb; verbs == 0
	verbs    uint16 // verbBit values; verbAny for "*"
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

// compile builds the lookup table of one group's permissions.
func compile(perms []Permission) *table {
	var ns []Permission
	for _, p := range perms {
		if n, ok := Normalize(p); ok {
			ns = append(ns, n)
		}
	}
	t := &table{}
	for _, n := range ns {
		r := rule{resource: n.Resource, product: n.Product}
		switch bit := verbBit(n.Action); {
		case n.Action == "*":
			r.verbs = verbAny
		case bit != 0:
			r.verbs = bit
		default:
			r.other = n.Action
		}
		t.rules = append(t.rules, r)
		t.wildcard = t.wildcard || n.Resource == "*"
	}
	slices.SortFunc(t.rules, compareRule)
	// Merge the verbs of rules on the same (resource, product).
	out := t.rules[:0]
	for _, r := range t.rules {
		if k := len(out) - 1; k >= 0 && out[k].resource == r.resource && out[k].product == r.product {
			if r.other == "" && out[k].other == "" {
				out[k].verbs |= r.verbs
				continue
			}
			if r == out[k] {
				continue
			}
		}
		out = append(out, r)
	}
	t.rules = slices.Clip(out)
	return t
}

func compareRule(a, b rule) int {
	return cmp.Or(cmp.Compare(a.resource, b.resource), cmp.Compare(a.product, b.product), cmp.Compare(a.other, b.other))
}

// allows reports whether the table grants action (whose verbBit is verb)
// on resource of product. It does not allocate.
func (t *table) allows(product, resource, action string, verb uint16) bool {
	if t.match(product, resource, action, verb) {
		return true
	}
	return t.wildcard && t.match(product, "*", action, verb)
}

// inProduct reports whether the rule applies to a request of product:
// a rule without a product applies to every product, and to requests
// that name none; a product's rule only to that product. Decisions
// (match) and listings (Index.Permissions) both ask this, so a listing
// never shows what a decision would refuse.
func (r *rule) inProduct(product string) bool {
	return r.product == "" || r.product == product
}

func (t *table) match(product, resource, action string, verb uint16) bool {
	// The first rule on resource, by bisection.
	i, j := 0, len(t.rules)
	for i < j {
		h := int(uint(i+j) >> 1)
		if t.rules[h].resource < resource {
			i = h + 1
		} else {
			j = h
		}
	}
	for ; i < len(t.rules) && t.rules[i].resource == resource; i++ {
		r := &t.rules[i]
		if !r.inProduct(product) {
			continue
		}
		if r.verbs&(verb|verbAny) != 0 || (r.other != "" && strings.EqualFold(r.other, action)) {
			return true
		}
	}
	return false
}

// appendPermissions appends the table's permissions, normalised, to out.
func (t *table) appendPermissions(out []Permission) []Permission {
	for _, r := range t.rules {
		p := Permission{Product: r.product, Resource: r.resource}
		if r.other != "" {
			p.Action = r.other
			out = append(out, p)
			continue
		}
		if r.verbs&verbAny != 0 {
			p.Action = "*"
			out = append(out, p)
		}
		for _, v := range verbs {
			if r.verbs&v.bit != 0 {
				p.Action = v.name
				out = append(out, p)
			}
		}
	}
	return out
}
