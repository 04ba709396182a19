package delivery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/store"
)

// Where a provider may connect.
//
// A provider's host or URL is a destination the daemon connects to with
// the provider's secret, so it is an SSRF handle. Loopback, link-local,
// unspecified, multicast and broadcast addresses, and the daemon's own
// listen addresses, are never a destination unless [delivery]
// allow_hosts lists them (an address inside a listed prefix, or a listed
// host name, which is then trusted whatever it resolves to). The check
// runs when a connection is made, on the address actually dialled after
// resolution (net.Dialer's Control), so a name that resolves elsewhere
// later (DNS rebinding) does not pass. Setting a destination is checked
// too: on the data plane it must be inside allow_hosts (a listed name,
// or an IP address inside a listed prefix); the admin socket may set any
// other, except an address that is never a destination.

// ErrDestination is wrapped by a connection refused because of where it
// would go.
var ErrDestination = errors.New("delivery: destination not allowed")

// Destinations decides where providers may connect: [delivery]
// allow_hosts and the daemon's own listen addresses. A nil
// *Destinations has no allow list and no own addresses.
type Destinations struct {
	nets  []netip.Prefix
	names map[string]bool
	// listen are the daemon's listen addresses; an unspecified address
	// stands for its port on every address of the host (local).
	listen []netip.AddrPort
	local  map[netip.Addr]bool
}

var hostLabel = regexp.MustCompile(`^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$`)

// ParseAllowHost reads one allow_hosts entry: an IP address, a CIDR
// prefix ("10.20.0.0/16"), or a host name (matched exactly, without
// wildcards). It returns the prefix (an address is a /32 or /128) or the
// name in lower case.
func ParseAllowHost(s string) (netip.Prefix, string, error) {
	h := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
	if strings.Contains(h, "/") {
		p, err := netip.ParsePrefix(h)
		if err != nil {
			return netip.Prefix{}, "", fmt.Errorf("delivery: allow_hosts entry %q is not a CIDR prefix like \"10.0.0.0/8\"", s)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), "", nil
	}
	if a, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
		if a.Zone() != "" {
			return netip.Prefix{}, "", fmt.Errorf("delivery: allow_hosts entry %q has a zone; list the address without it", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), "", nil
	}
	if h == "" || len(h) > 253 {
		return netip.Prefix{}, "", fmt.Errorf("delivery: allow_hosts entry %q is empty or too long", s)
	}
	for _, l := range strings.Split(h, ".") {
		if !hostLabel.MatchString(l) {
			return netip.Prefix{}, "", fmt.Errorf("delivery: allow_hosts entry %q is not an IP address, a CIDR prefix or a host name (no wildcards)", s)
		}
	}
	return netip.Prefix{}, h, nil
}

// NewDestinations reads allow_hosts and the daemon's listen addresses
// (HOST:PORT; an empty or unspecified host means every address of the
// host, a name is resolved once).
func NewDestinations(allowHosts, listen []string) (*Destinations, error) {
	d := &Destinations{names: map[string]bool{}}
	for _, s := range allowHosts {
		p, name, err := ParseAllowHost(s)
		if err != nil {
			return nil, err
		}
		if name != "" {
			d.names[name] = true
		} else {
			d.nets = append(d.nets, p)
		}
	}
	wildcard := false
	for _, l := range listen {
		host, port, err := net.SplitHostPort(l)
		if err != nil {
			return nil, fmt.Errorf("delivery: listen address %q: %w", l, err)
		}
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("delivery: listen address %q: bad port", l)
		}
		addrs := []netip.Addr{netip.IPv4Unspecified()}
		if host != "" {
			if a, err := netip.ParseAddr(host); err == nil {
				addrs = []netip.Addr{a.Unmap().WithZone("")}
			} else {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				addrs, _ = net.DefaultResolver.LookupNetIP(ctx, "ip", host)
				cancel()
			}
		}
		for _, a := range addrs {
			a = a.Unmap()
			wildcard = wildcard || a.IsUnspecified()
			d.listen = append(d.listen, netip.AddrPortFrom(a, uint16(n)))
		}
	}
	if wildcard {
		d.local = map[netip.Addr]bool{}
		ifs, _ := net.InterfaceAddrs()
		for _, ia := range ifs {
			if n, ok := ia.(*net.IPNet); ok {
				if a, ok := netip.AddrFromSlice(n.IP); ok {
					d.local[a.Unmap()] = true
				}
			}
		}
	}
	return d, nil
}

// listed reports whether allow_hosts holds ip (inside a prefix).
func (d *Destinations) listed(ip netip.Addr) bool {
	if d == nil {
		return false
	}
	ip = ip.Unmap().WithZone("")
	for _, p := range d.nets {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// named reports whether allow_hosts lists host by name.
func (d *Destinations) named(host string) bool {
	return d != nil && d.names[normalHost(host)]
}

func normalHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(strings.Trim(h, "[]")), ".")
}

