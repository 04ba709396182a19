package lockdown

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// maxOffenders bounds how many offending paths one finding names.
const maxOffenders = 5

// offenders collects problems found under one check and renders them as a
// bounded list.
type offenders struct {
	list []string
	n    int
}

func (o *offenders) add(format string, args ...any) {
	o.n++
	if len(o.list) < maxOffenders {
		o.list = append(o.list, fmt.Sprintf(format, args...))
	}
}

func (o *offenders) String() string {
	s := strings.Join(o.list, "; ")
	if o.n > len(o.list) {
		s += fmt.Sprintf("; and %d more", o.n-len(o.list))
	}
	return s
}

func statOwner(fi fs.FileInfo) (uid, gid int) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return -1, -1
	}
	return int(st.Uid), int(st.Gid)
}

// modeString prints permission bits plus setuid/setgid/sticky in octal, as
// chmod takes them.
func modeString(m fs.FileMode) string {
	v := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		v |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		v |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		v |= 0o1000
	}
	return fmt.Sprintf("%04o", v)
}

// trustedOwner reports whether uid may own a protected file or one of its
// parent directories: root, the running uid or the service user.
func (e *env) trustedOwner(uid int) bool {
	return uid == 0 || uid == e.creds.EUID || uid == e.serviceUID
}

func absPath(p string) (string, error) {
	a, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("lockdown: absolute path of %q: %w", p, err)
	}
	return a, nil
}

func checkDataDirPerms(e *env) Finding {
	const name = "data-dir-perms"
	if e.DataDir == "" {
		return fail(name, SeverityCritical, "no data dir configured", "set data_dir in accessd.toml")
	}
	if e.userErr != nil {
		return fail(name, SeverityCritical, e.userErr.Error(), "create the service user (systemd-sysusers) or fix ServiceUser")
	}
	dir, err := absPath(e.DataDir)
	if err != nil {
		return fail(name, SeverityCritical, err.Error(), "set data_dir to an absolute path")
	}
	real, err := filepath.EvalSymlinks(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return fail(name, SeverityWarning, dir+" does not exist", "run accessd init")
	}
	if err != nil {
		return fail(name, SeverityCritical, "cannot resolve "+dir+": "+err.Error(), "check the path of data_dir")
	}
	skip := ""
	if e.AdminSocket != "" {
		if s, err := absPath(e.AdminSocket); err == nil {
			if rs, err := filepath.EvalSymlinks(s); err == nil {
				s = rs
			}
			skip = s
		}
	}
	var bad offenders
	count := 0
	walkErr := filepath.WalkDir(real, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			bad.add("cannot read %s: %v", p, err)
			return nil
		}
		if p == skip {
			return nil
		}
		count++
		fi, err := d.Info()
		if err != nil {
			bad.add("cannot stat %s: %v", p, err)
			return nil
		}
		if p == real && !fi.IsDir() {
			bad.add("%s is not a directory", p)
			return nil
		}
		uid, _ := statOwner(fi)
		if uid != e.serviceUID {
			bad.add("%s is owned by uid %d, not %s (uid %d)", p, uid, e.serviceName, e.serviceUID)
		}
		if fi.Mode()&fs.ModeSymlink == 0 && fi.Mode().Perm()&0o077 != 0 {
			bad.add("%s is mode %s", p, modeString(fi.Mode()))
		}
		return nil
	})
	if walkErr != nil {
		bad.add("cannot walk %s: %v", real, walkErr)
	}
	if bad.n > 0 {
		return fail(name, SeverityCritical, bad.String(),
			fmt.Sprintf("chown -R %s: %s && chmod -R go-rwx %s", svcName(e), real, real))
	}
	return pass(name, SeverityCritical, fmt.Sprintf("%s and %d entries below it owned by %s, no group/other access", real, count-1, e.serviceName))
}

