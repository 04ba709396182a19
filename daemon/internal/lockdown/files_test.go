package lockdown

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDataDirPerms(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		setup     func(t *testing.T, tr *tree)
		root      bool // needs root (chown)
		dev       bool
		want      Status
		wantFound string // substring
		wantFix   string // substring
	}{
		{name: "good", want: StatusPass, wantFound: "owned by"},
		{
			name:      "dir mode 0755",
			setup:     func(t *testing.T, tr *tree) { chmod(t, tr.cfg.DataDir, 0o755) },
			want:      StatusFail,
			wantFound: "/var/lib/accessd is mode 0755",
			wantFix:   "chmod -R go-rwx",
		},
		{
			name:      "dir mode 0750 in dev",
			setup:     func(t *testing.T, tr *tree) { chmod(t, tr.cfg.DataDir, 0o750) },
			dev:       true,
			want:      StatusWarn,
			wantFound: "/var/lib/accessd is mode 0750",
		},
		{
			name:      "nested file group-readable",
			setup:     func(t *testing.T, tr *tree) { chmod(t, tr.path("var/lib/accessd/seal/root.sealed"), 0o640) },
			want:      StatusFail,
			wantFound: "seal/root.sealed is mode 0640",
		},
		{
			name:      "nested dir other-executable",
			setup:     func(t *testing.T, tr *tree) { chmod(t, tr.path("var/lib/accessd/db"), 0o701) },
			want:      StatusFail,
			wantFound: "db is mode 0701",
		},
		{
			name: "file owned by another user",
			root: true,
			setup: func(t *testing.T, tr *tree) {
				require.NoError(t, os.Chown(tr.path("var/lib/accessd/db/000001.vlog"), 4242, 4242))
			},
			want:      StatusFail,
			wantFound: "000001.vlog is owned by uid 4242",
			wantFix:   "chown -R",
		},
		{
			name: "many offenders are bounded",
			setup: func(t *testing.T, tr *tree) {
				for i := range 9 {
					writeFile(t, tr.path("var/lib/accessd/db/f"+strconv.Itoa(i)), nil, 0o644)
				}
			},
			want:      StatusFail,
			wantFound: "and 4 more",
		},
		{
			name:      "missing",
			setup:     func(t *testing.T, tr *tree) { os.RemoveAll(tr.cfg.DataDir) },
			want:      StatusWarn,
			wantFound: "does not exist",
			wantFix:   "run accessd init",
		},
		{
			name: "not a directory",
			setup: func(t *testing.T, tr *tree) {
				os.RemoveAll(tr.cfg.DataDir)
				writeFile(t, tr.cfg.DataDir, nil, 0o600)
			},
			want:      StatusFail,
			wantFound: "is not a directory",
		},
		{
			name: "admin socket inside the data dir is skipped",
			setup: func(t *testing.T, tr *tree) {
				sock := filepath.Join(tr.cfg.DataDir, "admin.sock")
				l, err := net.Listen("unix", sock)
				require.NoError(t, err)
				t.Cleanup(func() { l.Close() })
				chmod(t, sock, 0o660)
				tr.cfg.AdminSocket = sock
			},
			want: StatusPass,
		},
		{
			name: "unknown service user",
			setup: func(t *testing.T, tr *tree) {
				tr.cfg.ServiceUser = "no-such-user-accessd-test"
			},
			want:      StatusFail,
			wantFound: "look up service user",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.root {
				requireRoot(t)
			}
			tr := newTree(t)
			if tt.setup != nil {
				tt.setup(t, tr)
			}
			tr.cfg.Dev = tt.dev
			f := finding(t, tr.cfg, "data-dir-perms")
			assert.False(t, f.Status != tt.want || !strings.Contains(f.Found, tt.wantFound) || !strings.Contains(f.Fix, tt.wantFix), "got %s %q fix %q; want %s, found ~%q, fix ~%q", f.Status, f.Found, f.Fix, tt.want, tt.wantFound, tt.wantFix)
		})
	}
}

