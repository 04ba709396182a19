package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"

	"github.com/accessd/accessd/oauth/authz"
	"github.com/accessd/accessd/oauth/delivery"
	"github.com/accessd/accessd/oauth/directory"
	"github.com/accessd/accessd/oauth/edge"
	"github.com/accessd/accessd/oauth/token"
	"github.com/accessd/accessd/seal"
)

// DefaultConfigFile is where packaged installs keep the config (a conffile).
const DefaultConfigFile = "/etc/accessd/accessd.toml"

// Config is accessd.toml. Every field has a safe default (see Default); the
// TOML names are part of the interface contract in DESIGN §4.
type Config struct {
	DataDir string `toml:"data_dir"`
	Issuer  string `toml:"issuer"`
	Owner   string `toml:"owner"`

	Seal     SealConfig       `toml:"seal"`
	Listen   ListenConfig     `toml:"listen"`
	TLS      TLSConfig        `toml:"tls"`
	Tokens   token.Config     `toml:"tokens"`
	Identity directory.Config `toml:"identity"`
	Authz    AuthzConfig      `toml:"authz"`
	Audit    AuditConfig      `toml:"audit"`
	Store    StoreConfig      `toml:"store"`
	Lockdown LockdownConfig   `toml:"lockdown"`
	Delivery DeliveryConfig   `toml:"delivery"`

	// file is where the config was read from, for messages; "" for defaults.
	file string
}

// SealConfig says which TPM holds the root key.
type SealConfig struct {
	Device string `toml:"device"`
	PCRs   []int  `toml:"pcrs"`
}

// ListenConfig holds the two planes' addresses and the data plane's
// per-client connection bound.
type ListenConfig struct {
	TLS         string `toml:"tls"`
	AdminSocket string `toml:"admin_socket"`
	AdminGroup  string `toml:"admin_group"`
	// MaxConnsPerAddress bounds the data plane's open connections from one
	// source (an IPv4 address, an IPv6 /64), so one client cannot hold the
	// whole data plane (maxDataConns).
	MaxConnsPerAddress int `toml:"max_conns_per_address"`
	// TrustedProxies are the reverse proxies (CIDR prefixes or
	// addresses) whose X-Forwarded-For names the client: the rightmost
	// entry that is not one of them (oauth/edge's Proxies). Empty: the
	// header is ignored and the peer is the client.
	TrustedProxies []string `toml:"trusted_proxies"`
}

// TLSConfig is the data plane's certificate and client-certificate policy.
type TLSConfig struct {
	Cert       string `toml:"cert"`
	Key        string `toml:"key"`
	ClientCA   string `toml:"client_ca"`
	ClientAuth string `toml:"client_auth"`
}

// AuthzConfig is how decisions read a check that names no product.
type AuthzConfig struct {
	// DefaultProduct is the product of a /v1/authorize body without one
	// (lib-auth v2.4-v2.8 send none for users) and of GET /v1/permissions
	// without ?product; "" decides such checks on grants without a
	// product only.
	DefaultProduct string `toml:"default_product"`
}

// DeliveryConfig is where delivery providers may connect: AllowHosts
// lists IP addresses, CIDR prefixes and host names that may be a
// provider's destination although they are loopback, link-local or the
// daemon's own (never otherwise), and the only destinations a data-plane
// caller may set.
type DeliveryConfig struct {
	AllowHosts []string `toml:"allow_hosts"`
}

// LockdownConfig decides whether failed host checks stop the start.
type LockdownConfig struct {
	Mode string `toml:"mode"`
}