// parentDirs lists the directories whose takeover would let someone swap
// path: every ancestor of path as given and of its symlink-free form, up to
// "/" or TrustedRoot (inclusive). When path does not exist its nearest
// existing ancestor is resolved.
func (e *env) parentDirs(path string) ([]string, error) {
	p, err := absPath(path)
	if err != nil {
		return nil, err
	}
	trusted := filepath.Clean(e.TrustedRoot)
	if t, err := filepath.EvalSymlinks(trusted); err == nil {
		trusted = t
	}
	seen := map[string]bool{}
	var dirs []string
	addChain := func(start string) {
		for d := filepath.Dir(start); ; d = filepath.Dir(d) {
			if !seen[d] {
				seen[d] = true
				dirs = append(dirs, d)
			}
			if d == trusted || d == "/" || d == "." {
				return
			}
		}
	}
	addChain(p)
	// Resolve the longest existing prefix.
	existing, rest := p, ""
	for {
		if _, err := os.Lstat(existing); err == nil {
			break
		}
		parent := filepath.Dir(existing)
		if parent == existing {
			break
		}
		rest = filepath.Join(filepath.Base(existing), rest)
		existing = parent
	}
	real, err := filepath.EvalSymlinks(existing)
	if err != nil {
		return nil, fmt.Errorf("lockdown: resolve %s: %w", existing, err)
	}
	if rest != "" {
		real = filepath.Join(real, rest)
	}
	if real != p {
		addChain(real)
	}
	return dirs, nil
}

// checkParents applies the StrictModes rule to the parents of path.
func (e *env) checkParents(name, what, path string) Finding {
	return e.checkParentsOwned(name, what, path, false)
}

// serviceOwns reports whether uid is the account the daemon runs as (the
// running uid or the service user), other than root.
func (e *env) serviceOwns(uid int) bool {
	return uid != 0 && (uid == e.creds.EUID || uid == e.serviceUID)
}

// checkParentsOwned is checkParents; with rootOnly the directories must
// belong to root, not to the service user either, so the daemon cannot
// swap what lies below them.
func (e *env) checkParentsOwned(name, what, path string, rootOnly bool) Finding {
	if path == "" {
		return info(name, what+" not configured", "")
	}
	dirs, err := e.parentDirs(path)
	if err != nil {
		return fail(name, SeverityCritical, err.Error(), "check the path of the "+what)
	}
	var bad offenders
	var fixes []string
	for _, d := range dirs {
		fi, err := os.Lstat(d)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			bad.add("cannot stat %s: %v", d, err)
			continue
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			continue // its target is on the resolved chain
		}
		uid, _ := statOwner(fi)
		switch {
		case rootOnly && e.serviceOwns(uid):
			bad.add("%s is owned by uid %d, the service user, which could then replace the %s", d, uid, what)
			fixes = append(fixes, "chown root:root "+d)
		case !e.trustedOwner(uid), rootOnly && uid != 0:
			bad.add("%s is owned by uid %d", d, uid)
			fixes = append(fixes, "chown root "+d)
		}
		if fi.Mode().Perm()&0o022 != 0 {
			s := fmt.Sprintf("%s is mode %s (group/other-writable", d, modeString(fi.Mode()))
			if fi.Mode()&fs.ModeSticky != 0 {
				s += ", sticky does not help"
			}
			bad.add("%s)", s)
			fixes = append(fixes, "chmod go-w "+d)
		}
	}
	if bad.n > 0 {
		fix := strings.Join(fixes, " && ")
		fix += " (or move the " + what + " to a directory only root can write)"
		return fail(name, SeverityCritical, bad.String(), fix)
	}
	owners := "root or the service user"
	if rootOnly {
		owners = "root"
	}
	return pass(name, SeverityCritical, fmt.Sprintf("%d parent directories of %s owned by %s, not group/other-writable", len(dirs), path, owners))
}

// checkFilePerms checks one protected file: owner trusted, and mode &
// forbidden == 0. Missing files get severity missingSev.
func (e *env) checkFilePerms(name, what, path string, forbidden fs.FileMode, sev, missingSev Severity, missingFix string) Finding {
	return e.checkFileOwnedBy("root", name, what, path, forbidden, sev, missingSev, missingFix)
}