func TestParentDirs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		check     string
		setup     func(t *testing.T, tr *tree)
		root      bool
		want      Status
		wantFound string
		wantFix   string
	}{
		{name: "data dir good", check: "data-dir-parents", want: StatusPass},
		{name: "config good", check: "config-file-parents", root: true, want: StatusPass},
		{name: "key good", check: "tls-key-parents", want: StatusPass},
		{name: "client CA good", check: "tls-client-ca-parents", want: StatusPass},
		{
			name:      "group-writable parent of data dir",
			check:     "data-dir-parents",
			setup:     func(t *testing.T, tr *tree) { chmod(t, tr.path("var/lib"), 0o775) },
			want:      StatusFail,
			wantFound: "/var/lib is mode 0775",
			wantFix:   "chmod go-w " + "",
		},
		{
			name:      "sticky world-writable grandparent of config",
			check:     "config-file-parents",
			setup:     func(t *testing.T, tr *tree) { chmod(t, tr.path("etc"), os.ModeSticky|0o777) },
			want:      StatusFail,
			wantFound: "sticky does not help",
		},
		{
			name:      "other-writable tls dir",
			check:     "tls-key-parents",
			setup:     func(t *testing.T, tr *tree) { chmod(t, tr.path("etc/accessd/tls"), 0o757) },
			want:      StatusFail,
			wantFound: "tls is mode 0757",
		},
		{
			name:  "parent owned by another user",
			check: "config-file-parents",
			root:  true,
			setup: func(t *testing.T, tr *tree) {
				require.NoError(t, os.Chown(tr.path("etc/accessd"), 4343, 0))
			},
			want:      StatusFail,
			wantFound: "/etc/accessd is owned by uid 4343",
			wantFix:   "chown root",
		},
		{
			name:  "symlinked data dir into an unsafe directory",
			check: "data-dir-parents",
			setup: func(t *testing.T, tr *tree) {
				unsafe := mkdir(t, tr.path("srv/shared"), 0o777)
				target := filepath.Join(unsafe, "accessd")
				require.NoError(t, os.Rename(tr.cfg.DataDir, target))
				require.NoError(t, os.Symlink(target, tr.cfg.DataDir))
			},
			want:      StatusFail,
			wantFound: "srv/shared is mode 0777",
		},
		{
			name:  "missing file under an unsafe existing parent",
			check: "config-file-parents",
			setup: func(t *testing.T, tr *tree) {
				chmod(t, tr.path("etc"), 0o777)
				tr.cfg.ConfigFile = tr.path("etc/missing/accessd.toml")
			},
			want:      StatusFail,
			wantFound: "/etc is mode 0777",
		},
		{
			name:      "not configured",
			check:     "tls-client-ca-parents",
			setup:     func(t *testing.T, tr *tree) { tr.cfg.TLSClientCA = "" },
			want:      StatusInfo,
			wantFound: "client certificates disabled",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.root {
				requireRoot(t)
			}
			tr := newTree(t)
			if tt.setup != nil {
				tt.setup(t, tr)
			}
			f := finding(t, tr.cfg, tt.check)
			assert.False(t, f.Status != tt.want || !strings.Contains(f.Found, tt.wantFound) || !strings.Contains(f.Fix, tt.wantFix), "got %s %q fix %q; want %s, found ~%q, fix ~%q", f.Status, f.Found, f.Fix, tt.want, tt.wantFound, tt.wantFix)
		})
	}
}

// TestParentDirsRealTmp walks to the real "/" on purpose: the test tree
// sits under /tmp, which is 1777 on this kind of host, so the check must fail.
func TestParentDirsRealTmp(t *testing.T) {
	t.Parallel()
	tr := newTree(t)
	fi, err := os.Stat(os.TempDir())
	if err != nil || fi.Mode().Perm()&0o002 == 0 || !strings.HasPrefix(tr.root, os.TempDir()) {
		t.Skipf("%s is not world-writable here", os.TempDir())
	}
	tr.cfg.TrustedRoot = ""
	f := finding(t, tr.cfg, "data-dir-parents")
	assert.False(t, f.Status != StatusFail || !strings.Contains(f.Found, os.TempDir()+" is mode 1777"), "got %s %q, want a failure naming %s", f.Status, f.Found, os.TempDir())
}

