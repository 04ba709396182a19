package daemon

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		doc      string
		wantKey  string
		wantLine int
		wantCol  int // checked when not zero
		wantMsg  string
		notMsg   string // must not appear (the misleading text of before)
		check    func(t *testing.T, c Config)
	}{
		{name: "empty keeps defaults", doc: "", check: func(t *testing.T, c Config) {
			require.Equal(t, Default().Tokens, c.Tokens)
			require.Equal(t, "enforce", c.Lockdown.Mode)
			require.Equal(t, []int{7}, c.Seal.PCRs)
			require.Equal(t, 9600*time.Hour, c.Audit.Retention.Duration)
		}},
		{name: "full example", doc: `
data_dir = "/srv/accessd"
issuer   = "https://access.example.internal:8443"
owner    = "acme"

[seal]
device = "tcp://127.0.0.1:2321"
pcrs   = []

[listen]
tls = "127.0.0.1:9443"
trusted_proxies = ["10.0.0.0/8", "2001:db8::1"]

[tokens]
signing_alg = "RS256"
access_ttl  = "30m"

[identity]
lockout_attempts = 3
lockout          = "account"
password_memory  = "64MiB"
password_time    = 3

[audit]
retention = "720h"
`, check: func(t *testing.T, c Config) {
			require.Equal(t, 720*time.Hour, c.Audit.Retention.Duration)
			require.Equal(t, []string{"10.0.0.0/8", "2001:db8::1"}, c.Listen.TrustedProxies)
			require.Equal(t, "account", c.Identity.Lockout)
			require.Equal(t, uint32(64*1024), c.Identity.Params().MemoryKiB)
			require.Equal(t, uint32(3), c.Identity.Params().Time)
			require.Equal(t, "/srv/accessd", c.DataDir)
			require.Equal(t, "acme", c.Owner)
			require.Empty(t, c.Seal.PCRs)
			require.Equal(t, 30*time.Minute, c.Tokens.AccessTTL.Duration)
			require.Equal(t, time.Hour*24, c.Tokens.RefreshTTL.Duration)
			require.Equal(t, 3, c.Identity.LockoutAttempts)
			require.Equal(t, "/run/accessd/admin.sock", c.Listen.AdminSocket)
		}},
		{name: "unknown top key", doc: "owner = \"x\"\nbogus = 1\n", wantKey: "bogus", wantLine: 2, wantMsg: "unknown key"},
		{name: "unknown nested key", doc: "[tokens]\n\nsigning_alg = \"ES256\"\nttl = \"1h\"\n", wantKey: "tokens.ttl", wantLine: 4, wantMsg: "unknown key"},
		{name: "wrong type", doc: "[identity]\nlockout_attempts = \"five\"\n", wantKey: "identity.lockout_attempts", wantLine: 2, wantMsg: "got a TOML string, want an integer"},
		{name: "wrong type array", doc: "[seal]\npcrs = 7\n", wantKey: "seal.pcrs", wantLine: 2, wantMsg: "want an array of integers"},
		{name: "wrong type bool", doc: "[identity]\nremote_credential_ops = \"yes\"\n", wantKey: "identity.remote_credential_ops", wantLine: 2, wantMsg: "want true or false"},
		{name: "bad duration", doc: "[tokens]\naccess_ttl = \"soon\"\n", wantKey: "tokens.access_ttl", wantLine: 2, wantMsg: "duration"},
		{name: "bad alg", doc: "\n[tokens]\nsigning_alg = \"HS256\"\n", wantKey: "tokens.signing_alg", wantLine: 3, wantMsg: "ES256"},
		{name: "weak argon2id memory", doc: "[identity]\npassword_memory = \"8MiB\"\n", wantKey: "identity.password_memory", wantLine: 2, wantMsg: "19MiB"},
		{name: "size as integer", doc: "[identity]\npassword_memory = 19\n", wantKey: "identity.password_memory", wantLine: 2, wantMsg: "want a size string"},
		{name: "bad size", doc: "[identity]\npassword_memory = \"lots\"\n", wantKey: "identity.password_memory", wantLine: 2, wantMsg: "size string"},
		{name: "one pass", doc: "[identity]\npassword_time = 1\n", wantKey: "identity.password_time", wantLine: 2, wantMsg: "2..10"},
		{name: "empty default client", doc: "[tokens]\ndefault_client = \"\"\n", wantKey: "tokens.default_client", wantLine: 2},
		{name: "bad mode", doc: "[lockdown]\nmode = \"off\"\n", wantKey: "lockdown.mode", wantLine: 2, wantMsg: "enforce"},
		{name: "remote tpm", doc: "[seal]\ndevice = \"tcp://10.0.0.1:2321\"\n", wantKey: "seal.device", wantLine: 2, wantMsg: "loopback"},
		{name: "require without CA", doc: "[tls]\nclient_auth = \"require\"\n", wantKey: "tls.client_auth", wantLine: 2},
		{name: "short ttl", doc: "[tokens]\naccess_ttl = \"1s\"\n", wantKey: "tokens.access_ttl", wantLine: 2, wantMsg: "at least"},
		{name: "syntax error", doc: "[tokens\n", wantLine: 1, wantCol: 8, wantMsg: "syntax error", notMsg: "wrong type"},
		{name: "unquoted string", doc: "owner = \"x\"\nissuer = https://x\n", wantLine: 2, wantCol: 10, wantMsg: "syntax error", notMsg: "wrong type"},
		{name: "unclosed string", doc: "owner = \"x\n", wantLine: 1, wantMsg: "syntax error", notMsg: "wrong type"},
		{name: "duplicate key", doc: "owner = \"a\"\nowner = \"b\"\n", wantKey: "owner", wantLine: 2, wantCol: 1, wantMsg: "duplicate key", notMsg: "wrong type"},
		{name: "duplicate table", doc: "[tls]\n[tls]\n", wantKey: "tls", wantLine: 2, wantMsg: "duplicate key"},
		{name: "duration as integer", doc: "[tokens]\n\naccess_ttl = 5\n", wantKey: "tokens.access_ttl", wantLine: 3, wantCol: 14, wantMsg: "got a TOML integer, want a duration string"},
		{name: "duration as bool", doc: "[identity]\nlockout_duration = true\n", wantKey: "identity.lockout_duration", wantLine: 2, wantMsg: "got a TOML boolean, want a duration string"},
		{name: "credential ops max age too long", doc: "[identity]\ncredential_ops_max_age = \"48h\"\n", wantKey: "identity.credential_ops_max_age", wantLine: 2, wantMsg: "from \"1s\" to \"24h\""},
		{name: "duration as float", doc: "[identity]\nmax_secret_age = 3.5\n", wantKey: "identity.max_secret_age", wantLine: 2, wantMsg: "got a TOML float"},
		{name: "short retention", doc: "[audit]\nretention = \"23h\"\n", wantKey: "audit.retention", wantLine: 2, wantMsg: "at least 24h0m0s"},
		{name: "retention as integer", doc: "[audit]\nretention = 400\n", wantKey: "audit.retention", wantLine: 2, wantMsg: "want a duration string"},
		{name: "default product is midaz", doc: "", check: func(t *testing.T, c Config) {
			require.Equal(t, "midaz", c.Authz.DefaultProduct)
		}},
		{name: "plugin default product", doc: "[authz]\ndefault_product = \"plugin-crm\"\n", check: func(t *testing.T, c Config) {
			require.Equal(t, "plugin-crm", c.Authz.DefaultProduct)
		}},
		{name: "empty default product switches the fallback off", doc: "[authz]\ndefault_product = \"\"\n", check: func(t *testing.T, c Config) {
			require.Empty(t, c.Authz.DefaultProduct)
		}},
		{name: "default product with a slash", doc: "[authz]\n\ndefault_product = \"midaz/x\"\n", wantKey: "authz.default_product", wantLine: 3, wantMsg: "product name"},
		{name: "unknown authz key", doc: "[authz]\nproduct = \"midaz\"\n", wantKey: "authz.product", wantLine: 2, wantMsg: "unknown key"},
		{name: "unknown audit key", doc: "[audit]\nretention_days = 400\n", wantKey: "audit.retention_days", wantLine: 2, wantMsg: "unknown key"},
		{name: "port out of range", doc: "[listen]\ntls = \":70000\"\n", wantKey: "listen.tls", wantLine: 2, wantMsg: "0..65535"},
		{name: "port not a number", doc: "[listen]\ntls = \"127.0.0.1:https\"\n", wantKey: "listen.tls", wantLine: 2, wantMsg: "0..65535"},
		{name: "no connections per address", doc: "[listen]\nmax_conns_per_address = 0\n", wantKey: "listen.max_conns_per_address", wantLine: 2, wantMsg: "1..2048"},
		{name: "more per address than in total", doc: "[listen]\nmax_conns_per_address = 4096\n", wantKey: "listen.max_conns_per_address", wantLine: 2, wantMsg: "1..2048"},
		{name: "delivery allow_hosts", doc: "[delivery]\nallow_hosts = [\"relay.example.internal\", \"10.20.0.0/16\", \"::1\"]\n", check: func(t *testing.T, c Config) {
			require.Equal(t, []string{"relay.example.internal", "10.20.0.0/16", "::1"}, c.Delivery.AllowHosts)
		}},
		{name: "delivery allow_hosts wildcard", doc: "[delivery]\nallow_hosts = [\"*.example.internal\"]\n", wantKey: "delivery.allow_hosts", wantLine: 2, wantMsg: "no wildcards"},
		{name: "delivery allow_hosts as string", doc: "[delivery]\nallow_hosts = \"10.0.0.0/8\"\n", wantKey: "delivery.allow_hosts", wantLine: 2, wantMsg: "want an array of strings"},
		{name: "connections per address as string", doc: "[listen]\nmax_conns_per_address = \"256\"\n", wantKey: "listen.max_conns_per_address", wantLine: 2, wantMsg: "want an integer"},
		{name: "a trusted proxy that is no prefix", doc: "[listen]\ntrusted_proxies = [\"proxy.example\"]\n", wantKey: "listen.trusted_proxies", wantLine: 2, wantMsg: "not a CIDR prefix"},
		{name: "trusting every address", doc: "[listen]\ntrusted_proxies = [\"0.0.0.0/0\"]\n", wantKey: "listen.trusted_proxies", wantLine: 2, wantMsg: "trusts every address"},
		{name: "unknown lockout mode", doc: "[identity]\nlockout = \"user\"\n", wantKey: "identity.lockout", wantLine: 2, wantMsg: "PCI DSS 8.3.4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseConfig("/etc/accessd/accessd.toml", []byte(tt.doc), Default())
			if tt.check != nil {
				require.NoError(t, err)
				tt.check(t, c)
				return
			}
			require.Error(t, err)
			var ce *ConfigError
			require.True(t, errors.As(err, &ce), "want *ConfigError, got %T: %v", err, err)
			require.Equal(t, "/etc/accessd/accessd.toml", ce.File)
			if tt.wantKey != "" {
				require.Equal(t, tt.wantKey, ce.Key)
			}
			require.Equal(t, tt.wantLine, ce.Line, "error: %v", err)
			if tt.wantCol != 0 {
				require.Equal(t, tt.wantCol, ce.Column, "error: %v", err)
				require.Contains(t, err.Error(), fmt.Sprintf(":%d:%d:", tt.wantLine, tt.wantCol))
			}
			require.True(t, strings.Contains(err.Error(), tt.wantMsg), "error %q lacks %q", err, tt.wantMsg)
			if tt.notMsg != "" {
				require.NotContains(t, err.Error(), tt.notMsg)
			}
			require.Contains(t, err.Error(), "/etc/accessd/accessd.toml:")
		})
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("owner = \"x\"\n[tokens]\naccess_ttl = \"1h\"\n"))
	f.Add([]byte("[seal]\ndevice = \"tcp://127.0.0.1:1\"\npcrs = [0, 7]\n"))
	f.Add([]byte("[[x]]\na.b.c = 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig("fuzz.toml", data, Default())
		if err == nil {
			require.NoError(t, c.validate())
		}
	})
}

func TestDevConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c, err := DevConfig("", dir, "")
	require.NoError(t, err)
	require.Equal(t, "simulator", c.Seal.Device)
	require.Equal(t, dir+"/admin.sock", c.Listen.AdminSocket)
	require.Equal(t, dir+"/tls/server.crt", c.TLS.Cert)
	require.Equal(t, "127.0.0.1:8443", c.Listen.TLS)
	require.Equal(t, "warn", c.Lockdown.Mode)
	require.Empty(t, c.Seal.PCRs)

	// A file's settings win; --dev fills only what it leaves unset.
	f := dir + "/accessd.toml"
	require.NoError(t, os.WriteFile(f, []byte("owner = \"acme\"\n[listen]\ntls = \"127.0.0.1:9999\"\n[lockdown]\nmode = \"enforce\"\n"), 0o600))
	c, err = DevConfig(f, dir, "")
	require.NoError(t, err)
	require.Equal(t, "acme", c.Owner)
	require.Equal(t, "127.0.0.1:9999", c.Listen.TLS)
	require.Equal(t, "https://127.0.0.1:9999", c.Issuer)
	require.Equal(t, "enforce", c.Lockdown.Mode)

	require.NoError(t, os.WriteFile(f, []byte("[listen]\nbogus = 1\n"), 0o600))
	_, err = DevConfig(f, dir, "")
	require.ErrorContains(t, err, "listen.bogus")
}

