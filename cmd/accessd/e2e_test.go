package main

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base32"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/daemon/daemontest"
	"github.com/accessd/accessd/seal"
	"github.com/accessd/accessd/seal/sealtest"
)

// The integration tests run the real accessd: the test binary re-executes
// itself as accessd (TestMain dispatches on ACCESSD_E2E_MAIN), so every
// child is a separate process with its own TPM simulator, real files, real
// TLS and real Unix sockets. accessctl is built once with `go build`.

func TestMain(m *testing.M) {
	if os.Getenv("ACCESSD_E2E_MAIN") == "1" {
		if u := os.Getenv("ACCESSD_E2E_SERVICE_USER"); u != "" {
			serviceUser = u
		}
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	flag.Parse()
	parallelSet := false
	flag.Visit(func(f *flag.Flag) { parallelSet = parallelSet || f.Name == "test.parallel" })
	if !parallelSet {
		// The tests wait on their children (fsync, the TPM, the daemon's
		// start-up) far more than they compute: four at a time keep two
		// cores busy without drowning them. -parallel overrides.
		if err := flag.Set("test.parallel", "4"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	code := m.Run()
	if ctlBuild.dir != "" {
		os.RemoveAll(ctlBuild.dir)
	}
	os.Exit(code)
}

// ports hands out loopback ports that were free a moment ago, never the
// same one twice in this process, nor the one after a port handed out
// (swtpm puts its control channel there): tests running side by side
// must not pick the same port between asking and binding.
var ports struct {
	sync.Mutex
	taken map[int]bool
}

// freePort is daemontest.FreePort without a port another test of this
// process was given.
func freePort(t testing.TB) int {
	t.Helper()
	ports.Lock()
	defer ports.Unlock()
	if ports.taken == nil {
		ports.taken = map[int]bool{}
	}
	for {
		p := daemontest.FreePort(t)
		if p < 65535 && !ports.taken[p] && !ports.taken[p+1] {
			ports.taken[p], ports.taken[p+1] = true, true
			return p
		}
	}
}

// freeAddr is freePort as a listen address.
func freeAddr(t testing.TB) string { return fmt.Sprintf("127.0.0.1:%d", freePort(t)) }

// accessd returns a command that runs accessd with args.
func accessd(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "ACCESSD_E2E_MAIN=1")
	return cmd
}

type result struct {
	stdout, stderr string
	code           int
}

func runAccessd(t *testing.T, args ...string) result {
	t.Helper()
	cmd := accessd(args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return result{out.String(), errb.String(), code}
}

var (
	recoveryRE = regexp.MustCompile(`(?m)^    ([A-Z2-7]{4,}(?:-[A-Z2-7]{4,})+)\s*$`)
	passwordRE = regexp.MustCompile(`(?m)one-time password.*:\n\n    (\S+)\n`)
)

// secretsIn pulls the recovery key and admin password that init printed.
func secretsIn(t *testing.T, stdout string) (recovery, password string) {
	t.Helper()
	m := recoveryRE.FindStringSubmatch(stdout)
	require.NotNil(t, m, "no recovery key in init output:\n%s", stdout)
	p := passwordRE.FindStringSubmatch(stdout)
	require.NotNil(t, p, "no admin password in init output:\n%s", stdout)
	return m[1], p[1]
}

// requireNotStored asserts that none of needles appears, byte for byte, in
// any file under dir.
func requireNotStored(t *testing.T, dir string, needles ...[]byte) {
	t.Helper()
	files := 0
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		files++
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, n := range needles {
			require.False(t, bytes.Contains(b, n), "%s holds a printed secret in clear", p)
		}
		return nil
	}))
	require.Greater(t, files, 3, "expected seal files and store files under %s", dir)
}

func mode(t *testing.T, p string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(p)
	require.NoError(t, err)
	return fi.Mode().Perm()
}