// Default is the production configuration: every weaker setting is an
// explicit opt-in in the file.
func Default() Config {
	return Config{
		DataDir: "/var/lib/accessd",
		Issuer:  "https://localhost:8443",
		Owner:   "lerian",
		Seal:    SealConfig{Device: "/dev/tpmrm0", PCRs: []int{7}},
		Listen: ListenConfig{
			TLS:         ":8443",
			AdminSocket: "/run/accessd/admin.sock",
			AdminGroup:  "accessd-admin",

			MaxConnsPerAddress: 256,
		},
		TLS: TLSConfig{
			Cert:       "/etc/accessd/tls/server.crt",
			Key:        "/etc/accessd/tls/server.key",
			ClientAuth: "request",
		},
		Tokens:   token.DefaultConfig(),
		Identity: directory.DefaultConfig(),
		Authz:    AuthzConfig{DefaultProduct: "midaz"},
		Audit:    AuditConfig{Retention: directory.Duration{Duration: defaultRetention}},
		Store:    StoreConfig{MinFree: defaultMinFree},
		Lockdown: LockdownConfig{Mode: "enforce"},
	}
}

// ConfigError names the file, key and line of a bad setting and says what
// is allowed, so an operator can fix it without reading the source.
type ConfigError struct {
	File   string
	Line   int // 0 when unknown
	Column int // 0 when unknown
	Key    string
	Msg    string
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString("config: ")
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	if e.Key != "" {
		fmt.Fprintf(&b, ": key %q", e.Key)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// LoadConfig reads path over the defaults. A missing or unreadable file is
// a *ConfigError (exit 78, like every other config error): the caller
// decides whether defaults alone are acceptable (--dev).
func LoadConfig(path string) (Config, error) {
	data, err := readConfigFile(path)
	if err != nil {
		return Config{}, err
	}
	return ParseConfig(path, data, Default())
}

func readConfigFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, &ConfigError{File: path, Msg: "no such file; create it (the package installs one; see accessd(8)) or point --config at yours"}
	case errors.Is(err, fs.ErrPermission):
		return nil, &ConfigError{File: path, Msg: "permission denied; the file is 0640 root:accessd, so run as root or as the accessd user (sudo -u accessd accessd ...)"}
	case err != nil:
		return nil, &ConfigError{File: path, Msg: err.Error()}
	}
	return data, nil
}

// ParseConfig decodes data over base strictly: an unknown key, a value of
// the wrong type or an invalid value is a *ConfigError naming the key and
// its line.
func ParseConfig(name string, data []byte, base Config) (Config, error) {
	cfg, err := decodeConfig(name, data, base)
	if err != nil {
		return Config{}, err
	}
	return cfg, cfg.check(data)
}

func decodeConfig(name string, data []byte, base Config) (Config, error) {
	cfg := base
	cfg.file = name
	// Type errors first, from the syntax tree, so they carry the key, line
	// and column (go-toml reports a duration's type error without them).
	if err := checkTypes(name, data); err != nil {
		return Config{}, err
	}
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, configDecodeError(name, err)
	}
	return cfg, nil
}

// check validates cfg and points a bad key at its line in data.
func (c *Config) check(data []byte) error {
	err := c.validate()
	var ce *ConfigError
	if errors.As(err, &ce) {
		ce.Line = keyLine(data, ce.Key)
	}
	return err
}

