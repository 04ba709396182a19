package lockdown

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dmDevice lays out /sys/block/<dev>/dm/{name,uuid} and its slaves.
func dmDevice(t *testing.T, tr *tree, dev, name, uuid string, slaves ...string) {
	t.Helper()
	base := tr.path("sys/block/" + dev)
	writeFile(t, filepath.Join(base, "dm/name"), []byte(name+"\n"), 0o444)
	writeFile(t, filepath.Join(base, "dm/uuid"), []byte(uuid+"\n"), 0o444)
	mkdir(t, filepath.Join(base, "slaves"), 0o755)
	for _, s := range slaves {
		require.NoError(t, os.Symlink("../../"+s, filepath.Join(base, "slaves", s)))
	}
}

func TestSwap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		swaps     string // nil-able via missing
		missing   bool
		setup     func(t *testing.T, tr *tree)
		want      Status
		wantFound string
		wantFix   string
	}{
		{name: "no swap", swaps: swapsHeader, want: StatusPass, wantFound: "no swap"},
		{name: "plain partition", swaps: swapsHeader + "/dev/sda2                               partition\t8388604\t\t0\t\t-2\n", want: StatusWarn, wantFound: "/dev/sda2 (plain partition)", wantFix: "swapoff /dev/sda2"},
		{name: "swap file", swaps: swapsHeader + "/swapfile                               file\t\t2097148\t\t0\t\t-2\n", want: StatusWarn, wantFound: "/swapfile (swap file)"},
		{name: "escaped swap file name", swaps: swapsHeader + "/var/swap\\040file                       file\t\t2097148\t\t0\t\t-2\n", want: StatusWarn, wantFound: "/var/swap file (swap file)"},
		{name: "zram", swaps: swapsHeader + "/dev/zram0                              partition\t4194300\t\t0\t\t100\n", want: StatusPass, wantFound: "compressed RAM"},
		{
			name:  "dm-crypt by dm node",
			swaps: swapsHeader + "/dev/dm-1                               partition\t8388604\t\t0\t\t-2\n",
			setup: func(t *testing.T, tr *tree) {
				dmDevice(t, tr, "dm-1", "cryptswap", "CRYPT-PLAIN-cryptswap")
			},
			want: StatusPass, wantFound: "dm-crypt",
		},
		{
			name:  "LVM on LUKS by mapper name",
			swaps: swapsHeader + "/dev/mapper/vg-swap                     partition\t8388604\t\t0\t\t-2\n",
			setup: func(t *testing.T, tr *tree) {
				dmDevice(t, tr, "dm-0", "luks-root", "CRYPT-LUKS2-0123-luks-root")
				dmDevice(t, tr, "dm-2", "vg-swap", "LVM-abcdef", "dm-0")
			},
			want: StatusPass, wantFound: "/dev/mapper/vg-swap (dm-crypt)",
		},
		{
			name:  "LVM without crypt",
			swaps: swapsHeader + "/dev/mapper/vg-swap                     partition\t8388604\t\t0\t\t-2\n",
			setup: func(t *testing.T, tr *tree) {
				dmDevice(t, tr, "dm-3", "vg-swap", "LVM-abcdef", "sda3")
			},
			want: StatusWarn, wantFound: "device-mapper without dm-crypt",
		},
		{
			name:  "mapper device without sysfs entry",
			swaps: swapsHeader + "/dev/mapper/cryptswap                   partition\t8388604\t\t0\t\t-2\n",
			want:  StatusWarn, wantFound: "dm-crypt not confirmed",
		},
		{
			name: "one bad among good",
			swaps: swapsHeader + "/dev/zram0                              partition\t4194300\t\t0\t\t100\n" +
				"/dev/nvme0n1p3                          partition\t8388604\t\t0\t\t-2\n",
			want: StatusWarn, wantFound: "/dev/nvme0n1p3 (plain partition)",
		},
		{name: "no /proc/swaps", missing: true, want: StatusInfo, wantFound: "no /proc/swaps"},
		{name: "garbage", swaps: "hello\n", want: StatusWarn, wantFound: "missing header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTree(t)
			if tt.missing {
				os.Remove(tr.path("proc/swaps"))
			} else {
				writeFile(t, tr.path("proc/swaps"), []byte(tt.swaps), 0o444)
			}
			if tt.setup != nil {
				tt.setup(t, tr)
			}
			f := finding(t, tr.cfg, "swap")
			assert.False(t, f.Status != tt.want || !strings.Contains(f.Found, tt.wantFound) || !strings.Contains(f.Fix, tt.wantFix), "got %s %q fix %q; want %s, found ~%q, fix ~%q", f.Status, f.Found, f.Fix, tt.want, tt.wantFound, tt.wantFix)
		})
	}
}

