package policy

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/pelletier/go-toml/v2"

	"github.com/accessd/accessd/oauth/api"
)

// Bounds on a policy file. The HTTP layer caps bodies at 1 MiB already;
// Parse checks again so that it is safe wherever its bytes come from.
const (
	MaxBytes          = 1 << 20
	MaxGroups         = 10_000
	MaxPermissionRows = 10_000  // [[group.permission]] tables per group
	MaxMembers        = 100_000 // members per group
	maxName           = 128
	maxDescription    = 1024
	maxResource       = 256
	maxMember         = 256
)

// Policy is a parsed, validated policy file: the groups it names, in file
// order.
type Policy struct {
	Groups []Group
}

// Group is one group as the file wants it. Permissions has one entry per
// action of each [[group.permission]] table, without duplicates; Members
// are "user:<name>" or "app:<clientId>", without duplicates.
type Group struct {
	Name        string
	Description string
	Permissions []api.Permission
	Members     []string
}

// Actions a policy may grant: the lower-case HTTP verbs and "*".
var validActions = []string{"get", "head", "post", "put", "patch", "delete", "options", "*"}

// The file's shape. Field tags are the only keys accepted.
type fileDoc struct {
	Group []fileGroup `toml:"group"`
}

type fileGroup struct {
	Name        string     `toml:"name"`
	Description string     `toml:"description"`
	Members     []string   `toml:"members"`
	Permission  []filePerm `toml:"permission"`
}

type filePerm struct {
	Product  string   `toml:"product"`
	Resource string   `toml:"resource"`
	Actions  []string `toml:"actions"`
}

// Parse reads a policy file strictly and validates it. Every error wraps
// an api Fault and says what to fix, with the line where go-toml knows
// it and the group otherwise.
func Parse(data []byte) (Policy, error) {
	if len(data) > MaxBytes {
		return Policy{}, fmt.Errorf("policy: %w: %d bytes, at most %d", api.ErrTooLarge, len(data), MaxBytes)
	}
	if !utf8.Valid(data) {
		return Policy{}, fmt.Errorf("policy: %w: not UTF-8 text", api.ErrBadRequest)
	}
	var doc fileDoc
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return Policy{}, decodeError(err)
	}
	if len(doc.Group) > MaxGroups {
		return Policy{}, fmt.Errorf("policy: %w: %d groups, at most %d per file", api.ErrTooLarge, len(doc.Group), MaxGroups)
	}
	p := Policy{Groups: make([]Group, 0, len(doc.Group))}
	seen := make(map[string]int, len(doc.Group))
	for i, fg := range doc.Group {
		g, err := fg.group()
		if err != nil {
			return Policy{}, fmt.Errorf("policy: group #%d%s: %w", i+1, quoted(fg.Name), err)
		}
		if j, dup := seen[g.Name]; dup {
			return Policy{}, fmt.Errorf("policy: group #%d %q: %w: name already used by group #%d; merge the two", i+1, g.Name, api.ErrInvalidField, j+1)
		}
		seen[g.Name] = i
		p.Groups = append(p.Groups, g)
	}
	return p, nil
}

func quoted(name string) string {
	if name == "" {
		return ""
	}
	return fmt.Sprintf(" %q", name)
}

// keyTypes says, for each key of the file, what it holds, so a value of
// the wrong type is answered in TOML's terms rather than Go's.
var keyTypes = map[string]string{
	"group":                     "an array of tables ([[group]])",
	"group.name":                "a string",
	"group.description":         "a string",
	"group.members":             `an array of strings ("user:NAME", "app:CLIENT_ID")`,
	"group.permission":          "an array of tables ([[group.permission]])",
	"group.permission.product":  "a string",
	"group.permission.resource": "a string",
	"group.permission.actions":  `an array of strings ("get", "post", …, "*")`,
}

// decodeError turns go-toml's errors into catalogued ones with a line.
func decodeError(err error) error {
	var sm *toml.StrictMissingError
	if errors.As(err, &sm) && len(sm.Errors) > 0 {
		de := &sm.Errors[0]
		row, _ := de.Position()
		return fmt.Errorf("policy: line %d: %w: %q is not a key of a policy file (keys: group.name, group.description, group.members, group.permission.product, .resource, .actions)",
			row, api.ErrUnknownField, strings.Join(de.Key(), "."))
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, col := de.Position()
		key := strings.Join(de.Key(), ".")
		if want, ok := keyTypes[key]; ok {
			return fmt.Errorf("policy: line %d, column %d: %w: %s must be %s", row, col, api.ErrInvalidField, key, want)
		}
		if key != "" {
			key = fmt.Sprintf(" key %q:", key)
		}
		return fmt.Errorf("policy: line %d, column %d:%s %w: %s", row, col, key, api.ErrBadRequest, strings.TrimPrefix(de.Error(), "toml: "))
	}
	// go-toml reports some type mismatches without a position.
	return fmt.Errorf("policy: %w: %s", api.ErrBadRequest, strings.TrimPrefix(err.Error(), "toml: "))
}