func TestInitDev(t *testing.T) {
	t.Parallel()
	d := filepath.Join(t.TempDir(), "data")
	r := runAccessd(t, "init", "--dev", "--data-dir", d)
	require.Equal(t, 0, r.code, "stderr:\n%s", r.stderr)
	recovery, password := secretsIn(t, r.stdout)

	require.Equal(t, fs.FileMode(0o700), mode(t, d))
	require.Equal(t, fs.FileMode(0o700), mode(t, filepath.Join(d, "seal")))
	require.Equal(t, fs.FileMode(0o600), mode(t, filepath.Join(d, "seal", "root.sealed")))
	require.Equal(t, fs.FileMode(0o600), mode(t, filepath.Join(d, "seal", "root.recovery")))

	// Nothing init printed stands in clear under D: not the recovery key in
	// any spelling, not its raw bytes, not the password.
	_, err := seal.ParseRecoveryKey(recovery)
	require.NoError(t, err)
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(recovery, "-", ""))
	require.NoError(t, err)
	raw = raw[:32] // the key; the rest is its checksum
	requireNotStored(t, d, []byte(recovery), []byte(strings.ReplaceAll(recovery, "-", "")),
		[]byte(strings.ToLower(recovery)), raw, []byte(password), []byte("admin@localhost"))
	// Nor in the log.
	require.NotContains(t, r.stderr, recovery)
	require.NotContains(t, r.stderr, password)

	// A second init refuses and changes nothing.
	before, err := os.ReadFile(filepath.Join(d, "seal", "root.sealed"))
	require.NoError(t, err)
	r2 := runAccessd(t, "init", "--dev", "--data-dir", d)
	require.NotEqual(t, 0, r2.code)
	require.Contains(t, r2.stderr, "already initialised")
	after, err := os.ReadFile(filepath.Join(d, "seal", "root.sealed"))
	require.NoError(t, err)
	require.Equal(t, before, after)

	// A flipped byte in root.sealed stops serve with an error that says so.
	for _, off := range []int{0, 20, len(before) / 2, len(before) - 1} {
		t.Run(fmt.Sprintf("flip byte %d", off), func(t *testing.T) {
			bad := bytes.Clone(before)
			bad[off] ^= 0x01
			require.NoError(t, os.WriteFile(filepath.Join(d, "seal", "root.sealed"), bad, 0o600))
			r := runAccessd(t, "serve", "--dev", "--data-dir", d, "--listen", "127.0.0.1:0")
			require.NotEqual(t, 0, r.code)
			require.Regexp(t, `root\.sealed.*(modified|corrupt|tamper)`, r.stderr)
		})
	}
	require.NoError(t, os.WriteFile(filepath.Join(d, "seal", "root.sealed"), before, 0o600))

	// recover with the printed key re-seals; a wrong key is refused.
	keyFile := filepath.Join(t.TempDir(), "rk")
	require.NoError(t, os.WriteFile(keyFile, []byte(strings.ToLower(recovery)+"\n"), 0o600))
	r = runAccessd(t, "recover", "--dev", "--data-dir", d, "--recovery-key-file", keyFile)
	require.Equal(t, 0, r.code, r.stderr)
	wrong, err := seal.NewRecoveryKey(randReader{})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(keyFile, []byte(wrong.Reveal()), 0o600))
	r = runAccessd(t, "recover", "--dev", "--data-dir", d, "--recovery-key-file", keyFile)
	require.NotEqual(t, 0, r.code)
	require.Contains(t, r.stderr, "recovery key")
}

// randReader is a deterministic, obviously-not-random reader for a key that
// must merely differ from the real one.
type randReader struct{}

func (randReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(i*7 + 1)
	}
	return len(p), nil
}

// served is a running `accessd serve` child with its own NOTIFY_SOCKET.
type served struct {
	cmd            *exec.Cmd
	stdout, stderr *daemontest.SyncBuffer
	notes          <-chan string
}

// startServe runs `accessd serve args…` and waits for READY=1. The child is
// killed when the test ends if it is still running.
func startServe(t *testing.T, ready time.Duration, args ...string) *served {
	t.Helper()
	notify, notes := daemontest.NotifySocket(t)
	s := &served{cmd: accessd(append([]string{"serve"}, args...)...), stdout: &daemontest.SyncBuffer{}, stderr: &daemontest.SyncBuffer{}, notes: notes}
	s.cmd.Env = append(s.cmd.Env, "NOTIFY_SOCKET="+notify)
	s.cmd.Stdout, s.cmd.Stderr = s.stdout, s.stderr
	require.NoError(t, s.cmd.Start())
	t.Cleanup(func() { s.cmd.Process.Kill(); s.cmd.Wait() })
	daemontest.WaitFor(t, notes, "READY=1", ready)
	return s
}

// stop sends SIGTERM and waits for a clean exit.
func (s *served) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, s.cmd.Wait(), s.stderr.String())
}