func TestFilePerms(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		check     string
		file      string // relative to the tree; "" leaves files alone
		mode      os.FileMode
		setup     func(t *testing.T, tr *tree)
		root      bool
		want      Status
		wantSev   Severity
		wantFound string
		wantFix   string
	}{
		// Root-owned only when the tests run as root (see TestConfigOwnership).
		{name: "config 0640", check: "config-file-perms", file: "etc/accessd/accessd.toml", mode: 0o640, root: true, want: StatusPass, wantSev: SeverityCritical},
		{name: "config 0644", check: "config-file-perms", file: "etc/accessd/accessd.toml", mode: 0o644, root: true, want: StatusPass, wantSev: SeverityCritical},
		{name: "config 0660", check: "config-file-perms", file: "etc/accessd/accessd.toml", mode: 0o660, want: StatusFail, wantSev: SeverityCritical, wantFound: "accessd.toml is mode 0660", wantFix: "chmod 0640"},
		{name: "config 0602", check: "config-file-perms", file: "etc/accessd/accessd.toml", mode: 0o602, want: StatusFail, wantSev: SeverityCritical, wantFound: "mode 0602"},
		{name: "key 0600", check: "tls-key-perms", file: "etc/accessd/tls/server.key", mode: 0o600, want: StatusPass, wantSev: SeverityCritical},
		{name: "key 0400", check: "tls-key-perms", file: "etc/accessd/tls/server.key", mode: 0o400, want: StatusPass, wantSev: SeverityCritical},
		{name: "key 0640", check: "tls-key-perms", file: "etc/accessd/tls/server.key", mode: 0o640, want: StatusFail, wantSev: SeverityCritical, wantFound: "server.key is mode 0640", wantFix: "chmod go-rwx"},
		{name: "key 0604", check: "tls-key-perms", file: "etc/accessd/tls/server.key", mode: 0o604, want: StatusFail, wantSev: SeverityCritical, wantFound: "mode 0604"},
		{name: "cert 0644", check: "tls-cert-perms", file: "etc/accessd/tls/server.crt", mode: 0o644, want: StatusPass, wantSev: SeverityWarning},
		{name: "cert 0664", check: "tls-cert-perms", file: "etc/accessd/tls/server.crt", mode: 0o664, want: StatusWarn, wantSev: SeverityWarning, wantFound: "mode 0664"},
		{name: "client CA 0666", check: "tls-client-ca-perms", file: "etc/accessd/tls/clients-ca.pem", mode: 0o666, want: StatusFail, wantSev: SeverityCritical, wantFound: "mode 0666"},
		{
			name: "config missing", check: "config-file-perms",
			setup: func(t *testing.T, tr *tree) { os.Remove(tr.cfg.ConfigFile) },
			want:  StatusInfo, wantSev: SeverityInfo, wantFound: "does not exist",
		},
		{
			name: "no config file", check: "config-file-perms",
			setup: func(t *testing.T, tr *tree) { tr.cfg.ConfigFile = "" },
			want:  StatusInfo, wantSev: SeverityInfo, wantFound: "built-in defaults",
		},
		{
			name: "key missing", check: "tls-key-perms",
			setup: func(t *testing.T, tr *tree) { os.Remove(tr.cfg.TLSKey) },
			want:  StatusWarn, wantSev: SeverityWarning, wantFound: "does not exist", wantFix: "mode 0600",
		},
		{
			name: "key is a directory", check: "tls-key-perms",
			setup: func(t *testing.T, tr *tree) {
				os.Remove(tr.cfg.TLSKey)
				mkdir(t, tr.cfg.TLSKey, 0o700)
			},
			want: StatusFail, wantSev: SeverityCritical, wantFound: "not a regular file",
		},
		{
			name: "key owned by another user", check: "tls-key-perms", root: true,
			setup: func(t *testing.T, tr *tree) {
				require.NoError(t, os.Chown(tr.cfg.TLSKey, 4343, 4343))
			},
			// The service reads its key: the fix hands it to the service user.
			want: StatusFail, wantSev: SeverityCritical, wantFound: "owned by uid 4343", wantFix: "chown " + strconv.Itoa(os.Geteuid()) + " ",
		},
		{
			name: "key owned by the service user", check: "tls-key-perms", root: true,
			setup: func(t *testing.T, tr *tree) {
				require.NoError(t, os.Chown(tr.cfg.TLSKey, 4343, 4343))
				tr.cfg.ServiceUser = "4343"
			},
			want: StatusPass, wantSev: SeverityCritical,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.root {
				requireRoot(t)
			}
			tr := newTree(t)
			if tt.file != "" {
				chmod(t, tr.path(tt.file), tt.mode)
			}
			if tt.setup != nil {
				tt.setup(t, tr)
			}
			f := finding(t, tr.cfg, tt.check)
			assert.False(t, f.Status != tt.want || f.Severity != tt.wantSev || !strings.Contains(f.Found, tt.wantFound) || !strings.Contains(f.Fix, tt.wantFix), "got %s/%s %q fix %q; want %s/%s, found ~%q, fix ~%q", f.Status, f.Severity, f.Found, f.Fix, tt.want, tt.wantSev, tt.wantFound, tt.wantFix)
		})
	}
}