// DevConfig is the embedded default of `serve --dev` and `init --dev`:
// the file at path (if path is not empty) is read strictly as usual, and
// --dev fills in only what it leaves unset, under dataDir (the --data-dir
// flag, else the file's data_dir, else ./accessd-dev).
func DevConfig(path, dataDir, listen string) (Config, error) {
	base := Default()
	base.DataDir, base.Issuer, base.Seal.Device, base.Seal.PCRs = "", "", "", nil
	base.Listen.TLS, base.Listen.AdminSocket, base.Lockdown.Mode = "", "", ""
	base.TLS.Cert, base.TLS.Key = "", ""
	var data []byte
	name := "(--dev defaults)"
	if path != "" {
		var err error
		if data, err = readConfigFile(path); err != nil {
			return Config{}, err
		}
		name = path
	}
	cfg, err := decodeConfig(name, data, base)
	if err != nil {
		return Config{}, err
	}
	cfg.file = path
	fill := func(v *string, def string) {
		if *v == "" {
			*v = def
		}
	}
	if dataDir != "" {
		cfg.DataDir = dataDir
	}
	fill(&cfg.DataDir, "accessd-dev")
	if cfg.DataDir, err = filepath.Abs(cfg.DataDir); err != nil {
		return Config{}, fmt.Errorf("config: data dir: %w", err)
	}
	fill(&cfg.Seal.Device, "simulator")
	if cfg.Seal.PCRs == nil {
		cfg.Seal.PCRs = []int{}
	}
	if listen != "" {
		cfg.Listen.TLS = listen
	}
	fill(&cfg.Listen.TLS, "127.0.0.1:8443")
	fill(&cfg.Issuer, "https://"+cfg.Listen.TLS)
	fill(&cfg.Listen.AdminSocket, filepath.Join(cfg.DataDir, "admin.sock"))
	fill(&cfg.TLS.Cert, filepath.Join(cfg.DataDir, "tls", "server.crt"))
	fill(&cfg.TLS.Key, filepath.Join(cfg.DataDir, "tls", "server.key"))
	fill(&cfg.Lockdown.Mode, "warn")
	return cfg, cfg.check(data)
}

// Override applies command-line overrides (--data-dir, --listen; empty
// means keep) and validates the result, so a flag is held to the same
// rules as the file.
func (c *Config) Override(dataDir, listen string) error {
	if dataDir != "" {
		c.DataDir = dataDir
	}
	if listen != "" {
		c.Listen.TLS = listen
	}
	if err := c.validate(); err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			ce.File = "command line or " + ce.File
		}
		return err
	}
	return nil
}

// File is where the config was read from ("" for built-in defaults).
func (c *Config) File() string { return c.file }

func configDecodeError(name string, err error) error {
	var sm *toml.StrictMissingError
	if errors.As(err, &sm) && len(sm.Errors) > 0 {
		de := sm.Errors[0]
		row, _ := de.Position()
		return &ConfigError{File: name, Line: row, Key: strings.Join(de.Key(), "."),
			Msg: "unknown key; see the keys documented in accessd.toml(5) / DESIGN §4"}
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, col := de.Position()
		key := strings.Join(de.Key(), ".")
		raw := strings.TrimPrefix(de.Error(), "toml: ")
		ce := &ConfigError{File: name, Line: row, Column: col, Key: key}
		switch {
		case strings.Contains(raw, "already defined"), strings.Contains(raw, "already exists"):
			ce.Msg = "duplicate key: it is already set above in this file; keep one"
		case key == "":
			ce.Msg = "TOML syntax error: " + raw + " (strings need double quotes, tables are [name])"
		default:
			ce.Msg = raw
			if want := expectedType(key); want != "" {
				got := "a value of another type"
				if m := tomlTypeRE.FindStringSubmatch(raw); m != nil {
					got = "a TOML " + m[1]
				}
				ce.Msg = fmt.Sprintf("wrong type: got %s, want %s", got, want)
			}
		}
		return ce
	}
	return &ConfigError{File: name, Msg: err.Error()}
}

var tomlTypeRE = regexp.MustCompile(`TOML (\w+)`)

// expectedType describes in TOML terms what a key of Config holds, found
// by walking the struct tags, so type errors say what is allowed.
func expectedType(dotted string) string {
	if dotted == "" {
		return ""
	}
	t := reflect.TypeFor[Config]()
	for _, part := range strings.Split(dotted, ".") {
		if t.Kind() != reflect.Struct {
			return ""
		}
		found := false
		for i := range t.NumField() {
			if tag := t.Field(i).Tag.Get("toml"); tag != "" && tag == part {
				t, found = t.Field(i).Type, true
				break
			}
		}
		if !found {
			return ""
		}
	}
	switch {
	case t == reflect.TypeFor[directory.Duration]():
		return `a duration string like "15m" or "720h"`
	case t == reflect.TypeFor[directory.Size]():
		return `a size string like "19MiB" or "1GiB"`
	case t.Kind() == reflect.String:
		return "a quoted string"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() == reflect.Int:
		return "an integer"
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Int:
		return "an array of integers like [7] or []"
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		return "an array of strings like [\"10.0.0.0/8\"] or []"
	}
	return ""
}