// devConf is the config file of one --dev daemon of the e2e tests, with
// its own loopback TLS address and admin socket.
type devConf struct {
	file, sock, addr string
}

// writeDevConfig is the one writer of the e2e tests' --dev config: the
// issuer https://ADDR on a free loopback address, the admin socket in a
// directory others may traverse (so a refusal comes from the peer check,
// not the file system), then extra, TOML tables such as "[store]\n…".
func writeDevConfig(t *testing.T, extra string) devConf {
	t.Helper()
	c := devConf{
		file: filepath.Join(t.TempDir(), "accessd.toml"),
		sock: filepath.Join(daemontest.OpenDir(t), "admin.sock"),
		addr: freeAddr(t),
	}
	require.NoError(t, os.WriteFile(c.file, []byte(fmt.Sprintf("issuer = %q\n[listen]\nadmin_socket = %q\n%s",
		"https://"+c.addr, c.sock, extra)), 0o600))
	return c
}

// serveArgs are the arguments of `serve` (or `init`) on data dir d.
func (c devConf) serveArgs(d string) []string {
	return []string{"--dev", "--config", c.file, "--data-dir", d, "--listen", c.addr}
}

// devConfig writes a --dev config with extra TOML tables and returns the
// serve arguments for data dir d.
func devConfig(t *testing.T, d, extra string) (args []string, sock, addr string) {
	t.Helper()
	c := writeDevConfig(t, extra)
	return c.serveArgs(d), c.sock, c.addr
}

// serveDev starts `serve --dev` on its own data dir, admin socket and
// loopback TLS address, with extra config tables, and returns them.
func serveDev(t *testing.T, extraConfig string) (dataDir, sock, addr string, srv *served) {
	t.Helper()
	dataDir = filepath.Join(t.TempDir(), "data")
	args, sock, addr := devConfig(t, dataDir, extraConfig)
	return dataDir, sock, addr, startServe(t, 90*time.Second, args...)
}

// ctlBuild is the one accessctl binary of this test process, built by the
// first test that asks for it and removed by TestMain.
var ctlBuild struct {
	once     sync.Once
	dir, bin string
	err      error
}

// buildAccessctl returns accessctl, built once for every test of the
// package (in a directory others may traverse, for the tests that run it
// as another user).
func buildAccessctl(t *testing.T) string {
	t.Helper()
	ctlBuild.once.Do(func() {
		if ctlBuild.dir, ctlBuild.err = os.MkdirTemp("", "accessd-e2e-ctl-"); ctlBuild.err != nil {
			return
		}
		if ctlBuild.err = os.Chmod(ctlBuild.dir, 0o755); ctlBuild.err != nil {
			return
		}
		bin := filepath.Join(ctlBuild.dir, "accessctl")
		out, err := exec.Command("go", "build", "-o", bin, "../accessctl").CombinedOutput()
		if err != nil {
			ctlBuild.err = fmt.Errorf("go build accessctl: %w\n%s", err, out)
			return
		}
		ctlBuild.bin = bin
	})
	require.NoError(t, ctlBuild.err)
	return ctlBuild.bin
}

