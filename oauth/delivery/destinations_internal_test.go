package delivery

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzAllowHost: whatever an allow_hosts entry holds, it parses to a
// valid prefix or to a name that parses back to itself, never both; a
// Destinations built from it never allows loopback beyond what it lists
// and decides any address without panicking.
func FuzzAllowHost(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "127.0.0.1", "::1", "[::1]", "::ffff:10.0.0.0/104", "::ffff:0:0/90", "relay.example.", "RELAY.Example",
		"*.example", "fe80::1%eth0", "", "a..b", "1.2.3.4/33", "0.0.0.0/0"} {
		f.Add(s, "127.0.0.1:25")
	}
	f.Fuzz(func(t *testing.T, s, addr string) {
		p, name, err := ParseAllowHost(s)
		if err != nil {
			return
		}
		require.NotEqual(t, p.IsValid(), name != "", "entry %q: prefix %v, name %q", s, p, name)
		if name != "" {
			p2, n2, err := ParseAllowHost(name)
			require.NoError(t, err)
			require.Equal(t, name, n2)
			require.False(t, p2.IsValid())
		}
		d, err := NewDestinations([]string{s}, []string{"127.0.0.1:8443"})
		require.NoError(t, err)
		ap, err := netip.ParseAddrPort(addr)
		if err != nil {
			return
		}
		err = d.check("relay.invalid", ap)
		if ap.Addr().Unmap().IsLoopback() && !(p.IsValid() && p.Contains(ap.Addr().Unmap().WithZone(""))) {
			require.ErrorIs(t, err, ErrDestination, "entry %q allowed %v", s, ap)
		}
		_ = d.settable(false, ap.Addr().String(), int(ap.Port()))
	})
}
