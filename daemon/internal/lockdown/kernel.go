package lockdown

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// swapEntry is one row of /proc/swaps.
type swapEntry struct {
	Name string // the device or file, octal escapes decoded
	Type string // "partition" or "file"
}

// parseSwaps reads /proc/swaps: a header line, then one row per active
// swap area: filename (with space, tab, newline and backslash escaped as
// \ooo by the kernel), type, size, used, priority.
func parseSwaps(b []byte) ([]swapEntry, error) {
	lines := strings.Split(string(b), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "Filename") {
		return nil, errors.New("lockdown: /proc/swaps: missing header")
	}
	var out []swapEntry
	for _, line := range lines[1:] {
		if strings.TrimSpace(line) == "" {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 2 {
			return nil, fmt.Errorf("lockdown: /proc/swaps: bad line %q", truncate(line))
		}
		name, err := unescapeOctal(fields[0])
		if err != nil {
			return nil, fmt.Errorf("lockdown: /proc/swaps: bad name in %q: %w", truncate(line), err)
		}
		out = append(out, swapEntry{Name: name, Type: fields[1]})
	}
	return out, nil
}

// unescapeOctal decodes the \ooo escapes seq_file uses in paths.
func unescapeOctal(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+4 > len(s) {
			return "", errors.New("short escape")
		}
		v, err := strconv.ParseUint(s[i+1:i+4], 8, 8)
		if err != nil {
			return "", errors.New("bad escape")
		}
		b.WriteByte(byte(v))
		i += 3
	}
	return b.String(), nil
}

// swapSafe says whether a swap area keeps its contents off clear-text
// disk, and why.
func (e *env) swapSafe(s swapEntry) (bool, string) {
	if s.Type != "partition" {
		return false, "swap file"
	}
	base := filepath.Base(s.Name)
	switch {
	case strings.HasPrefix(s.Name, "/dev/zram"):
		return true, "compressed RAM"
	case strings.HasPrefix(s.Name, "/dev/dm-"):
		return e.dmCrypt(base)
	case strings.HasPrefix(s.Name, "/dev/mapper/"):
		if dm, ok := e.dmByName(base); ok {
			return e.dmCrypt(dm)
		}
		return false, "device-mapper, dm-crypt not confirmed: no sysfs entry"
	}
	return false, "plain partition"
}

// dmByName finds the dm-N block device whose mapper name is name.
func (e *env) dmByName(name string) (string, bool) {
	matches, _ := filepath.Glob(filepath.Join(e.SysRoot, "block", "dm-*", "dm", "name"))
	for _, m := range matches {
		b, err := readSmall(m)
		if err == nil && strings.TrimSpace(string(b)) == name {
			return filepath.Base(filepath.Dir(filepath.Dir(m))), true
		}
	}
	return "", false
}

// dmCrypt says whether dm-N is dm-crypt or stacked on it (LVM on LUKS),
// from the CRYPT- prefix of the dm uuid.
func (e *env) dmCrypt(dev string) (bool, string) {
	seen := map[string]bool{}
	var walk func(dev string, depth int) (found, known bool)
	walk = func(dev string, depth int) (bool, bool) {
		if depth > 8 || seen[dev] {
			return false, true
		}
		seen[dev] = true
		uuid, err := readSmall(filepath.Join(e.SysRoot, "block", dev, "dm", "uuid"))
		if err != nil {
			return false, false
		}
		if strings.HasPrefix(string(uuid), "CRYPT-") {
			return true, true
		}
		slaves, _ := os.ReadDir(filepath.Join(e.SysRoot, "block", dev, "slaves"))
		for _, s := range slaves {
			if found, _ := walk(s.Name(), depth+1); found {
				return true, true
			}
		}
		return false, true
	}
	found, known := walk(dev, 0)
	switch {
	case found:
		return true, "dm-crypt"
	case !known:
		return false, "device-mapper, dm-crypt not confirmed: no sysfs entry"
	}
	return false, "device-mapper without dm-crypt"
}

func checkSwap(e *env) Finding {
	const name = "swap"
	b, err := readSmall(filepath.Join(e.ProcRoot, "swaps"))
	if errors.Is(err, fs.ErrNotExist) {
		return info(name, "no /proc/swaps (kernel without swap support)", "")
	}
	if err != nil {
		return fail(name, SeverityWarning, "cannot read /proc/swaps: "+err.Error(), "check that procfs is mounted")
	}
	entries, err := parseSwaps(b)
	if err != nil {
		return fail(name, SeverityWarning, err.Error(), "check that procfs is mounted")
	}
	if len(entries) == 0 {
		return pass(name, SeverityWarning, "no swap")
	}
	var bad, good []string
	var fixes []string
	for _, s := range entries {
		ok, why := e.swapSafe(s)
		if ok {
			good = append(good, s.Name+" ("+why+")")
		} else {
			bad = append(bad, s.Name+" ("+why+")")
			fixes = append(fixes, "swapoff "+s.Name)
		}
	}
	if len(bad) > 0 {
		return fail(name, SeverityWarning, "unencrypted swap: "+strings.Join(bad, ", "),
			strings.Join(fixes, " && ")+" and remove it from /etc/fstab, or move swap onto dm-crypt (crypttab swap) or zram")
	}
	return pass(name, SeverityWarning, "swap encrypted: "+strings.Join(good, ", "))
}

