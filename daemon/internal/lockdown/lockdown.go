package lockdown

import (
	"encoding/json"
	"fmt"
	"io"
	"os/user"
	"strconv"
	"strings"
	"time"
)

// Severity is what a failure of a finding means for start-up: only critical
// failures stop `accessd serve`.
type Severity string

// The severities a [Finding] can carry.
const (
	// SeverityCritical findings that fail stop the daemon before it unseals.
	SeverityCritical Severity = "critical"
	// SeverityWarning findings weaken the host but do not stop the daemon.
	SeverityWarning Severity = "warning"
	// SeverityInfo findings describe the host; they never fail.
	SeverityInfo Severity = "info"
)

// Status is the outcome of one check, so operators and scripts can tell a
// failure from a warning without parsing prose.
type Status string

// The statuses a [Finding] can carry.
const (
	// StatusPass means the host meets the check.
	StatusPass Status = "pass"
	// StatusFail means a critical check failed outside Dev and WarnOnly.
	StatusFail Status = "fail"
	// StatusWarn means a warning-severity check failed, or a critical one
	// failed under Dev or WarnOnly.
	StatusWarn Status = "warn"
	// StatusInfo means the finding is a fact worth knowing, not a verdict.
	StatusInfo Status = "info"
)

// Finding is one check's result. Its JSON form is part of the `accessd
// check --json` contract: the field names and the check names do not change.
type Finding struct {
	// Check is the stable kebab-case name of the check, e.g. "process-not-root".
	Check string `json:"check"`
	// Severity is what a failure of this finding means.
	Severity Severity `json:"severity"`
	// Status is the outcome.
	Status Status `json:"status"`
	// Found says what the check saw, naming the offending path if any.
	Found string `json:"found"`
	// Fix is a concrete command or step that makes the check pass; empty on pass.
	Fix string `json:"fix,omitempty"`
}

// Report is the result of [Run]: every finding in a fixed order.
type Report struct {
	// Dev records that the checks ran in development mode, where critical
	// failures are downgraded to warnings.
	Dev bool `json:"dev"`
	// Findings holds one entry per check, in the order documented in the
	// package comment.
	Findings []Finding `json:"findings"`
}

// Failed reports whether any finding failed, i.e. whether `accessd serve`
// must refuse to unseal and `accessd check` must exit non-zero.
func (r *Report) Failed() bool {
	for _, f := range r.Findings {
		if f.Status == StatusFail {
			return true
		}
	}
	return false
}

// Summary counts findings per status, for the last line of the text form
// and the "summary" object of the JSON form.
type Summary struct {
	Pass int `json:"pass"`
	Fail int `json:"fail"`
	Warn int `json:"warn"`
	Info int `json:"info"`
}

// Summary counts the report's findings per status.
func (r *Report) Summary() Summary {
	var s Summary
	for _, f := range r.Findings {
		switch f.Status {
		case StatusPass:
			s.Pass++
		case StatusFail:
			s.Fail++
		case StatusWarn:
			s.Warn++
		case StatusInfo:
			s.Info++
		}
	}
	return s
}

// MarshalJSON adds the derived "failed" flag and "summary" counts, so
// scripts need not recompute them. Unmarshalling ignores both.
func (r Report) MarshalJSON() ([]byte, error) {
	findings := r.Findings
	if findings == nil {
		findings = []Finding{}
	}
	return json.Marshal(struct {
		Dev      bool      `json:"dev"`
		Failed   bool      `json:"failed"`
		Summary  Summary   `json:"summary"`
		Findings []Finding `json:"findings"`
	}{r.Dev, r.Failed(), r.Summary(), findings})
}