// checkFileOwnedBy is checkFilePerms whose fix for an untrusted owner
// hands the file to owner.
func (e *env) checkFileOwnedBy(owner, name, what, path string, forbidden fs.FileMode, sev, missingSev Severity, missingFix string) Finding {
	if path == "" {
		return info(name, what+" not configured", "")
	}
	p, err := absPath(path)
	if err != nil {
		return fail(name, sev, err.Error(), "check the path of the "+what)
	}
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		if missingSev == SeverityInfo {
			return info(name, p+" does not exist", missingFix)
		}
		return fail(name, missingSev, p+" does not exist", missingFix)
	}
	if err != nil {
		return fail(name, sev, "cannot stat "+p+": "+err.Error(), "check the path of the "+what)
	}
	if !fi.Mode().IsRegular() {
		return fail(name, sev, p+" is not a regular file", "replace "+p+" with a regular file")
	}
	var bad offenders
	var fixes []string
	uid, _ := statOwner(fi)
	if !e.trustedOwner(uid) {
		bad.add("%s is owned by uid %d", p, uid)
		fixes = append(fixes, "chown "+owner+" "+p)
	}
	if fi.Mode().Perm()&forbidden != 0 {
		bad.add("%s is mode %s", p, modeString(fi.Mode()))
		fixes = append(fixes, fmt.Sprintf("chmod %s %s", chmodSpec(forbidden), p))
	}
	if bad.n > 0 {
		return fail(name, sev, bad.String(), strings.Join(fixes, " && "))
	}
	return pass(name, sev, fmt.Sprintf("%s is mode %s, owned by uid %d", p, modeString(fi.Mode()), uid))
}

func chmodSpec(forbidden fs.FileMode) string {
	if forbidden&0o044 != 0 {
		return "go-rwx"
	}
	return "go-w"
}

func checkDataDirParents(e *env) Finding {
	return e.checkParents("data-dir-parents", "data dir", e.DataDir)
}

// checkConfigFilePerms: the config belongs to root and only root may
// write it (DESIGN §4: 0640 root:accessd). A config the service user owns
// or can write would let a compromised daemon rewrite its own rules for
// the next start (lockdown.mode = "warn", another seal device, a wider
// listener), so the service user fails here as any stranger would.
func checkConfigFilePerms(e *env) Finding {
	const name = "config-file-perms"
	if e.ConfigFile == "" {
		return info(name, "no config file; built-in defaults in use", "")
	}
	f := e.checkFilePerms(name, "config file", e.ConfigFile, 0o022, SeverityCritical, SeverityInfo,
		"built-in defaults in use; if they do not fit, create "+e.ConfigFile+" (mode 0640, owned by root:"+svcName(e)+")")
	if f.Status != StatusPass {
		if f.Status == StatusFail {
			f.Fix = configFix(e)
		}
		return f
	}
	fi, err := os.Stat(e.ConfigFile)
	if err != nil { // gone since; the next run says so
		return f
	}
	if uid, _ := statOwner(fi); uid != 0 {
		why := ""
		if e.serviceOwns(uid) {
			why = ", the service user, which could then rewrite its own config"
		}
		return fail(name, SeverityCritical, fmt.Sprintf("%s is owned by uid %d%s", e.ConfigFile, uid, why), configFix(e))
	}
	return f
}

// configFix is the one command that gives the config its packaged owner
// and mode.
func configFix(e *env) string {
	p, err := absPath(e.ConfigFile)
	if err != nil {
		p = e.ConfigFile
	}
	return fmt.Sprintf("chown root:%s %s && chmod 0640 %s", svcName(e), p, p)
}

func checkConfigFileParents(e *env) Finding {
	return e.checkParentsOwned("config-file-parents", "config file", e.ConfigFile, true)
}

