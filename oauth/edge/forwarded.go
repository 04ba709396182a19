package edge

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Proxies are the data plane's trusted reverse proxies ([listen]
// trusted_proxies): from one of them, a request's client is the
// rightmost address of X-Forwarded-For that is not itself a trusted
// proxy. Entries left of it were written by the client and are never
// believed. Without proxies X-Forwarded-For is ignored, and every
// client behind a proxy (a console signing its users in server to
// server) is one source to the rate limits and the lockout.
type Proxies []netip.Prefix

// ParseProxies reads trusted_proxies: CIDR prefixes ("10.0.0.0/8"), or
// bare addresses (a /32 or /128). A prefix that trusts every address
// is refused: any client could then name its own source.
func ParseProxies(cidrs []string) (Proxies, error) {
	var ps Proxies
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			a, aerr := netip.ParseAddr(c)
			if aerr != nil || a.Zone() != "" {
				return nil, fmt.Errorf("%q is not a CIDR prefix (\"10.0.0.0/8\", \"2001:db8::/32\") or an address", c)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		switch {
		case p.Bits() == 0:
			return nil, fmt.Errorf("%q trusts every address: any client could then choose its source", c)
		case p.Addr().Is4In6():
			return nil, fmt.Errorf("%q: write an IPv4 prefix as such (\"10.0.0.0/8\")", c)
		case p.Addr().Zone() != "":
			return nil, fmt.Errorf("%q: a prefix has no zone", c)
		}
		ps = append(ps, p.Masked())
	}
	return ps, nil
}

func (ps Proxies) trusted(a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// maxHops bounds how many X-Forwarded-For entries are read from the
// right: no real chain of proxies is longer.
const maxHops = 32

// Client is the client address of a request from peer carrying the
// X-Forwarded-For header values xff (in the order they came): peer
// itself unless it is a trusted proxy; else, walking the entries from
// the right, the first that is not a trusted proxy. An entry that does
// not parse, or a chain longer than maxHops, ends the walk at the last
// trusted proxy read: it wrote what follows, so it is the client as far
// as anyone vouches.
func (ps Proxies) Client(peer netip.Addr, xff []string) netip.Addr {
	addr := peer.Unmap()
	if len(ps) == 0 || !ps.trusted(addr) {
		return addr
	}
	hops := 0
	for i := len(xff) - 1; i >= 0; i-- {
		rest := xff[i]
		for rest != "" {
			var entry string
			if j := strings.LastIndexByte(rest, ','); j >= 0 {
				entry, rest = rest[j+1:], rest[:j]
			} else {
				entry, rest = rest, ""
			}
			entry = strings.Trim(entry, " \t")
			if entry == "" && rest != "" {
				continue // an empty list element (RFC 9110 §5.6.1)
			}
			if hops++; hops > maxHops {
				return addr
			}
			a, ok := parseHop(entry)
			if !ok {
				return addr
			}
			addr = a
			if !ps.trusted(a) {
				return a
			}
		}
	}
	return addr
}

// parseHop reads one X-Forwarded-For entry: an address, with or without
// a port, IPv6 optionally in brackets. Zones are refused: they mean
// nothing beyond the proxy's host.
func parseHop(s string) (netip.Addr, bool) {
	if len(s) > len("[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535") {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, perr := netip.ParseAddrPort(s)
		if perr != nil {
			if len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' {
				return netip.Addr{}, false
			}
			if a, err = netip.ParseAddr(s[1 : len(s)-1]); err != nil || !a.Is6() {
				return netip.Addr{}, false
			}
		} else {
			a = ap.Addr()
		}
	}
	if a.Zone() != "" || !a.IsValid() {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// Wrap makes h see the client address (Client) as the request's
// RemoteAddr, so that every audit source, rate limit and lockout counts
// the client behind a trusted proxy rather than the proxy. Without
// proxies it returns h.
func (ps Proxies) Wrap(h http.Handler) http.Handler {
	if len(ps) == 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil {
			h.ServeHTTP(w, r)
			return
		}
		client := ps.Client(peer.Addr(), r.Header.Values("X-Forwarded-For"))
		if client != peer.Addr().Unmap() {
			r = r.WithContext(r.Context()) // a shallow copy: the caller's request stays as it came
			r.RemoteAddr = net.JoinHostPort(client.String(), "0")
		}
		h.ServeHTTP(w, r)
	})
}