func checkPtraceScope(e *env) Finding {
	const name = "ptrace-scope"
	fix := "sysctl -w kernel.yama.ptrace_scope=1 && echo kernel.yama.ptrace_scope=1 > /etc/sysctl.d/60-accessd.conf"
	b, err := readSmall(filepath.Join(e.ProcRoot, "sys", "kernel", "yama", "ptrace_scope"))
	if errors.Is(err, fs.ErrNotExist) {
		return fail(name, SeverityWarning, "Yama LSM not active (no kernel.yama.ptrace_scope); same-uid processes may ptrace", "boot a kernel with Yama enabled (CONFIG_SECURITY_YAMA, lsm=...,yama)")
	}
	if err != nil {
		return fail(name, SeverityWarning, "cannot read kernel.yama.ptrace_scope: "+err.Error(), fix)
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return fail(name, SeverityWarning, fmt.Sprintf("unreadable kernel.yama.ptrace_scope %q", truncate(string(b))), fix)
	}
	if v < 1 {
		return fail(name, SeverityWarning, fmt.Sprintf("kernel.yama.ptrace_scope is %d", v), fix)
	}
	return pass(name, SeverityWarning, fmt.Sprintf("kernel.yama.ptrace_scope is %d", v))
}

// parseLockdown returns the bracketed (active) mode of
// /sys/kernel/security/lockdown, e.g. "integrity" from
// "none [integrity] confidentiality".
func parseLockdown(b []byte) (string, error) {
	for _, w := range strings.Fields(string(b)) {
		if len(w) > 2 && w[0] == '[' && w[len(w)-1] == ']' {
			return w[1 : len(w)-1], nil
		}
	}
	return "", fmt.Errorf("lockdown: kernel lockdown file: no bracketed mode in %q", truncate(string(b)))
}

func checkKernelLockdown(e *env) Finding {
	const name = "kernel-lockdown"
	fix := "boot with lockdown=integrity on the kernel command line (Secure Boot enables it on many distributions)"
	b, err := readSmall(filepath.Join(e.SysRoot, "kernel", "security", "lockdown"))
	if errors.Is(err, fs.ErrNotExist) {
		return info(name, "kernel lockdown not available (no securityfs lockdown file)", fix)
	}
	if err != nil {
		return fail(name, SeverityWarning, "cannot read kernel lockdown mode: "+err.Error(), fix)
	}
	mode, err := parseLockdown(b)
	if err != nil {
		return fail(name, SeverityWarning, err.Error(), fix)
	}
	switch mode {
	case "integrity", "confidentiality":
		return pass(name, SeverityWarning, "kernel lockdown: "+mode)
	}
	return fail(name, SeverityWarning, "kernel lockdown: "+mode, fix)
}

// secureBootVar is the EFI global variable that holds Secure Boot state.
const secureBootVar = "SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"

// parseSecureBoot reads an efivarfs file: 4 bytes of attributes, then the
// value; SecureBoot's value is one byte, 1 for enabled.
func parseSecureBoot(b []byte) (bool, error) {
	if len(b) < 5 {
		return false, fmt.Errorf("lockdown: SecureBoot variable: %d bytes, want at least 5", len(b))
	}
	switch b[len(b)-1] {
	case 1:
		return true, nil
	case 0:
		return false, nil
	}
	return false, fmt.Errorf("lockdown: SecureBoot variable: value %d, want 0 or 1", b[len(b)-1])
}

func checkSecureBoot(e *env) Finding {
	const name = "secure-boot"
	fix := "enable Secure Boot in the firmware setup"
	if _, err := os.Stat(filepath.Join(e.SysRoot, "firmware", "efi")); errors.Is(err, fs.ErrNotExist) {
		return info(name, "not booted with EFI; Secure Boot unavailable", "")
	}
	b, err := readSmall(filepath.Join(e.SysRoot, "firmware", "efi", "efivars", secureBootVar))
	if errors.Is(err, fs.ErrNotExist) {
		return info(name, "Secure Boot state unknown (no SecureBoot EFI variable; efivarfs not mounted?)", "mount -t efivarfs efivarfs /sys/firmware/efi/efivars")
	}
	if err != nil {
		return info(name, "cannot read SecureBoot EFI variable: "+err.Error(), "")
	}
	on, err := parseSecureBoot(b)
	if err != nil {
		return info(name, err.Error(), "")
	}
	if !on {
		return fail(name, SeverityWarning, "Secure Boot disabled", fix)
	}
	return pass(name, SeverityWarning, "Secure Boot enabled")
}
