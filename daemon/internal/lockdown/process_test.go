package lockdown

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestProcessNotRootReal(t *testing.T) {
	tr := newTree(t)
	tr.cfg.Creds = nil // the test process's own ids
	f := finding(t, tr.cfg, "process-not-root")
	if os.Geteuid() == 0 {
		assert.False(t, f.Status != StatusFail || !strings.Contains(f.Found, "running as root") || !strings.Contains(f.Fix, "User="), "running as root: got %s %q fix %q, want fail", f.Status, f.Found, f.Fix)
		return
	}
	assert.EqualValues(t, StatusPass, f.Status, "running as uid %d: got %s %q, want pass", os.Geteuid(), f.Status, f.Found)
}

func TestProcessNotRoot(t *testing.T) {
	tests := []struct {
		name      string
		creds     Creds
		dev       bool
		want      Status
		wantFound string
	}{
		{name: "service user", creds: Creds{998, 998, 998, 998, 998, 998}, want: StatusPass},
		{name: "root", creds: Creds{0, 0, 0, 0, 0, 0}, want: StatusFail, wantFound: "running as root"},
		{name: "root in dev", creds: Creds{0, 0, 0, 0, 0, 0}, dev: true, want: StatusWarn, wantFound: "running as root"},
		{name: "setuid root binary", creds: Creds{998, 0, 0, 998, 998, 998}, want: StatusFail, wantFound: "running as root"},
		{name: "saved uid root", creds: Creds{998, 998, 0, 998, 998, 998}, want: StatusFail, wantFound: "running as root"},
		{name: "setuid to another user", creds: Creds{1000, 998, 998, 1000, 1000, 1000}, want: StatusFail, wantFound: "setuid"},
		{name: "setgid", creds: Creds{998, 998, 998, 1000, 998, 998}, want: StatusFail, wantFound: "setgid"},
		{name: "saved gid differs", creds: Creds{998, 998, 998, 998, 998, 0}, want: StatusFail, wantFound: "setgid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTree(t)
			tr.cfg.Creds = &tt.creds
			tr.cfg.Dev = tt.dev
			f := finding(t, tr.cfg, "process-not-root")
			assert.False(t, f.Status != tt.want || f.Severity != SeverityCritical || !strings.Contains(f.Found, tt.wantFound), "got %s/%s %q; want %s, found ~%q", f.Status, f.Severity, f.Found, tt.want, tt.wantFound)
		})
	}
}

func TestMemoryLock(t *testing.T) {
	limits := func(memlock string) string {
		return "Limit                     Soft Limit           Hard Limit           Units     \n" +
			"Max locked memory         " + memlock + "              " + memlock + "              bytes     \n"
	}
	status := func(size, lck, capEff string) string {
		return "Name:\taccessd\nVmSize:\t" + size + " kB\nVmLck:\t" + lck + " kB\nCapEff:\t" + capEff + "\n"
	}
	tests := []struct {
		name           string
		status, limits string
		want           Status
		wantSev        Severity
		wantFound      string
	}{
		{name: "mlockall in effect", status: status("1282048", "1281000", "0000000000000000"), limits: limits("unlimited"), want: StatusPass, wantSev: SeverityWarning, wantFound: "all memory locked"},
		{name: "finite limit, 8 MiB", status: status("1282048", "0", "0000000000000000"), limits: limits("8388608"), want: StatusWarn, wantSev: SeverityWarning, wantFound: "memory not locked (RLIMIT_MEMLOCK 8388608"},
		{name: "CAP_IPC_LOCK but not locked", status: status("1282048", "8", "0000000000004000"), limits: limits("0"), want: StatusWarn, wantSev: SeverityWarning, wantFound: "CAP_IPC_LOCK held"},
		{name: "allowed but Harden not run", status: status("1282048", "0", "0000000000000000"), limits: limits("unlimited"), want: StatusWarn, wantSev: SeverityWarning, wantFound: "allowed but not in effect"},
		{name: "no memlock allowed", status: status("1282048", "0", "0000000000000000"), limits: limits("0"), want: StatusWarn, wantSev: SeverityWarning, wantFound: "key pages may be swapped"},
		{name: "bad status", status: "VmLck: lots\nCapEff: 0\n", limits: limits("0"), want: StatusWarn, wantSev: SeverityWarning, wantFound: "bad VmLck"},
		{name: "no memlock line", status: status("1", "0", "0"), limits: "Limit Soft Hard Units\nMax core file size 0 0 bytes\n", want: StatusWarn, wantSev: SeverityWarning, wantFound: "Max locked memory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTree(t)
			writeFile(t, tr.path("proc/self/status"), []byte(tt.status), 0o444)
			writeFile(t, tr.path("proc/self/limits"), []byte(tt.limits), 0o444)
			f := finding(t, tr.cfg, "memory-lock")
			assert.False(t, f.Status != tt.want || f.Severity != tt.wantSev || !strings.Contains(f.Found, tt.wantFound), "got %s/%s %q; want %s/%s, found ~%q", f.Status, f.Severity, f.Found, tt.want, tt.wantSev, tt.wantFound)
		})
	}
}