// keyLine finds the line of a dotted key ("tokens.access_ttl") by walking
// the TOML syntax tree, so validation errors can point at the line too.
func keyLine(data []byte, dotted string) int {
	if dotted == "" {
		return 0
	}
	line := 0
	eachKeyValue(data, func(p *unstable.Parser, key string, last, _ *unstable.Node) bool {
		if key != dotted {
			return true
		}
		line = p.Shape(last.Raw).Start.Line
		return false
	})
	return line
}

// checkTypes walks the TOML syntax tree and refuses a value whose TOML type
// cannot be what its key holds, naming the key, line and column. Syntax
// errors are left to the decoder, which positions them.
func checkTypes(name string, data []byte) error {
	var err error
	eachKeyValue(data, func(p *unstable.Parser, dotted string, _, v *unstable.Node) bool {
		want := expectedType(dotted)
		if want == "" || tomlKindFits(dotted, v.Kind) {
			return true
		}
		pos := p.Shape(v.Raw).Start
		err = &ConfigError{File: name, Line: pos.Line, Column: pos.Column, Key: dotted,
			Msg: fmt.Sprintf("wrong type: got a TOML %s, want %s", tomlKindName(v.Kind), want)}
		return false
	})
	return err // a syntax error, if any, is reported by the decoder
}

// eachKeyValue walks the TOML syntax tree of data and calls fn with the
// dotted name of every key-value pair (its table's name prefixed), the
// node of the key's last part and the value, until fn returns false. It
// stops quietly at a syntax error.
func eachKeyValue(data []byte, fn func(p *unstable.Parser, dotted string, last, value *unstable.Node) bool) {
	var p unstable.Parser
	p.Reset(data)
	var table []string
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			table = table[:0]
			for it := e.Key(); it.Next(); {
				table = append(table, string(it.Node().Data))
			}
		case unstable.KeyValue:
			key := slices.Clone(table)
			var last *unstable.Node
			for it := e.Key(); it.Next(); {
				last = it.Node()
				key = append(key, string(last.Data))
			}
			if last != nil && !fn(&p, strings.Join(key, "."), last, e.Value()) {
				return
			}
		}
	}
}

// tomlKindFits reports whether a TOML value of kind k can fill key.
func tomlKindFits(key string, k unstable.Kind) bool {
	switch want := expectedType(key); {
	case strings.HasPrefix(want, "a duration"), strings.HasPrefix(want, "a size"), want == "a quoted string":
		return k == unstable.String
	case want == "true or false":
		return k == unstable.Bool
	case want == "an integer":
		return k == unstable.Integer
	case strings.HasPrefix(want, "an array"):
		return k == unstable.Array
	}
	return true
}

func tomlKindName(k unstable.Kind) string {
	switch k {
	case unstable.String:
		return "string"
	case unstable.Bool:
		return "boolean"
	case unstable.Integer:
		return "integer"
	case unstable.Float:
		return "float"
	case unstable.Array:
		return "array"
	case unstable.InlineTable:
		return "inline table"
	case unstable.DateTime, unstable.LocalDate, unstable.LocalDateTime, unstable.LocalTime:
		return "date/time"
	}
	return "value"
}

func (c *Config) invalid(key, format string, args ...any) error {
	name := c.file
	if name == "" {
		name = "(built-in defaults)"
	}
	return &ConfigError{File: name, Key: key, Msg: fmt.Sprintf(format, args...)}
}