func TestServeDev(t *testing.T) {
	t.Parallel()
	d := filepath.Join(t.TempDir(), "data")
	args, sock, addr := devConfig(t, d, "")
	serve := func() *served {
		return startServe(t, 90*time.Second, args...)
	}
	first := serve()
	cmd, stdout, stderr := first.cmd, first.stdout, first.stderr

	// The first --dev run initialised and printed the secrets once.
	recovery, password := secretsIn(t, stdout.String())

	// /health over TLS, trusting the written dev certificate.
	pem, err := os.ReadFile(filepath.Join(d, "tls", "server.crt"))
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get("https://" + addr + "/health")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "healthy", string(body))
	require.GreaterOrEqual(t, resp.TLS.Version, uint16(tls.VersionTLS12))

	// TLS 1.1 is refused.
	_, err = tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
	require.ErrorContains(t, err, "protocol version not supported", "the server must refuse TLS 1.1")

	// The admin socket is 0660.
	require.Equal(t, fs.FileMode(0o660), mode(t, sock))

	// accessctl -o json status prints one JSON document.
	ctl := buildAccessctl(t)
	out, err := exec.Command(ctl, "--socket", sock, "-o", "json", "status").Output()
	require.NoError(t, err)
	var st map[string]any
	require.NoError(t, json.Unmarshal(out, &st), string(out))
	require.Equal(t, "simulator", st["seal"].(map[string]any)["kind"])
	require.Equal(t, "off (--dev)", st["seal"].(map[string]any)["rollbackDetection"], "the simulator keeps no NV across runs")
	require.Equal(t, true, st["dev"])
	// The table form works too, and ACCESSD_SOCKET is honoured.
	tc := exec.Command(ctl, "status")
	tc.Env = append(os.Environ(), "ACCESSD_SOCKET="+sock)
	out, err = tc.Output()
	require.NoError(t, err)
	require.Contains(t, string(out), "simulator")
	require.Contains(t, string(out), "detection off (--dev)")

	// /metrics on the admin plane.
	mout, err := exec.Command("curl", "-sS", "--unix-socket", sock, "http://accessd/metrics").Output()
	require.NoError(t, err)
	require.Contains(t, string(mout), `accessd_http_requests_total{code="200",plane="data"}`)
	require.Contains(t, string(mout), "accessd_store_lsm_bytes")

	// An outsider is refused even through a 0666 socket.
	if os.Geteuid() == 0 {
		require.NoError(t, os.Chmod(sock, 0o666))
		c := exec.Command("curl", "-sS", "-w", "\n%{http_code}", "--unix-socket", sock, "http://accessd/v1/status")
		c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := c.CombinedOutput()
		require.NoError(t, err, string(out))
		require.True(t, strings.HasSuffix(strings.TrimSpace(string(out)), "403"), string(out))
		require.NotContains(t, string(out), "simulator")
		// accessctl as that user exits 77 with a hint.
		c = exec.Command(ctl, "--socket", sock, "status")
		c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		require.NoError(t, os.Chmod(filepath.Dir(ctl), 0o755))
		out, err = c.CombinedOutput()
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, string(out))
		require.Equal(t, 77, ee.ExitCode(), string(out))
		require.Contains(t, string(out), "admin group")
		require.Eventually(t, func() bool { return strings.Contains(stderr.String(), `"uid":65534`) }, 5*time.Second, 50*time.Millisecond)
	}

	// SIGHUP reloads the certificate without a restart.
	newPool, newSerial := writeCert(t, filepath.Join(d, "tls", "server.crt"), filepath.Join(d, "tls", "server.key"))
	require.NoError(t, cmd.Process.Signal(syscall.SIGHUP))
	require.Eventually(t, func() bool {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: newPool})
		if err != nil {
			return false
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.Cmp(newSerial) == 0
	}, 10*time.Second, 50*time.Millisecond, "new certificate served after SIGHUP")
	require.Eventually(t, func() bool { return strings.Contains(stderr.String(), `"event":"tls.reload"`) }, 5*time.Second, 50*time.Millisecond)

	// SIGTERM: STOPPING=1, the store closed, a clean exit. (Draining of a
	// request under way is tested in package daemon, with a slow handler.)
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	daemontest.WaitFor(t, first.notes, "STOPPING=1", 20*time.Second)
	require.NoError(t, cmd.Wait())
	require.Contains(t, stderr.String(), `"event":"daemon.stopped"`)
	_, err = os.Stat(sock)
	require.ErrorIs(t, err, os.ErrNotExist, "admin socket removed on stop")

	// A restart unseals the same store (the simulator seed is kept) and
	// prints no secret again.
	second := serve()
	require.NotContains(t, second.stdout.String(), recovery)
	second.stop(t)

	// No secret in any log line of either run.
	for _, logs := range []string{stderr.String(), second.stderr.String()} {
		require.NotContains(t, logs, recovery)
		require.NotContains(t, logs, password)
		sc := bufio.NewScanner(strings.NewReader(logs))
		for sc.Scan() {
			var m map[string]any
			require.NoError(t, json.Unmarshal(sc.Bytes(), &m), "log line is not JSON: %s", sc.Text())
		}
	}
}