func TestParseLimitsRealProc(t *testing.T) {
	b, err := os.ReadFile("/proc/self/limits")
	if err != nil {
		t.Skip(err)
	}
	limits, err := parseLimits(b)
	require.NoError(t, err)
	var lim unix.Rlimit
	require.NoError(t, unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim))
	got, ok := limits["Max locked memory"]
	assert.False(t, !ok || got.softBytes != lim.Cur, "Max locked memory = %+v (ok %v), getrlimit says %d", got, ok, lim.Cur)
	if _, ok := limits["Max realtime timeout"]; !ok {
		assert.Fail(t, fmt.Sprintf("no Max realtime timeout in %v", limits))
	}
}

// childEnv makes the test binary act as a child that reports the
// core-dumps and memory-lock findings as JSON, so Harden changes only the
// child's process state.
const childEnv = "LOCKDOWN_TEST_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "harden":
		herr := Harden()
		childReport(herr)
	case "unhardened":
		// Make core dumps possible, as a default host would.
		var lim unix.Rlimit
		if err := unix.Getrlimit(unix.RLIMIT_CORE, &lim); err == nil && lim.Max > 0 {
			lim.Cur = min(lim.Max, 1<<20)
			_ = unix.Setrlimit(unix.RLIMIT_CORE, &lim)
		}
		_ = unix.Prctl(unix.PR_SET_DUMPABLE, 1, 0, 0, 0)
		childReport(nil)
	}
	os.Exit(m.Run())
}

type childResult struct {
	HardenErr string    `json:"hardenErr"`
	CoreCur   uint64    `json:"coreCur"`
	CoreMax   uint64    `json:"coreMax"`
	Dumpable  int       `json:"dumpable"`
	Findings  []Finding `json:"findings"`
}

func childReport(herr error) {
	var res childResult
	if herr != nil {
		res.HardenErr = herr.Error()
	}
	var lim unix.Rlimit
	_ = unix.Getrlimit(unix.RLIMIT_CORE, &lim)
	res.CoreCur, res.CoreMax = lim.Cur, lim.Max
	res.Dumpable, _ = unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
	dir, _ := os.MkdirTemp("", "lockdown-child")
	rep := Run(Config{DataDir: filepath.Join(dir, "none"), SealDevice: "simulator", Dev: true, AdminSocket: filepath.Join(dir, "a.sock")})
	os.RemoveAll(dir)
	for _, f := range rep.Findings {
		if f.Check == "core-dumps" || f.Check == "memory-lock" {
			res.Findings = append(res.Findings, f)
		}
	}
	_ = json.NewEncoder(os.Stdout).Encode(res)
	os.Exit(0)
}

func runChild(t *testing.T, mode string) childResult {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode)
	out, err := cmd.Output()
	require.NoError(t, err, "child %s: %v\n%s", mode, err, out)
	var res childResult
	if err := json.Unmarshal(out, &res); err != nil {
		require.Fail(t, fmt.Sprintf("child %s output %q: %v", mode, out, err))
	}
	return res
}

func childFinding(t *testing.T, res childResult, name string) Finding {
	t.Helper()
	for _, f := range res.Findings {
		if f.Check == name {
			return f
		}
	}
	require.Fail(t, fmt.Sprintf("child reported no %s", name))
	return Finding{}
}

// TestHarden re-executes the test binary so RLIMIT_CORE, dumpable and
// mlockall change in a child only; the child reports back as JSON.
func TestHarden(t *testing.T) {
	t.Run("unhardened", func(t *testing.T) {
		res := runChild(t, "unhardened")
		require.EqualValues(t, 1, res.Dumpable, "child not dumpable (%d); cannot test the failing path here", res.Dumpable)
		f := childFinding(t, res, "core-dumps")
		// Dev is set in the child, so the critical failure shows as warn.
		assert.False(t, f.Status != StatusWarn || f.Severity != SeverityCritical || !strings.Contains(f.Found, "dumpable 1"), "core-dumps before Harden: %s/%s %q, want a downgraded critical failure", f.Status, f.Severity, f.Found)
	})
	t.Run("hardened", func(t *testing.T) {
		res := runChild(t, "harden")
		assert.EqualValues(t, "", res.HardenErr, "Harden: %s", res.HardenErr)
		assert.False(t, res.CoreCur != 0 || res.CoreMax != 0 || res.Dumpable != 0, "after Harden: RLIMIT_CORE %d/%d, dumpable %d; want 0/0, 0", res.CoreCur, res.CoreMax, res.Dumpable)
		if f := childFinding(t, res, "core-dumps"); f.Status != StatusPass {
			assert.Fail(t, fmt.Sprintf("core-dumps after Harden: %s %q", f.Status, f.Found))
		}
		f := childFinding(t, res, "memory-lock")
		if mlockAllowed() {
			assert.False(t, f.Status != StatusPass || !strings.Contains(f.Found, "all memory locked"), "memory-lock after Harden with mlock allowed: %s %q", f.Status, f.Found)
		} else if f.Status == StatusPass {
			assert.Fail(t, fmt.Sprintf("memory-lock passes although mlockall is not allowed: %q", f.Found))
		}
		t.Logf("child: %s", f.Found)
	})
}