// WriteText prints the report for a terminal: one line per finding, the fix
// indented under every finding that did not pass, and a summary line.
func (r *Report) WriteText(w io.Writer) error {
	width := len("CHECK")
	for _, f := range r.Findings {
		width = max(width, len(f.Check))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-6s %-8s  %-*s  %s\n", "STATUS", "SEVERITY", width, "CHECK", "FOUND")
	for _, f := range r.Findings {
		status := string(f.Status)
		if f.Status == StatusFail {
			status = "FAIL"
		}
		fmt.Fprintf(&b, "%-6s %-8s  %-*s  %s\n", status, f.Severity, width, f.Check, f.Found)
		if f.Status != StatusPass && f.Fix != "" {
			fmt.Fprintf(&b, "%*s  fix: %s\n", 6+1+8+2+width, "", f.Fix)
		}
	}
	s := r.Summary()
	fmt.Fprintf(&b, "\n%d passed, %d failed, %d warned, %d info", s.Pass, s.Fail, s.Warn, s.Info)
	if r.Dev {
		b.WriteString(" (dev mode: critical failures reported as warnings)")
	}
	b.WriteString("\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("lockdown: write report: %w", err)
	}
	return nil
}

// Creds are the process's user and group ids. Tests inject them to reach
// the non-root path while running as root.
type Creds struct {
	UID, EUID, SUID int
	GID, EGID, SGID int
}

// Config says where the protected files are and how strict to be. The zero
// value of every optional field means the production default.
type Config struct {
	// DataDir is the data dir (seal/, db/); it must be private to the service user.
	DataDir string
	// ConfigFile is the accessd.toml in use; empty means built-in defaults.
	ConfigFile string
	// TLSKey, TLSCert and TLSClientCA are the data plane's TLS files; empty
	// means not configured.
	TLSKey, TLSCert, TLSClientCA string
	// AdminSocket is the admin socket path; its directory is checked.
	AdminSocket string
	// SealDevice is [seal] device: a /dev path, "tcp://127.0.0.1:PORT" or "simulator".
	SealDevice string
	// Dev downgrades critical failures to warnings and allows the simulator.
	Dev bool
	// WarnOnly downgrades critical failures to warnings, as `[lockdown]
	// mode = "warn"` asks, without Dev's other allowances.
	WarnOnly bool
	// BuildTime is when the binary was built; zero skips the clock check.
	BuildTime time.Time
	// ServiceUser is the user name or numeric uid that must own the data
	// dir; empty means the effective uid of the process.
	ServiceUser string
	// PackagedUser is the account a packaged install runs the service as.
	// When set (root running `accessd check` for an installed service) and
	// the account does not exist, a "service-user" finding says how to make
	// the packaged layout, and fixes name that user rather than root.
	PackagedUser string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Creds are the process ids; nil means the process's own (getresuid/getresgid).
	Creds *Creds
	// ProcRoot and SysRoot are where procfs and sysfs are mounted; empty
	// means "/proc" and "/sys". Tests point them at fake trees.
	ProcRoot, SysRoot string
	// TrustedRoot stops the parent-directory walks: directories above it are
	// trusted unchecked. Empty means "/". For tests; see the package comment.
	TrustedRoot string
}

// env is the resolved configuration every check reads.
type env struct {
	Config
	creds       Creds
	serviceUID  int
	serviceName string // for fix commands
	userErr     error
}

func newEnv(c Config) *env {
	e := &env{Config: c}
	if e.Now == nil {
		e.Now = time.Now
	}
	if e.ProcRoot == "" {
		e.ProcRoot = "/proc"
	}
	if e.SysRoot == "" {
		e.SysRoot = "/sys"
	}
	if e.TrustedRoot == "" {
		e.TrustedRoot = "/"
	}
	if c.Creds != nil {
		e.creds = *c.Creds
	} else {
		e.creds = ownCreds()
	}
	e.serviceUID, e.serviceName, e.userErr = resolveUser(c.ServiceUser, e.creds.EUID)
	return e
}

// resolveUser turns Config.ServiceUser into a uid and a name fit for a
// chown command.
func resolveUser(name string, euid int) (int, string, error) {
	if name == "" {
		if u, err := user.LookupId(strconv.Itoa(euid)); err == nil {
			return euid, u.Username, nil
		}
		return euid, strconv.Itoa(euid), nil
	}
	if uid, err := strconv.Atoi(name); err == nil && uid >= 0 {
		return uid, name, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return -1, name, fmt.Errorf("lockdown: look up service user %q: %w", name, err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return -1, name, fmt.Errorf("lockdown: service user %q has non-numeric uid %q", name, u.Uid)
	}
	return uid, name, nil
}

// Run performs every check and returns the report. It never changes
// process or host state; call [Harden] first so the core-dumps and
// memory-lock checks see the hardened process.
func Run(c Config) *Report {
	e := newEnv(c)
	checks := []func(*env) Finding{
		checkProcessNotRoot,
		checkDataDirPerms,
		checkDataDirParents,
		checkConfigFilePerms,
		checkConfigFileParents,
		checkTLSKeyPerms,
		checkTLSKeyParents,
		checkTLSCertPerms,
		checkTLSClientCAPerms,
		checkTLSClientCAParents,
		checkCoreDumps,
		checkMemoryLock,
		checkSwap,
		checkPtraceScope,
		checkKernelLockdown,
		checkSecureBoot,
		checkSealDevice,
		checkTPMSlots,
		checkAdminSocketDir,
		checkClock,
	}
	if c.PackagedUser != "" && c.ServiceUser == "" {
		checks = append([]func(*env) Finding{checkPackagedUser}, checks...)
	}
	r := &Report{Dev: c.Dev, Findings: make([]Finding, 0, len(checks))}
	for _, check := range checks {
		r.Findings = append(r.Findings, e.finalize(check(e)))
	}
	return r
}

// finalize maps a check's raw outcome (pass, fail or info) to the reported
// status: a failure becomes fail, warn or info by severity, and critical
// failures become warn under Dev or WarnOnly.
func (e *env) finalize(f Finding) Finding {
	switch f.Status {
	case StatusPass:
		f.Fix = ""
	case StatusFail:
		switch f.Severity {
		case SeverityCritical:
			if e.Dev || e.WarnOnly {
				f.Status = StatusWarn
			}
		case SeverityWarning:
			f.Status = StatusWarn
		default:
			f.Status = StatusInfo
		}
	}
	return f
}

// pass, fail and info build raw findings for finalize.
func pass(check string, sev Severity, found string) Finding {
	return Finding{Check: check, Severity: sev, Status: StatusPass, Found: found}
}

func fail(check string, sev Severity, found, fix string) Finding {
	return Finding{Check: check, Severity: sev, Status: StatusFail, Found: found, Fix: fix}
}

func info(check string, found, fix string) Finding {
	return Finding{Check: check, Severity: SeverityInfo, Status: StatusInfo, Found: found, Fix: fix}
}