func TestServeProductionRefusesOpenDataDir(t *testing.T) {
	t.Parallel()
	d := filepath.Join(t.TempDir(), "data")
	require.NoError(t, os.MkdirAll(d, 0o755))
	require.NoError(t, os.Chmod(d, 0o755))
	cfgFile := filepath.Join(t.TempDir(), "accessd.toml")
	require.NoError(t, os.WriteFile(cfgFile, []byte(fmt.Sprintf(
		"data_dir = %q\n[seal]\ndevice = \"tcp://127.0.0.1:9\"\n[listen]\ntls = \"127.0.0.1:0\"\nadmin_socket = %q\n",
		d, filepath.Join(t.TempDir(), "admin.sock"))), 0o600))
	r := runAccessd(t, "serve", "--config", cfgFile)
	require.Equal(t, exitLockdown, r.code, r.stderr)
	require.Contains(t, r.stderr, d+" is mode 0755")
	require.Contains(t, r.stderr, "lockdown checks failed")

	// check --json prints one JSON document naming the same finding and
	// exits non-zero.
	r = runAccessd(t, "check", "--config", cfgFile, "--json")
	require.Equal(t, exitLockdown, r.code, r.stderr)
	var rep struct {
		Failed   bool
		Findings []struct{ Check, Status, Found string }
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep), r.stdout)
	require.True(t, rep.Failed)
	found := false
	for _, f := range rep.Findings {
		if f.Status == "fail" && strings.Contains(f.Found, d) {
			found = true
		}
	}
	require.True(t, found, "no failed finding names %s:\n%s", d, r.stdout)
}

func TestCheckDevJSON(t *testing.T) {
	t.Parallel()
	d := filepath.Join(t.TempDir(), "data")
	r := runAccessd(t, "check", "--dev", "--data-dir", d, "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var rep struct {
		Dev      bool
		Findings []map[string]string
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep), r.stdout)
	require.True(t, rep.Dev)
	require.NotEmpty(t, rep.Findings)
}

func TestUsageAndConfigErrors(t *testing.T) {
	t.Parallel()
	r := runAccessd(t, "frobnicate")
	require.Equal(t, exitUsage, r.code)
	cfgFile := filepath.Join(t.TempDir(), "accessd.toml")
	require.NoError(t, os.WriteFile(cfgFile, []byte("[tokens]\nsigning_alg = \"none\"\n"), 0o600))
	r = runAccessd(t, "check", "--config", cfgFile)
	require.Equal(t, exitConfig, r.code)
	require.Contains(t, r.stderr, cfgFile+":2")
	require.Contains(t, r.stderr, "tokens.signing_alg")

	// A missing config file is a config error too (78: systemd does not
	// restart into it), for every command that reads one.
	missing := filepath.Join(t.TempDir(), "nope.toml")
	for _, cmd := range []string{"check", "serve", "init"} {
		r = runAccessd(t, cmd, "--config", missing)
		require.Equal(t, exitConfig, r.code, "%s: %s", cmd, r.stderr)
		require.Contains(t, r.stderr, missing)
	}
	// --listen out of range stops serve at validation.
	require.NoError(t, os.WriteFile(cfgFile, []byte("[seal]\ndevice = \"tcp://127.0.0.1:9\"\n"), 0o600))
	r = runAccessd(t, "serve", "--config", cfgFile, "--listen", "127.0.0.1:70000")
	require.Equal(t, exitConfig, r.code, r.stderr)
	require.Contains(t, r.stderr, "0..65535")
}

func TestConcurrentInitsLeaveOneGoodStore(t *testing.T) {
	t.Parallel()
	d := filepath.Join(t.TempDir(), "data")
	results := make(chan result, 2)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { results <- runAccessd(t, "init", "--dev", "--data-dir", d) })
	}
	wg.Wait()
	close(results)
	ok := 0
	for r := range results {
		if r.code == 0 {
			ok++
			continue
		}
		require.Regexp(t, "already initialised|in use by another accessd", r.stderr)
	}
	require.Equal(t, 1, ok, "exactly one init wins")
	// The winner's store is whole: serve unseals and opens it.
	startServe(t, 60*time.Second, "--dev", "--data-dir", d, "--listen", freeAddr(t)).stop(t)
}

func TestServeRefusesMissingStore(t *testing.T) {
	t.Parallel()
	d := filepath.Join(t.TempDir(), "data")
	r := runAccessd(t, "init", "--dev", "--data-dir", d)
	require.Equal(t, 0, r.code, r.stderr)
	require.NoError(t, os.Rename(filepath.Join(d, "db"), filepath.Join(d, "db.moved")))
	r = runAccessd(t, "serve", "--dev", "--data-dir", d, "--listen", "127.0.0.1:0")
	require.Equal(t, exitNotInit, r.code)
	require.Contains(t, r.stderr, "no store at "+filepath.Join(d, "db"))
	_, err := os.Stat(filepath.Join(d, "db"))
	require.ErrorIs(t, err, os.ErrNotExist, "serve must not create an empty store")
}