var thisNetwork = netip.MustParsePrefix("0.0.0.0/8")

// never says why ap is never a destination unless listed ("" when it
// may be one).
func (d *Destinations) never(ap netip.AddrPort) string {
	ip := ap.Addr().Unmap().WithZone("")
	switch {
	case ip.IsLoopback():
		return "a loopback address"
	case ip.IsUnspecified(), ip.Is4() && thisNetwork.Contains(ip):
		return "an unspecified address"
	case ip.IsLinkLocalUnicast():
		return "a link-local address"
	case ip.IsMulticast(), ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "a multicast or broadcast address"
	}
	if d.own(ap) {
		return "the daemon's own listen address"
	}
	return ""
}

// own reports whether ap is one of the daemon's listen addresses.
func (d *Destinations) own(ap netip.AddrPort) bool {
	if d == nil {
		return false
	}
	ip := ap.Addr().Unmap().WithZone("")
	for _, o := range d.listen {
		if o.Port() == ap.Port() && (o.Addr() == ip || o.Addr().IsUnspecified() && d.local[ip]) {
			return true
		}
	}
	return false
}

// exact reports whether allow_hosts lists ip itself (not only a prefix
// around it).
func (d *Destinations) exact(ip netip.Addr) bool {
	ip = ip.Unmap().WithZone("")
	return d != nil && slices.Contains(d.nets, netip.PrefixFrom(ip, ip.BitLen()))
}

// check decides a connection to ap for a provider whose configured host
// is host. The daemon's own listen address needs allow_hosts to list
// the address itself: a prefix for the relays' network does not open
// the daemon's own port.
func (d *Destinations) check(host string, ap netip.AddrPort) error {
	if d.own(ap) && !d.exact(ap.Addr()) {
		return fmt.Errorf("%w: %s is the daemon's own listen address; list the address itself in [delivery] allow_hosts to deliver there", ErrDestination, ap)
	}
	if d.listed(ap.Addr()) || d.named(host) {
		return nil
	}
	if why := d.never(ap); why != "" {
		return fmt.Errorf("%w: %s is %s; list it in [delivery] allow_hosts to deliver there", ErrDestination, ap.Addr(), why)
	}
	return nil
}

// dialer connects only where check allows, deciding on the address
// actually dialled, after resolution, for a provider configured with
// host.
func (d *Destinations) dialer(host string) *net.Dialer {
	return &net.Dialer{Timeout: deliveryTimeout, ControlContext: func(_ context.Context, _, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("%w: %q is not an IP address and port", ErrDestination, address)
		}
		return d.check(host, ap)
	}}
}

// settable refuses a destination the caller may not set: on the data
// plane (admin false) one outside allow_hosts; on either plane one that
// is never a destination and not listed. Host names are decided when
// they are dialled, except "localhost".
func (d *Destinations) settable(admin bool, host string, port int) error {
	h := normalHost(host)
	if ip, err := netip.ParseAddr(h); err == nil {
		ap := netip.AddrPortFrom(ip.Unmap(), uint16(port))
		if d.check(host, ap) != nil && d.listed(ip) {
			return fmt.Errorf("identity: %w: %s is the daemon's own listen address, never a delivery destination unless [delivery] allow_hosts lists the address itself", api.ErrInvalidField, ap)
		}
		if d.listed(ip) {
			return nil
		}
		if why := d.never(ap); why != "" {
			return fmt.Errorf("identity: %w: %s is %s, never a delivery destination unless [delivery] allow_hosts in accessd.toml lists it", api.ErrInvalidField, ip, why)
		}
	} else if d.named(h) {
		return nil
	} else if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return fmt.Errorf("identity: %w: %s is a loopback name, never a delivery destination unless [delivery] allow_hosts in accessd.toml lists it", api.ErrInvalidField, host)
	}
	if !admin {
		return fmt.Errorf("identity: %w: on the data plane a provider's host or url must be inside [delivery] allow_hosts (a listed name, or an address in a listed prefix); %q is not: set it on the admin socket (accessctl provider), or list it in accessd.toml", api.ErrForbidden, host)
	}
	return nil
}

// destinationOf is the host and port a provider connects to.
func destinationOf(p store.Provider) (string, int) {
	if p.Category == api.ProviderEmail {
		return p.Host, p.Port
	}
	u, err := url.Parse(p.URL)
	if err != nil {
		return "", 0
	}
	port, _ := strconv.ParseUint(u.Port(), 10, 16)
	if port == 0 {
		port = map[string]uint64{"http": 80, "https": 443}[u.Scheme]
	}
	return u.Hostname(), int(port)
}