func (c *Config) validate() error {
	if !filepath.IsAbs(c.DataDir) {
		return c.invalid("data_dir", "must be an absolute path, got %q", c.DataDir)
	}
	if c.Owner == "" || strings.ContainsAny(c.Owner, "/ ") {
		return c.invalid("owner", "must be a non-empty name without '/' or spaces, got %q", c.Owner)
	}
	if !strings.HasPrefix(c.Issuer, "https://") {
		return c.invalid("issuer", "must be an https:// URL, got %q", c.Issuer)
	}
	switch {
	case c.Seal.Device == "simulator", strings.HasPrefix(c.Seal.Device, "/dev/"):
	case strings.HasPrefix(c.Seal.Device, "tcp://"):
		if _, err := seal.TCPAddress(c.Seal.Device); err != nil {
			return c.invalid("seal.device", "%v", strings.TrimPrefix(err.Error(), "seal: "))
		}
	default:
		return c.invalid("seal.device", "must be a device path like \"/dev/tpmrm0\", \"tcp://127.0.0.1:2321\" (swtpm) or \"simulator\" (--dev only), got %q", c.Seal.Device)
	}
	for _, p := range c.Seal.PCRs {
		if p < 0 || p > seal.MaxPCR {
			return c.invalid("seal.pcrs", "PCR indexes are 0..%d, got %d", seal.MaxPCR, p)
		}
	}
	// Sorted and without duplicates, the order root.sealed records them in.
	slices.Sort(c.Seal.PCRs)
	c.Seal.PCRs = slices.Compact(c.Seal.PCRs)
	if _, port, err := net.SplitHostPort(c.Listen.TLS); err != nil {
		return c.invalid("listen.tls", "must be HOST:PORT or :PORT, got %q", c.Listen.TLS)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return c.invalid("listen.tls", "port must be a number 0..65535, got %q", port)
	}
	if !filepath.IsAbs(c.Listen.AdminSocket) {
		return c.invalid("listen.admin_socket", "must be an absolute path, got %q", c.Listen.AdminSocket)
	}
	if c.Listen.AdminGroup == "" {
		return c.invalid("listen.admin_group", "must name a group")
	}
	if n := c.Listen.MaxConnsPerAddress; n < 1 || n > maxDataConns {
		return c.invalid("listen.max_conns_per_address", "must be 1..%d (the data plane's total), got %d", maxDataConns, n)
	}
	if _, err := edge.ParseProxies(c.Listen.TrustedProxies); err != nil {
		return c.invalid("listen.trusted_proxies", "%v", err)
	}
	if c.TLS.ClientAuth != "request" && c.TLS.ClientAuth != "require" {
		return c.invalid("tls.client_auth", "must be \"request\" or \"require\", got %q", c.TLS.ClientAuth)
	}
	if c.TLS.ClientAuth == "require" && c.TLS.ClientCA == "" {
		return c.invalid("tls.client_auth", "\"require\" needs tls.client_ca")
	}
	for _, t := range []struct {
		table string
		err   error
	}{{"tokens", c.Tokens.Validate()}, {"identity", c.Identity.Validate()}} {
		var fe *directory.FieldError
		if errors.As(t.err, &fe) {
			return c.invalid(t.table+"."+fe.Key, "%s", fe.Msg)
		}
		if t.err != nil {
			return t.err
		}
	}
	if p := c.Authz.DefaultProduct; p != "" && !authz.ValidProduct(p) {
		return c.invalid("authz.default_product", "must be a product name such as \"midaz\" (letters, digits, '.', '_', '-'), or \"\" for none, got %q", p)
	}
	if c.Audit.Retention.Duration < minRetention {
		return c.invalid("audit.retention", "must be at least %s, got %s", minRetention, c.Audit.Retention.Duration)
	}
	for _, h := range c.Delivery.AllowHosts {
		if _, _, err := delivery.ParseAllowHost(h); err != nil {
			return c.invalid("delivery.allow_hosts", "%s", strings.TrimPrefix(err.Error(), "delivery: "))
		}
	}
	if c.Lockdown.Mode != "enforce" && c.Lockdown.Mode != "warn" {
		return c.invalid("lockdown.mode", "must be \"enforce\" or \"warn\", got %q", c.Lockdown.Mode)
	}
	return nil
}