func TestRecoverRefusesAnotherInstallsRecoveryFile(t *testing.T) {
	t.Parallel()
	a := filepath.Join(t.TempDir(), "a")
	b := filepath.Join(t.TempDir(), "b")
	ra := runAccessd(t, "init", "--dev", "--data-dir", a)
	require.Equal(t, 0, ra.code, ra.stderr)
	rb := runAccessd(t, "init", "--dev", "--data-dir", b)
	require.Equal(t, 0, rb.code, rb.stderr)
	recoveryB, _ := secretsIn(t, rb.stdout)

	// b's recovery file and key, dropped into a: the key opens the file but
	// not a's store, so a's root.sealed must stay as it was.
	sealedA, err := os.ReadFile(filepath.Join(a, "seal", "root.sealed"))
	require.NoError(t, err)
	recB, err := os.ReadFile(filepath.Join(b, "seal", "root.recovery"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(a, "seal", "root.recovery"), recB, 0o600))
	keyFile := filepath.Join(t.TempDir(), "rk")
	require.NoError(t, os.WriteFile(keyFile, []byte(recoveryB), 0o600))
	r := runAccessd(t, "recover", "--dev", "--data-dir", a, "--recovery-key-file", keyFile)
	require.NotEqual(t, 0, r.code)
	require.Contains(t, r.stderr, "not the store")
	after, err := os.ReadFile(filepath.Join(a, "seal", "root.sealed"))
	require.NoError(t, err)
	require.Equal(t, sealedA, after)
}

func TestResealChangesPCRBinding(t *testing.T) {
	t.Parallel()
	d := filepath.Join(t.TempDir(), "data")
	r := runAccessd(t, "init", "--dev", "--data-dir", d)
	require.Equal(t, 0, r.code, r.stderr)
	info, err := seal.ReadSealedInfo(filepath.Join(d, "seal", "root.sealed"))
	require.NoError(t, err)
	require.Empty(t, info.PCRs)
	r = runAccessd(t, "reseal", "--dev", "--data-dir", d, "--pcrs", "24")
	require.Equal(t, exitConfig, r.code, r.stderr)
	require.Contains(t, r.stderr, "seal.pcrs")
	r = runAccessd(t, "reseal", "--dev", "--data-dir", d, "--pcrs", "7,0,7")
	require.Equal(t, 0, r.code, r.stderr)
	info, err = seal.ReadSealedInfo(filepath.Join(d, "seal", "root.sealed"))
	require.NoError(t, err)
	require.Len(t, info.PCRs, 2)
	require.Equal(t, 0, info.PCRs[0].Index)
	require.Equal(t, 7, info.PCRs[1].Index)
	// Still unseals on the same (unchanged) simulator.
	r = runAccessd(t, "reseal", "--dev", "--data-dir", d, "--pcrs", "none")
	require.Equal(t, 0, r.code, r.stderr)
}

// writeCert replaces the server certificate and key with a new self-signed
// pair for 127.0.0.1, as an operator renewing it would.
func writeCert(t *testing.T, certFile, keyFile string) (*x509.CertPool, *big.Int) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	serial := big.NewInt(time.Now().UnixNano())
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "renewed"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600))
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool, serial
}

// tlsGet fetches url trusting only pool and returns the body.
func tlsGet(pool *x509.CertPool, url string) (string, error) {
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// swtpmHost is a machine for the ceremonies' e2e tests: a swtpm of its
// own and a production config for a data dir (not made yet) on it.
type swtpmHost struct {
	cfg, sock string
	dir       string // holds the config and the data dir
	data      string // the data dir
	stopTPM   func() // the machine and its TPM are gone
}

// newSwtpmHost starts a swtpm and writes the config of a data dir on it.
func newSwtpmHost(t *testing.T) swtpmHost {
	t.Helper()
	port := freePort(t)
	stop := sealtest.StartSwtpm(t, t.TempDir(), port).Stop
	dir := t.TempDir()
	cfg, sock := swtpmConfig(t, dir, port)
	return swtpmHost{cfg: cfg, sock: sock, dir: dir, data: filepath.Join(dir, "data"), stopTPM: stop}
}

// initSwtpmHost is newSwtpmHost with accessd init run on it: the host,
// the recovery key init printed, and a 0600 file holding that key.
func initSwtpmHost(t *testing.T) (h swtpmHost, recovery, keyFile string) {
	t.Helper()
	h = newSwtpmHost(t)
	r := runAccessd(t, "init", "--config", h.cfg)
	require.Equal(t, 0, r.code, r.stderr)
	recovery, _ = secretsIn(t, r.stdout)
	keyFile = filepath.Join(t.TempDir(), "recovery.key")
	require.NoError(t, os.WriteFile(keyFile, []byte(recovery+"\n"), 0o600))
	return h, recovery, keyFile
}

// gated skips t unless the environment variable env is "1": for the
// measurements that take minutes, which scripts/bench runs.
func gated(t *testing.T, env, what string) {
	t.Helper()
	if os.Getenv(env) != "1" {
		t.Skip("set " + env + "=1 to " + what)
	}
}

// envInt is the integer the environment variable name holds, or def when
// it is unset.
func envInt(t *testing.T, name string, def int) int {
	return envParse(t, name, def, strconv.Atoi)
}

// envDuration is the duration the environment variable name holds, or
// def when it is unset.
func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	return envParse(t, name, def, time.ParseDuration)
}

