package lockdown

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

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
	tr := newTree(t)
	rep := Run(tr.cfg)
	kebab := regexp.MustCompile(`^[a-z]+(-[a-z]+)*$`)
	if len(rep.Findings) != len(checkNames) {
		t.Fatalf("got %d findings, want %d", len(rep.Findings), len(checkNames))
	}
	for i, f := range rep.Findings {
		if f.Check != checkNames[i] || !kebab.MatchString(f.Check) {
			t.Errorf("finding %d is %q, want %q", i, f.Check, checkNames[i])
		}
		if f.Check == "core-dumps" {
			continue // real process state; see TestHarden
		}
		if f.Status != StatusPass {
			t.Errorf("%s: status %s, found %q, fix %q", f.Check, f.Status, f.Found, f.Fix)
		}
		if f.Status == StatusPass && f.Fix != "" {
			t.Errorf("%s: pass with a fix %q", f.Check, f.Fix)
		}
	}
}

func TestDevDowngradesFailures(t *testing.T) {
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
				t.Errorf("Failed() = %v, want %v", got, tt.wantFailed)
			}
			if rep.Dev != tt.dev {
				t.Errorf("Dev = %v", rep.Dev)
			}
			for _, f := range rep.Findings {
				switch f.Check {
				case "data-dir-perms":
					if f.Status != tt.wantStatus || f.Severity != SeverityCritical {
						t.Errorf("data-dir-perms: %s/%s, want %s/critical", f.Status, f.Severity, tt.wantStatus)
					}
				case "seal-device":
					if f.Status != tt.wantSeal {
						t.Errorf("seal-device: %s, want %s (%s)", f.Status, tt.wantSeal, f.Found)
					}
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
	b, err := json.MarshalIndent(fixedReport(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	testkit.Golden(t, "report.json", append(b, '\n'))

	// Marshalling a value and a pointer give the same document, and the
	// derived fields do not get in the way of decoding.
	v, err := json.MarshalIndent(*fixedReport(), "", "  ")
	if err != nil || !bytes.Equal(v, b) {
		t.Errorf("value and pointer marshal differently (%v)", err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Findings) != len(fixedReport().Findings) || back.Findings[1] != fixedReport().Findings[1] || !back.Failed() {
		t.Errorf("round trip lost data: %+v", back)
	}
}

func TestReportJSONEmpty(t *testing.T) {
	b, err := json.Marshal(&Report{Dev: true})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"dev":true,"failed":false,"summary":{"pass":0,"fail":0,"warn":0,"info":0},"findings":[]}`
	if string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}
}

func TestReportTextGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := fixedReport().WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	testkit.Golden(t, "report.txt", buf.Bytes())

	dev := fixedReport()
	dev.Dev = true
	buf.Reset()
	if err := dev.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "dev mode") {
		t.Errorf("dev report does not say so:\n%s", buf.String())
	}
}

func TestSummary(t *testing.T) {
	got := fixedReport().Summary()
	want := Summary{Pass: 2, Fail: 1, Warn: 2, Info: 0}
	if got != want {
		t.Errorf("Summary() = %+v, want %+v", got, want)
	}
}
