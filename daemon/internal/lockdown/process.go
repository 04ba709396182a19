package lockdown

import (
	"errors"
	"fmt"
	"os/user"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

func ownCreds() Creds {
	var c Creds
	c.UID, c.EUID, c.SUID = unix.Getresuid()
	c.GID, c.EGID, c.SGID = unix.Getresgid()
	return c
}

func checkProcessNotRoot(e *env) Finding {
	const name = "process-not-root"
	c := e.creds
	found := fmt.Sprintf("uid %d, euid %d, suid %d, gid %d, egid %d, sgid %d", c.UID, c.EUID, c.SUID, c.GID, c.EGID, c.SGID)
	fix := fmt.Sprintf("run accessd as its own unprivileged user, not setuid/setgid: User=%s in accessd.service, or sudo -u %s accessd ...", svcName(e), svcName(e))
	switch {
	case c.EUID == 0 || c.UID == 0 || c.SUID == 0:
		return fail(name, SeverityCritical, "running as root: "+found, fix)
	case c.UID != c.EUID || c.SUID != c.EUID:
		return fail(name, SeverityCritical, "user ids differ (setuid): "+found, fix)
	case c.GID != c.EGID || c.SGID != c.EGID:
		return fail(name, SeverityCritical, "group ids differ (setgid): "+found, fix)
	}
	return pass(name, SeverityCritical, found)
}

// svcName is the service user's name for fix commands: the packaged user
// when that is expected, "accessd" when the process is root and no
// service user was named.
func svcName(e *env) string {
	if e.PackagedUser != "" && e.ServiceUser == "" {
		return e.PackagedUser
	}
	if e.ServiceUser == "" && e.serviceUID == 0 {
		return "accessd"
	}
	return e.serviceName
}

// checkPackagedUser runs when root checks a host that should hold a
// packaged install but has no service user: the other findings would
// otherwise be judged (and their fixes written) for root.
func checkPackagedUser(e *env) Finding {
	const name = "service-user"
	u := e.PackagedUser
	if _, err := user.Lookup(u); err == nil {
		return pass(name, SeverityCritical, "user "+u+" exists")
	}
	return fail(name, SeverityCritical,
		"running as root and there is no "+u+" user: the packaged layout runs accessd as "+u+", owning the data dir and reading the TLS key",
		"install the accessd package (it creates "+u+" and accessd-admin), or run systemd-sysusers packaging/sysusers.d/accessd.conf && systemd-tmpfiles --create packaging/tmpfiles.d/accessd.conf; then put the TLS key at "+e.TLSKey+" with chown "+u+" "+e.TLSKey+" && chmod 0600 "+e.TLSKey+", and run sudo -u "+u+" accessd init")
}

// Harden disables core dumps (RLIMIT_CORE 0, soft and hard, and
// PR_SET_DUMPABLE 0, which also stops same-uid ptrace and makes
// /proc/<pid>/mem root-only) and, when nothing can go wrong later, locks
// all present and future pages with mlockall(MCL_CURRENT|MCL_FUTURE|
// MCL_ONFAULT).
//
// MCL_ONFAULT locks each page when it is first touched instead of faulting
// every mapping in at once: resident pages (and so every key the process
// or a library holds) can never be swapped out, while the resident set
// stays what the daemon actually uses. Without it the Go heap reservations
// and Badger's mappings would all be made resident (measured: 257 MiB RSS
// for an idle --dev daemon, against about 40 MiB with it).
//
// mlockall is tried only when RLIMIT_MEMLOCK is unlimited or the process
// holds CAP_IPC_LOCK: under a finite limit MCL_FUTURE would make a later
// heap growth fail and abort the Go runtime. Otherwise Harden skips it
// without error and the memory-lock finding warns that nothing is locked.
//
// The error, if any, joins every step that failed; the critical findings
// of [Run] are the verdict, so a caller may log the error and go on to Run.
func Harden() error {
	var errs []error
	// Under the unit (LimitCORE=0, and ~@resources) the limit is already
	// zero: verify it rather than set it.
	var core unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_CORE, &core); err != nil || core.Cur != 0 || core.Max != 0 {
		if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 0, Max: 0}); err != nil {
			errs = append(errs, fmt.Errorf("lockdown: set RLIMIT_CORE to 0: %w (set LimitCORE=0 in the unit)", err))
		}
	}
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		errs = append(errs, fmt.Errorf("lockdown: prctl PR_SET_DUMPABLE 0: %w", err))
	}
	if mlockAllowed() {
		if err := unix.Mlockall(unix.MCL_CURRENT | unix.MCL_FUTURE | unix.MCL_ONFAULT); err != nil {
			errs = append(errs, fmt.Errorf("lockdown: mlockall: %w", err))
		}
	}
	return errors.Join(errs...)
}

// mlockAllowed reports whether mlockall(MCL_FUTURE) cannot make a later
// allocation fail.
func mlockAllowed() bool {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim); err == nil && lim.Cur == unix.RLIM_INFINITY {
		return true
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[0].Effective&(1<<unix.CAP_IPC_LOCK) != 0
}

func checkCoreDumps(e *env) Finding {
	const name = "core-dumps"
	fix := "accessd serve and accessd check disable core dumps at start (lockdown.Harden); if this persists, set LimitCORE=0 in accessd.service and look for a wrapper that re-enables dumping"
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_CORE, &lim); err != nil {
		return fail(name, SeverityCritical, "cannot read RLIMIT_CORE: "+err.Error(), fix)
	}
	dumpable, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
	if err != nil {
		return fail(name, SeverityCritical, "cannot read PR_GET_DUMPABLE: "+err.Error(), fix)
	}
	found := fmt.Sprintf("RLIMIT_CORE soft %s hard %s, dumpable %d", rlimitString(lim.Cur), rlimitString(lim.Max), dumpable)
	if lim.Cur != 0 || dumpable != 0 {
		return fail(name, SeverityCritical, "core dumps possible: "+found, fix)
	}
	return pass(name, SeverityCritical, found)
}

