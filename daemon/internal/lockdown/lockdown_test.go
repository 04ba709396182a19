package lockdown

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/store/storetest/testkit"
)

// checkNames is the documented order; changing it breaks `accessd check --json` users.
var checkNames = []string{
	"process-not-root", "data-dir-perms", "data-dir-parents", "config-file-perms", "config-file-parents",
	"tls-key-perms", "tls-key-parents", "tls-cert-perms", "tls-client-ca-perms", "tls-client-ca-parents",
	"core-dumps", "memory-lock", "swap", "ptrace-scope", "kernel-lockdown", "secure-boot",
	"seal-device", "tpm-slots", "admin-socket-dir", "clock",
}

func TestRunGoodTree(t *testing.T) {
	t.Parallel()
	tr := newTree(t)
	rep := Run(tr.cfg)
	kebab := regexp.MustCompile(`^[a-z]+(-[a-z]+)*$`)
	require.Len(t, rep.Findings, len(checkNames), "got %d findings, want %d", len(rep.Findings), len(checkNames))
	for i, f := range rep.Findings {
		assert.False(t, f.Check != checkNames[i] || !kebab.MatchString(f.Check), "finding %d is %q, want %q", i, f.Check, checkNames[i])
		if f.Check == "core-dumps" {
			continue // real process state; see TestHarden
		}
		assert.EqualValues(t, StatusPass, f.Status, "%s: status %s, found %q, fix %q", f.Check, f.Status, f.Found, f.Fix)
		assert.False(t, f.Status == StatusPass && f.Fix != "", "%s: pass with a fix %q", f.Check, f.Fix)
	}
}

func TestDevDowngradesFailures(t *testing.T) {
	t.Parallel()
	tr := newTree(t)
	chmod(t, tr.cfg.DataDir, 0o755)
	tr.cfg.SealDevice = "simulator"

	tests := []struct {
		name       string
		dev, warn  bool
		wantFailed bool
		wantStatus Status
		wantSeal   Status
	}{
		{name: "production", wantFailed: true, wantStatus: StatusFail, wantSeal: StatusFail},
		{name: "dev", dev: true, wantStatus: StatusWarn, wantSeal: StatusInfo},
		{name: "warn-only", warn: true, wantStatus: StatusWarn, wantSeal: StatusWarn},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tr.cfg
			c.Dev, c.WarnOnly = tt.dev, tt.warn
			rep := Run(c)
			if got := rep.Failed(); got != tt.wantFailed {
				assert.Fail(t, fmt.Sprintf("Failed() = %v, want %v", got, tt.wantFailed))
			}
			assert.EqualValues(t, tt.dev, rep.Dev, "Dev = %v", rep.Dev)
			for _, f := range rep.Findings {
				switch f.Check {
				case "data-dir-perms":
					assert.False(t, f.Status != tt.wantStatus || f.Severity != SeverityCritical, "data-dir-perms: %s/%s, want %s/critical", f.Status, f.Severity, tt.wantStatus)
				case "seal-device":
					assert.EqualValues(t, tt.wantSeal, f.Status, "seal-device: %s, want %s (%s)", f.Status, tt.wantSeal, f.Found)
				}
			}
		})
	}
}

// fixedReport exercises every status and severity, for the golden files.
func fixedReport() *Report {
	return &Report{Findings: []Finding{
		{Check: "process-not-root", Severity: SeverityCritical, Status: StatusPass, Found: "uid 998, euid 998, suid 998, gid 998, egid 998, sgid 998"},
		{Check: "data-dir-perms", Severity: SeverityCritical, Status: StatusFail, Found: "/var/lib/accessd is mode 0755", Fix: "chown -R accessd: /var/lib/accessd && chmod -R go-rwx /var/lib/accessd"},
		{Check: "swap", Severity: SeverityWarning, Status: StatusWarn, Found: "unencrypted swap: /dev/sda2 (plain partition)", Fix: "swapoff /dev/sda2 and remove it from /etc/fstab, or move swap onto dm-crypt (crypttab swap) or zram"},
		{Check: "memory-lock", Severity: SeverityWarning, Status: StatusWarn, Found: "memory not locked (RLIMIT_MEMLOCK 8388608, no CAP_IPC_LOCK); key pages may be swapped", Fix: "set LimitMEMLOCK=infinity (or AmbientCapabilities=CAP_IPC_LOCK) in accessd.service so Harden can mlockall"},
		{Check: "clock", Severity: SeverityCritical, Status: StatusPass, Found: "now 2026-01-03T03:04:05Z, binary built 2026-01-02T03:04:05Z"},
	}}
}

func TestReportJSONGolden(t *testing.T) {
	t.Parallel()
	b, err := json.MarshalIndent(fixedReport(), "", "  ")
	require.NoError(t, err)
	testkit.Golden(t, "report.json", append(b, '\n'))

	// Marshalling a value and a pointer give the same document, and the
	// derived fields do not get in the way of decoding.
	v, err := json.MarshalIndent(*fixedReport(), "", "  ")
	assert.False(t, err != nil || !bytes.Equal(v, b), "value and pointer marshal differently (%v)", err)
	var back Report
	require.NoError(t, json.Unmarshal(b, &back))
	assert.False(t, len(back.Findings) != len(fixedReport().Findings) || back.Findings[1] != fixedReport().Findings[1] || !back.Failed(), "round trip lost data: %+v", back)
}

func TestReportJSONEmpty(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(&Report{Dev: true})
	require.NoError(t, err)
	want := `{"dev":true,"failed":false,"summary":{"pass":0,"fail":0,"warn":0,"info":0},"findings":[]}`
	assert.EqualValues(t, want, string(b), "got %s, want %s", b, want)
}

func TestReportTextGolden(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	require.NoError(t, fixedReport().WriteText(&buf))
	testkit.Golden(t, "report.txt", buf.Bytes())

	dev := fixedReport()
	dev.Dev = true
	buf.Reset()
	require.NoError(t, dev.WriteText(&buf))
	assert.Contains(t, buf.String(), "dev mode", "dev report does not say so:\n%s", buf.String())
}

func TestSummary(t *testing.T) {
	t.Parallel()
	got := fixedReport().Summary()
	want := Summary{Pass: 2, Fail: 1, Warn: 2, Info: 0}
	assert.EqualValues(t, want, got, "Summary() = %+v, want %+v", got, want)
}
