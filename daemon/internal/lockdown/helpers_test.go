package lockdown

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// tree is a host laid out under one t.TempDir: a data dir, config, TLS
// files, a runtime dir and fake /proc and /sys.
type tree struct {
	root string
	cfg  Config
}

var (
	buildTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	testNow   = buildTime.Add(24 * time.Hour)
)

func mkdir(t *testing.T, path string, mode os.FileMode) string {
	t.Helper()
	require.NoError(t, os.MkdirAll(path, 0o700))
	chmod(t, path, mode)
	return path
}

func writeFile(t *testing.T, path string, data []byte, mode os.FileMode) string {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, data, 0o600))
	chmod(t, path, mode)
	return path
}

// chmod sets the exact mode, umask notwithstanding.
func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	require.NoError(t, os.Chmod(path, mode))
}

const (
	goodStatus = "Name:\taccessd\nUmask:\t0077\nVmPeak:\t 1300000 kB\nVmSize:\t 1282048 kB\nVmLck:\t 1281000 kB\nVmRSS:\t 70000 kB\nCapEff:\t0000000000000000\n"
	goodLimits = "Limit                     Soft Limit           Hard Limit           Units     \n" +
		"Max core file size        0                    0                    bytes     \n" +
		"Max locked memory         unlimited            unlimited            bytes     \n" +
		"Max realtime timeout      unlimited            unlimited            us        \n"
	swapsHeader = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
)

var secureBootOn = []byte{0x06, 0, 0, 0, 1}

// newTree builds a host on which every check passes, for a non-root
// process (injected creds) whose service user owns the files the test
// creates (the test's own euid).
func newTree(t *testing.T) *tree {
	t.Helper()
	root, err := filepath.EvalSymlinks(t.TempDir())
	require.NoError(t, err)
	chmod(t, root, 0o755)
	tr := &tree{root: root}
	p := func(rel string) string { return filepath.Join(root, rel) }

	mkdir(t, p("var/lib/accessd/seal"), 0o700)
	mkdir(t, p("var/lib/accessd/db"), 0o700)
	chmod(t, p("var/lib"), 0o755)
	chmod(t, p("var"), 0o755)
	chmod(t, p("var/lib/accessd"), 0o700)
	writeFile(t, p("var/lib/accessd/seal/root.sealed"), []byte("sealed"), 0o600)
	writeFile(t, p("var/lib/accessd/db/000001.vlog"), []byte("vlog"), 0o600)

	mkdir(t, p("etc/accessd/tls"), 0o755)
	chmod(t, p("etc"), 0o755)
	chmod(t, p("etc/accessd"), 0o755)
	writeFile(t, p("etc/accessd/accessd.toml"), []byte("data_dir = \"/var/lib/accessd\"\n"), 0o640)
	writeFile(t, p("etc/accessd/tls/server.key"), []byte("not a key"), 0o600)
	writeFile(t, p("etc/accessd/tls/server.crt"), []byte("cert"), 0o644)
	writeFile(t, p("etc/accessd/tls/clients-ca.pem"), []byte("ca"), 0o644)

	mkdir(t, p("run/accessd"), 0o755)
	chmod(t, p("run"), 0o755)

	writeFile(t, p("proc/swaps"), []byte(swapsHeader), 0o444)
	writeFile(t, p("proc/sys/kernel/yama/ptrace_scope"), []byte("1\n"), 0o644)
	writeFile(t, p("proc/self/status"), []byte(goodStatus), 0o444)
	writeFile(t, p("proc/self/limits"), []byte(goodLimits), 0o444)
	writeFile(t, p("sys/kernel/security/lockdown"), []byte("none [integrity] confidentiality\n"), 0o444)
	writeFile(t, p("sys/firmware/efi/efivars/"+secureBootVar), secureBootOn, 0o644)

	euid := os.Geteuid()
	tr.cfg = Config{
		DataDir:     p("var/lib/accessd"),
		ConfigFile:  p("etc/accessd/accessd.toml"),
		TLSKey:      p("etc/accessd/tls/server.key"),
		TLSCert:     p("etc/accessd/tls/server.crt"),
		TLSClientCA: p("etc/accessd/tls/clients-ca.pem"),
		AdminSocket: p("run/accessd/admin.sock"),
		SealDevice:  "/dev/null", // a real character device that opens read-write
		BuildTime:   buildTime,
		ServiceUser: strconv.Itoa(euid),
		Now:         func() time.Time { return testNow },
		Creds:       &Creds{UID: 4242, EUID: 4242, SUID: 4242, GID: 4242, EGID: 4242, SGID: 4242},
		ProcRoot:    p("proc"),
		SysRoot:     p("sys"),
		TrustedRoot: root,
	}
	return tr
}

func (tr *tree) path(rel string) string { return filepath.Join(tr.root, rel) }

// finding runs the checks and returns the one named.
func finding(t *testing.T, c Config, name string) Finding {
	t.Helper()
	for _, f := range Run(c).Findings {
		if f.Check == name {
			return f
		}
	}
	require.Fail(t, fmt.Sprintf("no finding %q", name))
	return Finding{}
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown test files")
	}
}