// envParse is the environment variable name parsed, or def when it is
// unset; a value that does not parse fails the test.
func envParse[T any](t *testing.T, name string, def T, parse func(string) (T, error)) T {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	x, err := parse(v)
	require.NoError(t, err, name)
	return x
}

// prodConf is the production config (no --dev) of the data dir
// DIR/data on swtpm, with a certificate of its own for a free loopback
// address and the admin socket in a directory others may traverse.
type prodConf struct {
	dir, file, sock, addr, crt, key string
	port                            int // swtpm's
	pool                            *x509.CertPool
}

// newProdConf writes the certificate and the config with the default
// PCRs ([7]) under dir.
func newProdConf(t *testing.T, dir string, port int) *prodConf {
	t.Helper()
	c := &prodConf{dir: dir, file: filepath.Join(dir, "accessd.toml"), port: port, addr: freeAddr(t),
		sock: filepath.Join(daemontest.OpenDir(t), "admin.sock"),
		crt:  filepath.Join(dir, "server.crt"), key: filepath.Join(dir, "server.key")}
	c.pool, _ = writeCert(t, c.crt, c.key)
	c.write(t, "")
	return c
}

// write (re)writes the config file with [seal] pcrs = pcrs ("" leaves
// the key out: the default).
func (c *prodConf) write(t *testing.T, pcrs string) {
	t.Helper()
	if pcrs != "" {
		pcrs = "pcrs = " + pcrs + "\n"
	}
	require.NoError(t, os.WriteFile(c.file, []byte(fmt.Sprintf(`data_dir = %q
issuer = "https://%s"
[seal]
device = "tcp://127.0.0.1:%d"
%s[listen]
tls = %q
admin_socket = %q
[tls]
cert = %q
key = %q
[lockdown]
mode = "warn"   # the tests run as root under /tmp; every finding is still logged
`, filepath.Join(c.dir, "data"), c.addr, c.port, pcrs, c.addr, c.sock, c.crt, c.key)), 0o600))
}

// swtpmConfig writes a production config for a data dir on swtpm at
// port and returns its path and admin socket.
func swtpmConfig(t *testing.T, dir string, port int) (cfgFile, sock string) {
	t.Helper()
	c := newProdConf(t, dir, port)
	return c.file, c.sock
}

// ctlRun runs accessctl against sock and returns stdout; it fails the
// test on a non-zero exit.
func ctlRun(t *testing.T, bin, sock string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--socket", sock}, args...)...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	require.NoError(t, cmd.Run(), "accessctl %v: %s", args, errb.String())
	return out.String()
}

type listed struct {
	Users []string
	Apps  []string
}

func contents(t *testing.T, ctl, sock string) listed {
	t.Helper()
	var us []struct{ Username, Email string }
	require.NoError(t, json.Unmarshal([]byte(ctlRun(t, ctl, sock, "-o", "json", "user", "list")), &us))
	var apps []struct{ Name, ClientID string }
	require.NoError(t, json.Unmarshal([]byte(ctlRun(t, ctl, sock, "-o", "json", "app", "list")), &apps))
	var l listed
	for _, u := range us {
		l.Users = append(l.Users, u.Username+" "+u.Email)
	}
	for _, a := range apps {
		l.Apps = append(l.Apps, a.Name+" "+a.ClientID)
	}
	return l
}