func TestOverrideValidates(t *testing.T) {
	t.Parallel()
	c := Default()
	require.NoError(t, c.Override("/srv/accessd", "127.0.0.1:9443"))
	require.Equal(t, "/srv/accessd", c.DataDir)
	require.Equal(t, "127.0.0.1:9443", c.Listen.TLS)
	c = Default()
	require.ErrorContains(t, c.Override("relative/dir", ""), "data_dir")
	c = Default()
	require.ErrorContains(t, c.Override("", "not-an-address"), "listen.tls")
	// --listen is held to the file's rules: a port out of range is refused
	// here, before anything is unsealed.
	for _, bad := range []string{"127.0.0.1:99999", ":-1", "127.0.0.1:65536"} {
		c = Default()
		err := c.Override("", bad)
		var ce *ConfigError
		require.ErrorAs(t, err, &ce, bad)
		require.Equal(t, "listen.tls", ce.Key)
		require.ErrorContains(t, err, "0..65535")
	}
}

func TestLoadConfigMissingFileIsConfigError(t *testing.T) {
	t.Parallel()
	_, err := LoadConfig(t.TempDir() + "/nope.toml")
	var ce *ConfigError
	require.ErrorAs(t, err, &ce, "a missing config file is a config error (exit 78)")
	require.ErrorContains(t, err, "no such file")
	_, err = DevConfig(t.TempDir()+"/nope.toml", t.TempDir(), "")
	require.ErrorAs(t, err, &ce)
}

// TestPackagedConfigParses: the config the package installs as a
// conffile parses strictly, and its commented defaults are the built-in
// ones.
func TestPackagedConfigParses(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../packaging/accessd.toml")
	require.NoError(t, err)
	c, err := ParseConfig("/etc/accessd/accessd.toml", b, Default())
	require.NoError(t, err)
	require.Equal(t, Default().Audit, c.Audit)
	require.Contains(t, string(b), "# retention = \"9600h\"")
}
