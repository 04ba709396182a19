package edge

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestTrustedProxiesClient: from a trusted proxy the client is the
// rightmost X-Forwarded-For entry that is not a trusted proxy; entries
// left of it (the client's own) are never believed; from anyone else,
// and without trusted proxies, the header is ignored.
func TestTrustedProxiesClient(t *testing.T) {
	t.Parallel()
	ps, err := ParseProxies([]string{"10.0.0.0/8", "2001:db8:ffff::/48", "192.0.2.10"})
	require.NoError(t, err)
	proxy, outsider := netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("198.51.100.7")
	for _, c := range []struct {
		name string
		peer netip.Addr
		xff  []string
		want string
	}{
		{"no header", proxy, nil, "10.1.2.3"},
		{"one client", proxy, []string{"203.0.113.9"}, "203.0.113.9"},
		{"spoofed left entries ignored", proxy, []string{"6.6.6.6, 7.7.7.7, 203.0.113.9"}, "203.0.113.9"},
		{"chain of trusted proxies", proxy, []string{"203.0.113.9, 192.0.2.10, 10.9.9.9"}, "203.0.113.9"},
		{"several header lines in order", proxy, []string{"6.6.6.6", "203.0.113.9, 10.0.0.1"}, "203.0.113.9"},
		{"port and brackets", proxy, []string{"[2001:db8:1::5]:4711, 10.0.0.1:80"}, "2001:db8:1::5"},
		{"ipv4 with port", proxy, []string{"203.0.113.9:4711"}, "203.0.113.9"},
		{"mapped", proxy, []string{"::ffff:203.0.113.9"}, "203.0.113.9"},
		{"garbage after the client's entry", proxy, []string{"203.0.113.9, garbage"}, "10.1.2.3"},
		{"unknown obfuscated hop", proxy, []string{"unknown"}, "10.1.2.3"},
		{"a zone is refused", proxy, []string{"fe80::1%eth0"}, "10.1.2.3"},
		{"empty elements", proxy, []string{" , 203.0.113.9 , ,"}, "203.0.113.9"},
		{"all trusted: the leftmost", proxy, []string{"10.0.0.2, 10.0.0.1"}, "10.0.0.2"},
		{"an outsider's header is ignored", outsider, []string{"203.0.113.9"}, "198.51.100.7"},
		{"ipv6 proxy", netip.MustParseAddr("2001:db8:ffff:1::1"), []string{"2001:db8:1::5"}, "2001:db8:1::5"},
	} {
		require.Equal(t, c.want, ps.Client(c.peer, c.xff).String(), c.name)
	}
	require.Equal(t, "10.1.2.3", Proxies(nil).Client(proxy, []string{"203.0.113.9"}).String(), "no trusted proxies: the header is ignored")

	long := strings.Repeat("10.0.0.1, ", 100) + "10.0.0.1"
	require.Equal(t, "10.0.0.1", ps.Client(proxy, []string{"203.0.113.9, " + long}).String(), "the walk stops after maxHops")
}

func TestParseProxies(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"0.0.0.0/0", "::/0", "10.0.0.0/33", "proxy.example", "::ffff:10.0.0.0/104", "fe80::1%eth0"} {
		_, err := ParseProxies([]string{bad})
		require.Error(t, err, bad)
	}
	ps, err := ParseProxies([]string{"10.1.2.3/8", "2001:db8::1"})
	require.NoError(t, err)
	require.Equal(t, Proxies{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::1/128")}, ps)
}

// TestTrustedProxiesWrap: over a real socket, the handler sees the
// client behind a trusted proxy as RemoteAddr, and the peer otherwise.
func TestTrustedProxiesWrap(t *testing.T) {
	t.Parallel()
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		_, _ = io.WriteString(w, host)
	})
	get := func(h http.Handler, xff string) string {
		srv := httptest.NewServer(h)
		defer srv.Close()
		req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
		require.NoError(t, err)
		req.Header.Set("X-Forwarded-For", xff)
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return string(b)
	}
	trusted, err := ParseProxies([]string{"127.0.0.0/8", "::1"})
	require.NoError(t, err)
	require.Equal(t, "203.0.113.9", get(trusted.Wrap(echo), "6.6.6.6, 203.0.113.9"))
	require.Equal(t, "127.0.0.1", get(Proxies(nil).Wrap(echo), "203.0.113.9"), "without trusted_proxies every client behind the proxy is the proxy")
	other, err := ParseProxies([]string{"10.0.0.0/8"})
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1", get(other.Wrap(echo), "203.0.113.9"), "a peer that is not a trusted proxy names no one")
}

// FuzzForwardedFor: whatever X-Forwarded-For says, the client is a valid
// address without a zone, it is the peer when the peer is not trusted,
// and it is the peer or one of the header's entries.
func FuzzForwardedFor(f *testing.F) {
	for _, s := range []string{"203.0.113.9", "6.6.6.6, 203.0.113.9, 10.0.0.1", "[2001:db8::1]:80", "unknown", " , ,", "fe80::1%eth0", "::ffff:1.2.3.4", strings.Repeat("10.0.0.1,", 40)} {
		f.Add(s, s, true)
	}
	ps, err := ParseProxies([]string{"10.0.0.0/8", "2001:db8:ffff::/48"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, a, b string, fromProxy bool) {
		peer := netip.MustParseAddr("198.51.100.7")
		if fromProxy {
			peer = netip.MustParseAddr("10.0.0.1")
		}
		got := ps.Client(peer, []string{a, b})
		if !got.IsValid() || got.Zone() != "" || got.Is4In6() {
			t.Fatalf("client %v from %q, %q", got, a, b)
		}
		if !fromProxy && got != peer {
			t.Fatalf("an untrusted peer's header was believed: %v", got)
		}
		if got != peer && !containsAddr(a+","+b, got) {
			t.Fatalf("client %v is neither the peer nor an entry of %q, %q", got, a, b)
		}
	})
}

// containsAddr reports whether some comma-separated entry of s parses to a.
func containsAddr(s string, a netip.Addr) bool {
	for e := range strings.SplitSeq(s, ",") {
		if h, ok := parseHop(strings.Trim(e, " \t")); ok && h == a {
			return true
		}
	}
	return false
}
