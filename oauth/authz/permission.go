package authz

import (
	"cmp"
	"strings"

	"github.com/accessd/accessd/oauth/api"
)

// Permission is one allow rule of a group: action on resource of
// product. "*" is a wildcard on Resource and Action, and an empty
// Product matches any product (see the package doc for how a request
// matches). It is the permission model's own type; api.Permission is its
// JSON form on the wire, converted at the HTTP edge and in the rooms that
// answer with it.
type Permission struct {
	Product  string
	Resource string
	Action   string
}

// FromWire is the permission a request or a stored group names.
func FromWire(p api.Permission) Permission { return Permission(p) }

// Wire is p's JSON form.
func (p Permission) Wire() api.Permission { return api.Permission(p) }

// WireList is ps in their JSON form; never nil, so an empty list
// encodes as [].
func WireList(ps []Permission) []api.Permission {
	out := make([]api.Permission, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.Wire())
	}
	return out
}

// Normalize puts p in the one form decisions match on: action lower-case,
// a "P/resource" prefix moved into Product (when Product is empty or P).
// Two permissions with the same normal form grant exactly the same
// requests, so callers that deduplicate or compare grants (the policy
// planner, the store's grant) should compare normal forms. It reports
// false when p grants nothing (empty resource or action).
func Normalize(p Permission) (Permission, bool) {
	if p.Resource == "" || p.Action == "" {
		return Permission{}, false
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

func comparePerm(a, b Permission) int {
	return cmp.Or(cmp.Compare(a.Product, b.Product), cmp.Compare(a.Resource, b.Resource), cmp.Compare(a.Action, b.Action))
}