func rlimitString(v uint64) string {
	if v == unix.RLIM_INFINITY {
		return "unlimited"
	}
	return fmt.Sprint(v)
}

// checkMemoryLock reads /proc/self/status and /proc/self/limits (under
// ProcRoot) so tests can describe any process.
func checkMemoryLock(e *env) Finding {
	const name = "memory-lock"
	fix := "set LimitMEMLOCK=infinity (or AmbientCapabilities=CAP_IPC_LOCK) in accessd.service so Harden can mlockall"
	self := filepath.Join(e.ProcRoot, "self")
	st, err := readSmall(filepath.Join(self, "status"))
	if err != nil {
		return fail(name, SeverityWarning, "cannot read process status: "+err.Error(), fix)
	}
	ps, err := parseProcStatus(st)
	if err != nil {
		return fail(name, SeverityWarning, err.Error(), fix)
	}
	lb, err := readSmall(filepath.Join(self, "limits"))
	if err != nil {
		return fail(name, SeverityWarning, "cannot read process limits: "+err.Error(), fix)
	}
	limits, err := parseLimits(lb)
	if err != nil {
		return fail(name, SeverityWarning, err.Error(), fix)
	}
	memlock, ok := limits["Max locked memory"]
	if !ok {
		return fail(name, SeverityWarning, "no \"Max locked memory\" line in process limits", fix)
	}
	ipcLock := ps.CapEff&(1<<unix.CAP_IPC_LOCK) != 0
	// After mlockall(MCL_CURRENT|MCL_FUTURE) every mapping but the few the
	// kernel never locks (vvar) counts in VmLck. accessd does not lock
	// individual key pages (Badger keeps its own copies of the keys, out of
	// reach), so mlockall is the only protection this check accepts.
	if ps.VmLckKB > 0 && ps.VmLckKB*2 >= ps.VmSizeKB {
		return pass(name, SeverityWarning, fmt.Sprintf("all memory locked (mlockall): %d of %d KiB", ps.VmLckKB, ps.VmSizeKB))
	}
	limit := "RLIMIT_MEMLOCK " + memlock.soft
	if ipcLock {
		limit += ", CAP_IPC_LOCK held"
	} else {
		limit += ", no CAP_IPC_LOCK"
	}
	if ipcLock || memlock.soft == "unlimited" {
		return fail(name, SeverityWarning, fmt.Sprintf("mlockall allowed but not in effect (%s); key pages may be swapped", limit),
			"accessd serve and accessd check lock memory at start (lockdown.Harden); if this persists, check the journal for the mlockall error")
	}
	return fail(name, SeverityWarning, fmt.Sprintf("memory not locked (%s); key pages may be swapped", limit), fix)
}

// procStatus holds the fields of /proc/self/status the checks read.
type procStatus struct {
	VmSizeKB, VmLckKB uint64
	CapEff            uint64
}

// parseProcStatus reads VmSize, VmLck and CapEff from /proc/<pid>/status.
// Kernel threads have no Vm* lines; those read as zero.
func parseProcStatus(b []byte) (procStatus, error) {
	var ps procStatus
	var haveCap bool
	for line := range strings.Lines(string(b)) {
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		switch key {
		case "VmSize", "VmLck":
			num, unit, _ := strings.Cut(val, " ")
			n, err := parseUint(num, 10)
			if err != nil || strings.TrimSpace(unit) != "kB" {
				return procStatus{}, fmt.Errorf("lockdown: process status: bad %s line %q", key, truncate(line))
			}
			if key == "VmSize" {
				ps.VmSizeKB = n
			} else {
				ps.VmLckKB = n
			}
		case "CapEff":
			n, err := parseUint(val, 16)
			if err != nil {
				return procStatus{}, fmt.Errorf("lockdown: process status: bad CapEff line %q", truncate(line))
			}
			ps.CapEff, haveCap = n, true
		}
	}
	if !haveCap {
		return procStatus{}, errors.New("lockdown: process status: no CapEff line")
	}
	return ps, nil
}

// limit is one row of /proc/<pid>/limits.
type limit struct {
	soft, hard string
	softBytes  uint64 // math.MaxUint64 for unlimited
}

// parseLimits reads /proc/<pid>/limits: a header line, then rows of a
// multi-word name, soft and hard values ("unlimited" or a number) and an
// optional unit.
func parseLimits(b []byte) (map[string]limit, error) {
	out := make(map[string]limit)
	for i, line := range strings.Split(string(b), "\n") {
		if i == 0 || strings.TrimSpace(line) == "" {
			continue // header
		}
		fields := strings.Fields(line)
		// Find the first field that is a value; the name is what precedes it.
		j := 0
		for j < len(fields) && !isLimitValue(fields[j]) {
			j++
		}
		if j == 0 || j+2 > len(fields) || !isLimitValue(fields[j+1]) {
			return nil, fmt.Errorf("lockdown: process limits: bad line %q", truncate(line))
		}
		l := limit{soft: fields[j], hard: fields[j+1], softBytes: ^uint64(0)}
		if l.soft != "unlimited" {
			l.softBytes, _ = parseUint(l.soft, 10)
		}
		out[strings.Join(fields[:j], " ")] = l
	}
	return out, nil
}

func isLimitValue(s string) bool {
	if s == "unlimited" {
		return true
	}
	_, err := parseUint(s, 10)
	return err == nil
}