func checkTLSKeyPerms(e *env) Finding {
	// The service reads its key: a fix hands it to the service user.
	f := e.checkFileOwnedBy(svcName(e), "tls-key-perms", "TLS key", e.TLSKey, 0o077, SeverityCritical, SeverityWarning,
		"install the TLS private key at "+e.TLSKey+" (mode 0600, owned by "+svcName(e)+")")
	if f.Status != StatusPass {
		return f
	}
	// A key the service cannot read passes the mode check but fails the
	// start only after unsealing: say so now.
	if k, err := os.Open(e.TLSKey); err != nil {
		return fail("tls-key-perms", SeverityCritical, "the process cannot read "+e.TLSKey+": "+err.Error(),
			"chown "+svcName(e)+" "+e.TLSKey+" && chmod 0600 "+e.TLSKey)
	} else {
		k.Close()
	}
	return f
}

func checkTLSKeyParents(e *env) Finding {
	return e.checkParents("tls-key-parents", "TLS key", e.TLSKey)
}

func checkTLSCertPerms(e *env) Finding {
	return e.checkFilePerms("tls-cert-perms", "TLS certificate", e.TLSCert, 0o022, SeverityWarning, SeverityWarning,
		"install the TLS certificate at "+e.TLSCert)
}

func checkTLSClientCAPerms(e *env) Finding {
	if e.TLSClientCA == "" {
		return info("tls-client-ca-perms", "no client CA; client certificates disabled", "")
	}
	return e.checkFilePerms("tls-client-ca-perms", "client CA", e.TLSClientCA, 0o022, SeverityCritical, SeverityCritical,
		"install the client CA bundle at "+e.TLSClientCA+" or clear tls.client_ca")
}

func checkTLSClientCAParents(e *env) Finding {
	if e.TLSClientCA == "" {
		return info("tls-client-ca-parents", "no client CA; client certificates disabled", "")
	}
	return e.checkParents("tls-client-ca-parents", "client CA", e.TLSClientCA)
}

func checkAdminSocketDir(e *env) Finding {
	const name = "admin-socket-dir"
	if e.AdminSocket == "" {
		return fail(name, SeverityCritical, "no admin socket configured", "set listen.admin_socket in accessd.toml")
	}
	sock, err := absPath(e.AdminSocket)
	if err != nil {
		return fail(name, SeverityCritical, err.Error(), "set listen.admin_socket to an absolute path")
	}
	dir := filepath.Dir(sock)
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return info(name, dir+" does not exist yet; the daemon (or systemd RuntimeDirectory=accessd) creates it", "")
	}
	if err != nil {
		return fail(name, SeverityCritical, "cannot stat "+dir+": "+err.Error(), "check listen.admin_socket")
	}
	if !fi.IsDir() {
		return fail(name, SeverityCritical, dir+" is not a directory", "check listen.admin_socket")
	}
	var bad offenders
	var fixes []string
	uid, _ := statOwner(fi)
	if !e.trustedOwner(uid) {
		bad.add("%s is owned by uid %d", dir, uid)
		fixes = append(fixes, "chown "+svcName(e)+" "+dir)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		bad.add("%s is mode %s (group/other-writable)", dir, modeString(fi.Mode()))
		fixes = append(fixes, "chmod go-w "+dir)
	}
	parents := e.checkParents(name, "admin socket directory", dir)
	if parents.Status != StatusPass {
		bad.add("%s", parents.Found)
		fixes = append(fixes, parents.Fix)
	}
	if bad.n > 0 {
		return fail(name, SeverityCritical, bad.String(), strings.Join(fixes, " && "))
	}
	return pass(name, SeverityCritical, fmt.Sprintf("%s is mode %s, owned by uid %d; parents safe", dir, modeString(fi.Mode()), uid))
}

// readSmall reads a small host file (procfs, sysfs, efivarfs), refusing to
// read more than 64 KiB of untrusted bytes.
func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 64<<10+1))
	if err != nil {
		return nil, err
	}
	if len(b) > 64<<10 {
		return nil, fmt.Errorf("lockdown: %s is larger than 64 KiB", path)
	}
	return b, nil
}

func parseUint(s string, base int) (uint64, error) {
	return strconv.ParseUint(s, base, 64)
}

// truncate bounds host-provided text quoted in an error.
func truncate(s string) string {
	s = strings.TrimRight(s, "\n")
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