func TestAdminSocketDir(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		setup     func(t *testing.T, tr *tree)
		want      Status
		wantFound string
	}{
		{name: "0755", want: StatusPass},
		{name: "0750", setup: func(t *testing.T, tr *tree) { chmod(t, tr.path("run/accessd"), 0o750) }, want: StatusPass},
		{name: "0775", setup: func(t *testing.T, tr *tree) { chmod(t, tr.path("run/accessd"), 0o775) }, want: StatusFail, wantFound: "run/accessd is mode 0775"},
		{name: "1777", setup: func(t *testing.T, tr *tree) { chmod(t, tr.path("run/accessd"), os.ModeSticky|0o777) }, want: StatusFail, wantFound: "mode 1777"},
		{name: "unsafe parent", setup: func(t *testing.T, tr *tree) { chmod(t, tr.path("run"), 0o777) }, want: StatusFail, wantFound: "/run is mode 0777"},
		{name: "missing", setup: func(t *testing.T, tr *tree) { os.Remove(tr.path("run/accessd")) }, want: StatusInfo, wantFound: "RuntimeDirectory"},
		{name: "not configured", setup: func(t *testing.T, tr *tree) { tr.cfg.AdminSocket = "" }, want: StatusFail, wantFound: "no admin socket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTree(t)
			if tt.setup != nil {
				tt.setup(t, tr)
			}
			f := finding(t, tr.cfg, "admin-socket-dir")
			assert.False(t, f.Status != tt.want || !strings.Contains(f.Found, tt.wantFound), "got %s %q fix %q; want %s, found ~%q", f.Status, f.Found, f.Fix, tt.want, tt.wantFound)
		})
	}
}

// TestPackagedUserMissing is root running `accessd check` on a host the
// package has not set up: the report says how to make the packaged layout,
// and the key's fix hands it to the service user, not to root.
func TestPackagedUserMissing(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	tr := newTree(t)
	c := tr.cfg
	c.ServiceUser = ""
	c.PackagedUser = "accessd-test-nonexistent"
	c.Creds = &Creds{}
	require.NoError(t, os.Chown(c.TLSKey, 4343, 4343))
	f := finding(t, c, "service-user")
	require.Equal(t, StatusFail, f.Status)
	require.Contains(t, f.Found, "no accessd-test-nonexistent user")
	require.Contains(t, f.Fix, "systemd-sysusers")
	require.Contains(t, f.Fix, "sudo -u accessd-test-nonexistent accessd init")
	k := finding(t, c, "tls-key-perms")
	require.Contains(t, k.Fix, "chown accessd-test-nonexistent "+c.TLSKey)
	require.NotContains(t, k.Fix, "chown root")
}