// group validates one [[group]] table and expands its permissions.
func (fg fileGroup) group() (Group, error) {
	if err := checkName("name", fg.Name); err != nil {
		return Group{}, err
	}
	if err := checkDescription(fg.Description); err != nil {
		return Group{}, err
	}
	if len(fg.Permission) > MaxPermissionRows {
		return Group{}, fmt.Errorf("%w: %d permission tables, at most %d", api.ErrTooLarge, len(fg.Permission), MaxPermissionRows)
	}
	if len(fg.Members) > MaxMembers {
		return Group{}, fmt.Errorf("%w: %d members, at most %d", api.ErrTooLarge, len(fg.Members), MaxMembers)
	}
	g := Group{Name: fg.Name, Description: fg.Description}
	for i, fp := range fg.Permission {
		if err := fp.check(); err != nil {
			return Group{}, fmt.Errorf("permission #%d: %w", i+1, err)
		}
		for _, a := range fp.Actions {
			g.Permissions = append(g.Permissions, api.Permission{Product: fp.Product, Resource: fp.Resource, Action: a})
		}
	}
	g.Permissions = dedupe(g.Permissions, func(p api.Permission) api.Permission { return p })
	for _, m := range fg.Members {
		if err := checkMember(m); err != nil {
			return Group{}, err
		}
	}
	g.Members = dedupe(slices.Clone(fg.Members), func(s string) string { return s })
	return g, nil
}

// dedupe drops later duplicates, keeping file order.
func dedupe[T any, K comparable](xs []T, key func(T) K) []T {
	seen := make(map[K]bool, len(xs))
	out := xs[:0]
	for _, x := range xs {
		if k := key(x); !seen[k] {
			seen[k] = true
			out = append(out, x)
		}
	}
	return out
}

func (fp filePerm) check() error {
	if fp.Product != "" {
		if err := checkName("product", fp.Product); err != nil {
			return err
		}
	}
	if err := checkResource(fp.Resource); err != nil {
		return err
	}
	if len(fp.Actions) == 0 {
		return fmt.Errorf("%w: actions is empty; list at least one of %s", api.ErrInvalidField, strings.Join(validActions, ", "))
	}
	for _, a := range fp.Actions {
		if !slices.Contains(validActions, a) {
			hint := ""
			if l := strings.ToLower(a); l != a && slices.Contains(validActions, l) {
				hint = fmt.Sprintf(" (write %q: actions are lower-case)", l)
			}
			return fmt.Errorf("%w: action %q%s; allowed: %s", api.ErrInvalidField, a, hint, strings.Join(validActions, ", "))
		}
	}
	return nil
}

func nameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
}

// checkName allows 1–128 of [A-Za-z0-9._-]: group names and products
// appear in URLs, audit entries and plans, so nothing there needs
// quoting.
func checkName(field, s string) error {
	if s == "" {
		return fmt.Errorf("%w: %s is required", api.ErrInvalidField, field)
	}
	if len(s) > maxName {
		return fmt.Errorf("%w: %s is %d characters, at most %d", api.ErrInvalidField, field, len(s), maxName)
	}
	for i := 0; i < len(s); i++ {
		if !nameByte(s[i]) {
			return fmt.Errorf("%w: %s %q: only letters, digits, '.', '_' and '-' are allowed", api.ErrInvalidField, field, s)
		}
	}
	return nil
}

// checkResource allows "*", or name segments joined by "/" (the first may
// be a product prefix), optionally ending in "/*". A "*" anywhere else
// would be taken literally by decisions and match nothing, so it is
// refused rather than left as a grant that silently does nothing.
func checkResource(s string) error {
	if s == "" {
		return fmt.Errorf("%w: resource is required (\"*\" for every resource)", api.ErrInvalidField)
	}
	if len(s) > maxResource {
		return fmt.Errorf("%w: resource is %d characters, at most %d", api.ErrInvalidField, len(s), maxResource)
	}
	if s == "*" {
		return nil
	}
	segs := strings.Split(s, "/")
	for i, seg := range segs {
		if seg == "*" && i == len(segs)-1 && i > 0 {
			continue
		}
		if seg == "" || strings.IndexFunc(seg, func(r rune) bool { return r > 0x7f || !nameByte(byte(r)) }) >= 0 {
			return fmt.Errorf("%w: resource %q: segments of letters, digits, '.', '_' and '-' joined by '/', or \"*\" alone or as the last segment", api.ErrInvalidField, s)
		}
	}
	return nil
}

func checkDescription(s string) error {
	if len(s) > maxDescription {
		return fmt.Errorf("%w: description is %d bytes, at most %d", api.ErrInvalidField, len(s), maxDescription)
	}
	if i := strings.IndexFunc(s, unicode.IsControl); i >= 0 {
		return fmt.Errorf("%w: description has a control character at byte %d", api.ErrInvalidField, i)
	}
	return nil
}

// checkMember allows "user:<name>" and "app:<clientId>" whose name is
// 1–256 printable characters without spaces.
func checkMember(m string) error {
	kind, name, ok := strings.Cut(m, ":")
	if !ok || (kind != api.MemberUser && kind != api.MemberApp) {
		return fmt.Errorf("%w: member %q: write user:NAME or app:CLIENT_ID", api.ErrInvalidField, m)
	}
	if name == "" || len(name) > maxMember {
		return fmt.Errorf("%w: member %q: the name after %q must be 1 to %d characters", api.ErrInvalidField, m, kind+":", maxMember)
	}
	if strings.IndexFunc(name, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0 {
		return fmt.Errorf("%w: member %q: names have no spaces or control characters", api.ErrInvalidField, m)
	}
	return nil
}
