package authz

import "slices"

// Permissions lists what subject id may do in product, as a decision
// about product would answer: resource -> actions, resource names bare
// (without the product), "*" kept as "*" both as a resource (every
// resource of product) and as an action (every action). A resource whose
// actions include "*" lists only "*". product "" lists the grants that
// apply without a product, which is how the Identity routes decide.
// An unknown subject may do nothing: the map is empty, never nil.
//
// A resource's own entry is complete ("*"'s actions are folded into it),
// and "*" speaks for the resources without one: for every resource R and
// lower-case action A, Allowed(id, product, R, A) is true exactly when
// the entry of R, or of "*" when R has none, holds A or "*".
func (x *Index) Permissions(id, product string) map[string][]string {
	out := map[string][]string{}
	x.mu.RLock()
	sid, ok := x.lookup(id)
	if ok {
		for _, gid := range x.sets[sid].groups {
			t := x.groups[gid].table
			if t == nil {
				continue
			}
			for i := range t.rules {
				r := &t.rules[i]
				if !r.inProduct(product) {
					continue
				}
				out[r.resource] = r.appendActions(out[r.resource])
			}
		}
	}
	x.mu.RUnlock()
	// Fold "*"'s actions into every named resource, so a resource's own
	// entry is complete on its own.
	if all, ok := out["*"]; ok {
		for res := range out {
			if res != "*" {
				out[res] = append(out[res], all...)
			}
		}
	}
	for res, acts := range out {
		if slices.Contains(acts, "*") {
			out[res] = []string{"*"}
			continue
		}
		slices.Sort(acts)
		out[res] = slices.Compact(acts)
	}
	return out
}

// appendActions appends the actions the rule allows, "*" for every one.
func (r *rule) appendActions(out []string) []string {
	if r.other != "" {
		return append(out, r.other)
	}
	if r.verbs&verbAny != 0 {
		return append(out, "*")
	}
	for _, v := range verbs {
		if r.verbs&v.bit != 0 {
			out = append(out, v.name)
		}
	}
	return out
}