// TestConfigOwnership: the config and every directory above it belong to
// root and only root can write them; the service user (the configured
// account, or the uid the daemon runs as) fails like any stranger, since a
// compromised daemon could otherwise rewrite its own config for the next
// start. Real files, real chown.
func TestConfigOwnership(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	const svc, running, stranger = 4343, 4242, 4444 // tree creds run as 4242
	chown := func(t *testing.T, path string, uid, gid int) {
		t.Helper()
		require.NoError(t, os.Chown(path, uid, gid))
	}
	tests := []struct {
		name      string
		check     string
		service   string // Config.ServiceUser; "" means the running uid
		setup     func(t *testing.T, tr *tree)
		want      Status
		wantFound string
		wantFix   string
	}{
		{name: "root:svc 0640", check: "config-file-perms", service: "4343",
			setup: func(t *testing.T, tr *tree) { chown(t, tr.cfg.ConfigFile, 0, svc) },
			want:  StatusPass, wantFound: "owned by uid 0"},
		{name: "owned by the service user", check: "config-file-perms", service: "4343",
			setup: func(t *testing.T, tr *tree) { chown(t, tr.cfg.ConfigFile, svc, svc) },
			want:  StatusFail, wantFound: "accessd.toml is owned by uid 4343, the service user",
			wantFix: "chown root:4343 {config} && chmod 0640 {config}"},
		{name: "owned by the running uid", check: "config-file-perms",
			setup: func(t *testing.T, tr *tree) { chown(t, tr.cfg.ConfigFile, running, running) },
			want:  StatusFail, wantFound: "owned by uid 4242, the service user",
			wantFix: "chown root:4242 {config} && chmod 0640 {config}"},
		{name: "writable by the service group", check: "config-file-perms", service: "4343",
			setup: func(t *testing.T, tr *tree) { chown(t, tr.cfg.ConfigFile, 0, svc); chmod(t, tr.cfg.ConfigFile, 0o660) },
			want:  StatusFail, wantFound: "accessd.toml is mode 0660",
			wantFix: "chown root:4343 {config} && chmod 0640 {config}"},
		{name: "service user owns it and may write it", check: "config-file-perms", service: "4343",
			setup: func(t *testing.T, tr *tree) {
				chown(t, tr.cfg.ConfigFile, svc, svc)
				chmod(t, tr.cfg.ConfigFile, 0o600)
			},
			want: StatusFail, wantFound: "the service user", wantFix: "chmod 0640"},
		{name: "owned by a stranger", check: "config-file-perms", service: "4343",
			setup: func(t *testing.T, tr *tree) { chown(t, tr.cfg.ConfigFile, stranger, 0) },
			want:  StatusFail, wantFound: "owned by uid 4444", wantFix: "chown root:4343"},
		{name: "parents root-owned", check: "config-file-parents", service: "4343",
			want: StatusPass, wantFound: "owned by root,"},
		{name: "config dir owned by the service user", check: "config-file-parents", service: "4343",
			setup: func(t *testing.T, tr *tree) { chown(t, tr.path("etc/accessd"), svc, svc) },
			want:  StatusFail, wantFound: "etc/accessd is owned by uid 4343, the service user, which could then replace the config file",
			wantFix: "chown root:root {root}/etc/accessd"},
		{name: "grandparent owned by the running uid", check: "config-file-parents",
			setup: func(t *testing.T, tr *tree) { chown(t, tr.path("etc"), running, 0) },
			want:  StatusFail, wantFound: "/etc is owned by uid 4242, the service user",
			wantFix: "chown root:root {root}/etc"},
		{name: "config dir writable by the service group", check: "config-file-parents", service: "4343",
			setup: func(t *testing.T, tr *tree) {
				chown(t, tr.path("etc/accessd"), 0, svc)
				chmod(t, tr.path("etc/accessd"), 0o775)
			},
			want: StatusFail, wantFound: "etc/accessd is mode 0775", wantFix: "chmod go-w {root}/etc/accessd"},
		{name: "config dir owned by a stranger", check: "config-file-parents", service: "4343",
			setup: func(t *testing.T, tr *tree) { chown(t, tr.path("etc/accessd"), stranger, 0) },
			want:  StatusFail, wantFound: "etc/accessd is owned by uid 4444", wantFix: "chown root {root}/etc/accessd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTree(t)
			tr.cfg.ServiceUser = tt.service
			if tt.setup != nil {
				tt.setup(t, tr)
			}
			fix := strings.NewReplacer("{config}", tr.cfg.ConfigFile, "{root}", tr.root).Replace(tt.wantFix)
			f := finding(t, tr.cfg, tt.check)
			assert.False(t, f.Status != tt.want || !strings.Contains(f.Found, tt.wantFound) || !strings.Contains(f.Fix, fix), "got %s %q fix %q; want %s, found ~%q, fix ~%q", f.Status, f.Found, f.Fix, tt.want, tt.wantFound, fix)
			// Enforced from the first start: a daemon refused with a
			// writable config never runs to set lockdown.mode = "warn" in
			// it. --dev downgrades it like every critical finding.
			if tt.want == StatusFail {
				tr.cfg.Dev = true
				if g := finding(t, tr.cfg, tt.check); g.Status != StatusWarn {
					assert.Fail(t, fmt.Sprintf("dev: got %s, want warn", g.Status))
				}
			}
		})
	}
}