func TestParseSwaps(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    []swapEntry
		wantErr bool
	}{
		{name: "header only", in: swapsHeader},
		{name: "two", in: swapsHeader + "/dev/sda2 partition 1 0 -2\n/swap\\134x file 1 0 -3\n", want: []swapEntry{{"/dev/sda2", "partition"}, {`/swap\x`, "file"}}},
		{name: "deleted file", in: swapsHeader + "/swapfile\\040(deleted) file 1 0 -2\n", want: []swapEntry{{"/swapfile (deleted)", "file"}}},
		{name: "empty", in: "", wantErr: true},
		{name: "short line", in: swapsHeader + "/dev/sda2\n", wantErr: true},
		{name: "short escape", in: swapsHeader + "/dev/a\\04 partition\n", wantErr: true},
		{name: "escape out of range", in: swapsHeader + "/dev/a\\777 partition\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSwaps([]byte(tt.in))
			require.EqualValues(t, tt.wantErr, (err != nil), "err = %v, wantErr %v", err, tt.wantErr)
			assert.True(t, reflect.DeepEqual(got, tt.want), "got %q, want %q", got, tt.want)
		})
	}
}

func TestPtraceScope(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		content   string
		missing   bool
		want      Status
		wantFound string
	}{
		{name: "0", content: "0\n", want: StatusWarn, wantFound: "is 0"},
		{name: "1", content: "1\n", want: StatusPass},
		{name: "3", content: "3\n", want: StatusPass},
		{name: "absent", missing: true, want: StatusWarn, wantFound: "Yama LSM not active"},
		{name: "garbage", content: "x", want: StatusWarn, wantFound: "unreadable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTree(t)
			p := tr.path("proc/sys/kernel/yama/ptrace_scope")
			if tt.missing {
				os.Remove(p)
			} else {
				writeFile(t, p, []byte(tt.content), 0o644)
			}
			f := finding(t, tr.cfg, "ptrace-scope")
			assert.False(t, f.Status != tt.want || f.Severity != SeverityWarning || !strings.Contains(f.Found, tt.wantFound), "got %s/%s %q; want %s, found ~%q", f.Status, f.Severity, f.Found, tt.want, tt.wantFound)
			assert.False(t, f.Status == StatusWarn && f.Fix == "", "warning without a fix")
		})
	}
}

func TestKernelLockdown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		content   string
		missing   bool
		want      Status
		wantFound string
	}{
		{name: "none", content: "[none] integrity confidentiality\n", want: StatusWarn, wantFound: "lockdown: none"},
		{name: "integrity", content: "none [integrity] confidentiality\n", want: StatusPass, wantFound: "integrity"},
		{name: "confidentiality", content: "none integrity [confidentiality]\n", want: StatusPass, wantFound: "confidentiality"},
		{name: "absent", missing: true, want: StatusInfo, wantFound: "not available"},
		{name: "garbage", content: "none integrity\n", want: StatusWarn, wantFound: "no bracketed mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTree(t)
			p := tr.path("sys/kernel/security/lockdown")
			if tt.missing {
				os.Remove(p)
			} else {
				writeFile(t, p, []byte(tt.content), 0o444)
			}
			f := finding(t, tr.cfg, "kernel-lockdown")
			assert.False(t, f.Status != tt.want || !strings.Contains(f.Found, tt.wantFound), "got %s %q; want %s, found ~%q", f.Status, f.Found, tt.want, tt.wantFound)
		})
	}
}

func TestSecureBoot(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		setup     func(t *testing.T, tr *tree)
		want      Status
		wantFound string
	}{
		{name: "on", want: StatusPass, wantFound: "enabled"},
		{
			name: "off",
			setup: func(t *testing.T, tr *tree) {
				writeFile(t, tr.path("sys/firmware/efi/efivars/"+secureBootVar), []byte{6, 0, 0, 0, 0}, 0o644)
			},
			want: StatusWarn, wantFound: "disabled",
		},
		{name: "no EFI", setup: func(t *testing.T, tr *tree) { os.RemoveAll(tr.path("sys/firmware/efi")) }, want: StatusInfo, wantFound: "not booted with EFI"},
		{
			name:  "no variable",
			setup: func(t *testing.T, tr *tree) { os.Remove(tr.path("sys/firmware/efi/efivars/" + secureBootVar)) },
			want:  StatusInfo, wantFound: "unknown",
		},
		{
			name: "truncated",
			setup: func(t *testing.T, tr *tree) {
				writeFile(t, tr.path("sys/firmware/efi/efivars/"+secureBootVar), []byte{6, 0, 1}, 0o644)
			},
			want: StatusInfo, wantFound: "want at least 5",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTree(t)
			if tt.setup != nil {
				tt.setup(t, tr)
			}
			f := finding(t, tr.cfg, "secure-boot")
			assert.False(t, f.Status != tt.want || !strings.Contains(f.Found, tt.wantFound), "got %s %q; want %s, found ~%q", f.Status, f.Found, tt.want, tt.wantFound)
		})
	}
}
