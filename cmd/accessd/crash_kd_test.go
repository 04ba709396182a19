package main

// Crash rows of the key ceremonies init, keys rotate-fields and keys
// rotate, on swtpm: each is killed with SIGKILL at its durable steps (init,
// through ACCESSD_TEST_CRASH_AT) or at sampled moments (the rotations,
// which run inside the daemon), and the documented next step is taken.
// Also the disk guard of rotate-fields on a small tmpfs.

import (
	"encoding/base32"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
)

// kdKilledAt runs `accessd args…` with ACCESSD_TEST_CRASH_AT=step and
// requires that it died of SIGKILL there.
func kdKilledAt(t *testing.T, step string, args ...string) result {
	t.Helper()
	cmd := accessd(args...)
	cmd.Env = append(cmd.Env, "ACCESSD_TEST_CRASH_AT="+step)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "accessd %v was not killed at %s:\n%s", args, step, errb.String())
	ws, ok := ee.Sys().(syscall.WaitStatus)
	require.True(t, ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL, "accessd %v: %v, want SIGKILL at %s:\n%s", args, err, step, errb.String())
	return result{out.String(), errb.String(), -1}
}

// kdSecretForms are the spellings of a printed recovery key and password
// that must never stand in a file: as printed, without dashes, lower
// case, and the key's raw bytes.
func kdSecretForms(t *testing.T, recovery, password string) [][]byte {
	t.Helper()
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(recovery, "-", ""))
	require.NoError(t, err)
	return [][]byte{[]byte(recovery), []byte(strings.ReplaceAll(recovery, "-", "")), []byte(strings.ToLower(recovery)), raw[:32], []byte(password)}
}

var kdIssuerRE = regexp.MustCompile(`issuer = "https://([^"]+)"`)

// kdPlanes reaches the daemon of a config written by swtpmConfig.
func kdPlanes(t *testing.T, cfgFile, sock string) *planes {
	t.Helper()
	b, err := os.ReadFile(cfgFile)
	require.NoError(t, err)
	m := kdIssuerRE.FindSubmatch(b)
	require.NotNil(t, m, "no issuer in %s", cfgFile)
	return newPlanes(t, sock, filepath.Join(filepath.Dir(cfgFile), "server.crt"), string(m[1]))
}

// TestCrashInitSwtpm kills `accessd init` on swtpm after each durable step
// (the sealed key, the recovery file, the store, the seeded admin, the
// rollback binding, the printed secrets). After each: serve refuses the
// data dir with exit 4 naming `accessd init` (never starts on it), init
// run again starts it over and succeeds, the service then starts with an
// audit chain that verifies, the recovery key it printed opens
// root.recovery, and no secret stands in clear in the data dir.
func TestCrashInitSwtpm(t *testing.T) {
	t.Parallel()
	for _, step := range []string{"init.sealed", "init.recovery", "init.store", "init.seeded", "init.bound", "init.shown"} {
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			h := newSwtpmHost(t)
			cfgFile, sock, d := h.cfg, h.sock, h.data

			k := kdKilledAt(t, step, "init", "--config", cfgFile)
			var before [][]byte // secrets the killed init showed
			if step == "init.shown" {
				rk, pw := secretsIn(t, k.stdout)
				before = kdSecretForms(t, rk, pw)
				require.NotContains(t, k.stderr, rk)
				require.NotContains(t, k.stderr, pw)
			} else {
				require.NotRegexp(t, recoveryRE, k.stdout, "init showed a recovery key before it was complete")
			}

			r := serveRefused(t, "--config", cfgFile)
			require.Equal(t, exitNotInit, r.code, "serve on the data dir of an init killed at %s:\n%s", step, r.stderr)
			require.Contains(t, r.stderr, "did not finish")
			require.Contains(t, r.stderr, "run `accessd init` again")
			_, err := os.Stat(filepath.Join(d, "init.pending"))
			require.NoError(t, err, "the marker of the unfinished init is gone after serve")

			r = runAccessd(t, "init", "--config", cfgFile)
			require.Equal(t, 0, r.code, "init after a kill at %s:\n%s", step, r.stderr)
			require.Contains(t, r.stderr, "daemon.init_restarted")
			recovery, password := secretsIn(t, r.stdout)
			_, err = os.Stat(filepath.Join(d, "init.pending"))
			require.ErrorIs(t, err, os.ErrNotExist, "a finished init left its marker")
			again := runAccessd(t, "init", "--config", cfgFile)
			require.NotEqual(t, 0, again.code)
			require.Contains(t, again.stderr, "already initialised", "a finished init must not be started over")

			s := startServe(t, 60*time.Second, "--config", cfgFile)
			kdPlanes(t, cfgFile, sock).auditOK(t)
			s.stop(t)

			keyFile := filepath.Join(t.TempDir(), "recovery.key")
			require.NoError(t, os.WriteFile(keyFile, []byte(recovery+"\n"), 0o600))
			r = runAccessd(t, "recover", "--config", cfgFile, "--recovery-key-file", keyFile)
			require.Equal(t, 0, r.code, "the printed recovery key does not open root.recovery:\n%s", r.stderr)
			startServe(t, 60*time.Second, "--config", cfgFile).stop(t)

			requireNotStored(t, d, append(before, kdSecretForms(t, recovery, password)...)...)
		})
	}
}

// TestCrashInitDevServeStartsOver: `serve --dev`, which initialises a
// data dir that has none, starts over a data dir whose init was killed
// after seeding (it would otherwise serve a store whose recovery key and
// admin password nobody saw), and shows the new secrets.
func TestCrashInitDevServeStartsOver(t *testing.T) {
	t.Parallel()
	d := filepath.Join(t.TempDir(), "data")
	kdKilledAt(t, "init.seeded", "init", "--dev", "--data-dir", d)
	s := startServe(t, 60*time.Second, "--dev", "--data-dir", d, "--listen", freeAddr(t))
	s.stop(t)
	require.Contains(t, s.stderr.String(), "daemon.init_restarted")
	recovery, password := secretsIn(t, s.stdout.String())
	_, err := os.Stat(filepath.Join(d, "init.pending"))
	require.ErrorIs(t, err, os.ErrNotExist)
	requireNotStored(t, d, kdSecretForms(t, recovery, password)...)
}

// kdRotationDaemon is a production daemon on swtpm with users whose TOTP
// seeds are sealed fields, an application, and a token issued from it.
type kdRotationDaemon struct {
	cfgFile, sock string
	p             *planes
	app           api.CreatedApplication
	seeds         map[string]string // user ID -> TOTP seed (base32)
	tokens        []string          // issued before some kill; must verify
}

func kdStartRotationDaemon(t *testing.T, users int) (*kdRotationDaemon, *served) {
	t.Helper()
	h := newSwtpmHost(t)
	k := &kdRotationDaemon{seeds: map[string]string{}, cfgFile: h.cfg, sock: h.sock}
	r := runAccessd(t, "init", "--config", k.cfgFile)
	require.Equal(t, 0, r.code, r.stderr)
	s := startServe(t, 60*time.Second, "--config", k.cfgFile)
	k.p = kdPlanes(t, k.cfgFile, k.sock)
	code, body, err := k.p.call("POST", "/v1/applications", api.CreateApplicationRequest{Name: "crash-app"}, &k.app)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, code, body)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < users; i += 4 {
				var u api.CreatedUser
				name := fmt.Sprintf("seeded-%d", i)
				code, body, err := k.p.call("POST", "/v1/users", api.CreateUserRequest{Username: name, Email: name + "@example.test"}, &u)
				if !assert.NoError(t, err, "create %s", name) || !assert.Equal(t, http.StatusCreated, code, "create %s: %s", name, body) {
					return
				}
				var setup api.MFASetup
				code, body, err = k.p.call("POST", "/v1/users/"+u.ID+"/mfa/setup", api.MFASetupRequest{MFAType: "app"}, &setup)
				if !assert.NoError(t, err, "MFA setup of %s", name) || !assert.Equal(t, http.StatusOK, code, "MFA setup of %s: %s", name, body) {
					return
				}
				mu.Lock()
				k.seeds[u.ID] = setup.Secret
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Len(t, k.seeds, users)
	return k, s
}

// token issues a token and keeps it for later checks.
func (k *kdRotationDaemon) token(t *testing.T) {
	t.Helper()
	code, tok, err := k.p.token(k.app)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, tok)
	k.tokens = append(k.tokens, tok)
}

// checkAfterRestart holds the invariants after a restart: every
// acknowledged user is there, every kept token verifies, the audit chain
// verifies.
func (k *kdRotationDaemon) checkAfterRestart(t *testing.T, round int, acked []string) {
	t.Helper()
	for _, id := range acked {
		code, body, err := k.p.call("GET", "/v1/users/"+id, nil, nil)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, code, "round %d: acknowledged user %s lost: %s", round, id, body)
	}
	for i, tok := range k.tokens {
		code, err := k.p.permissions(tok)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, code, "round %d: token %d, issued before a kill, no longer verifies", round, i)
	}
	k.p.auditOK(t)
}

// checkSeeds proves every sealed TOTP seed opens: each user verifies a
// fresh code (once per user: a code's step cannot be used twice).
func (k *kdRotationDaemon) checkSeeds(t *testing.T) {
	t.Helper()
	for id, seed := range k.seeds {
		var v api.MFAVerified
		code, body, err := k.p.call("POST", "/v1/users/"+id+"/mfa/verify", api.MFAVerifyRequest{MFAType: "app", Passcode: oathTOTP(t, seed, time.Now())}, &v)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, code, "user %s: TOTP seed does not open after the rotations: %s", id, body)
		require.True(t, v.Verified, body)
	}
}

// kdKillRounds runs rounds of: start op against the running daemon and
// a writer creating users, SIGKILL the daemon at a random moment within
// window of the start, restart, check. It returns the last daemon, the
// acknowledged users and how many ops were acknowledged before the kill.
func kdKillRounds(t *testing.T, k *kdRotationDaemon, s *served, rounds int, window time.Duration,
	op func() (acked bool), after func(round int, opAcked bool)) (*served, []string) {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0x6b64))
	var (
		mu    sync.Mutex
		acked []string
	)
	for round := range rounds {
		k.token(t)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var u api.CreatedUser
				name := fmt.Sprintf("crash-%d-%d", round, i)
				code, _, err := k.p.call("POST", "/v1/users", api.CreateUserRequest{Username: name, Email: name + "@example.test"}, &u)
				if err != nil || code != http.StatusCreated {
					return // the kill
				}
				mu.Lock()
				acked = append(acked, u.ID)
				mu.Unlock()
			}
		})
		opDone := make(chan bool, 1)
		go func() { opDone <- op() }()
		time.Sleep(time.Duration(rng.Int64N(int64(window))))
		require.NoError(t, s.cmd.Process.Signal(syscall.SIGKILL))
		_ = s.cmd.Wait()
		close(stop)
		wg.Wait()
		opAcked := <-opDone

		s = startServe(t, 60*time.Second, "--config", k.cfgFile)
		require.NotContains(t, s.stderr.String(), "store.vlog_repaired", "round %d: the store needed a repair", round)
		mu.Lock()
		k.checkAfterRestart(t, round, acked)
		mu.Unlock()
		after(round, opAcked)
	}
	return s, acked
}

// TestCrashRotateFieldsSwtpm SIGKILLs the daemon at sampled moments of
// `keys rotate-fields` while users are being created. After each restart
// a rotate-fields completes (resuming the interrupted term when the kill
// fell inside it, re-sealing every field, so every one opened), every
// acknowledged user is there, tokens issued before the kills verify, and
// the audit chain verifies; at the end every user's sealed TOTP seed
// opens and verifies a code.
func TestCrashRotateFieldsSwtpm(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("restarts the daemon a dozen times")
	}
	k, s := kdStartRotationDaemon(t, 160) // two batches of 128: kills fall between them
	rotate := func(out *api.FieldRotation) (int, string, error) {
		return k.p.call("POST", "/v1/keys/rotate-fields", nil, out)
	}
	var r api.FieldRotation
	code, body, err := rotate(&r)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, body)
	term := r.Term
	resumed, ackedOps := 0, 0
	s, _ = kdKillRounds(t, k, s, 12, 250*time.Millisecond, func() bool {
		var r api.FieldRotation
		code, _, err := rotate(&r)
		return err == nil && code == http.StatusOK
	}, func(round int, opAcked bool) {
		var r api.FieldRotation
		code, body, err := rotate(&r)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, code, "round %d: rotate-fields after the restart: %s", round, body)
		require.Greater(t, r.Term, term, "round %d: the term went back", round)
		if opAcked {
			ackedOps++
			require.Greater(t, r.Term, term+1, "round %d: an acknowledged rotation is not in the store", round)
		}
		require.Equal(t, r.Term-1, r.Retired, "round %d: older terms not retired", round)
		if r.Resumed {
			// The killed rotation's term was finished; a fresh one
			// re-seals every field, so every one must open.
			resumed++
			term = r.Term
			code, body, err := rotate(&r)
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, code, "round %d: rotate-fields after the resumed one: %s", round, body)
			require.False(t, r.Resumed, "round %d: %+v", round, r)
			require.Equal(t, term+1, r.Term, "round %d: %+v", round, r)
		}
		require.GreaterOrEqual(t, r.Resealed, len(k.seeds), "round %d: a field was not re-sealed: %+v", round, r)
		term = r.Term
	})
	k.checkSeeds(t)
	out := ctlRun(t, buildAccessctl(t), k.sock, "audit", "list", "--type", "keys.rotate_fields")
	require.Contains(t, out, "keys.rotate_fields")
	s.stop(t)
	t.Logf("REPORT 12 kills during rotate-fields: %d rotations acknowledged before the kill, %d resumed after it", ackedOps, resumed)
}

// TestCrashKeysRotateSwtpm SIGKILLs the daemon at sampled moments of
// `keys rotate` (signing keys) while users are being created. After each
// restart exactly one key signs, an acknowledged rotation is kept (the
// active key changed), tokens issued before the kills verify, a new token
// verifies, every acknowledged user is there and the audit chain
// verifies.
func TestCrashKeysRotateSwtpm(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("restarts the daemon a dozen times")
	}
	k, s := kdStartRotationDaemon(t, 1)
	activeKey := func() string {
		var keys []api.SigningKey
		code, body, err := k.p.call("GET", "/v1/keys", nil, &keys)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, code, body)
		active := ""
		for _, key := range keys {
			if key.State == "active" {
				require.Empty(t, active, "two active signing keys: %s", body)
				active = key.KID
			}
		}
		require.NotEmpty(t, active, "no active signing key: %s", body)
		return active
	}
	var mu sync.Mutex
	var ackedKID string // the active key an acknowledged rotation answered
	before := activeKey()
	ackedOps := 0
	s, _ = kdKillRounds(t, k, s, 12, 150*time.Millisecond, func() bool {
		var keys []api.SigningKey
		code, _, err := k.p.call("POST", "/v1/keys/rotate", nil, &keys)
		if err != nil || code != http.StatusOK {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		for _, key := range keys {
			if key.State == "active" {
				ackedKID = key.KID
			}
		}
		return true
	}, func(round int, opAcked bool) {
		now := activeKey()
		mu.Lock()
		defer mu.Unlock()
		if opAcked {
			ackedOps++
			require.NotEqual(t, before, now, "round %d: an acknowledged rotation is not in the store", round)
			require.Equal(t, ackedKID, now, "round %d: the key the rotation answered does not sign", round)
		}
		k.token(t)
		code, err := k.p.permissions(k.tokens[len(k.tokens)-1])
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, code, "round %d: a token issued after the restart does not verify", round)
		before = now
	})
	k.checkSeeds(t)
	s.stop(t)
	t.Logf("REPORT 12 kills during keys rotate: %d rotations acknowledged before the kill", ackedOps)
}

// TestDiskFullRotateFields: `keys rotate-fields` asked just after the
// disk went below [store] min_free is refused (503, naming min_free and
// that the rotation resumes), as every other write is, even before the
// free-space watcher's next reading; with the space back it completes,
// every sealed field opens, and tokens and the audit chain are whole.
func TestDiskFullRotateFields(t *testing.T) {
	t.Parallel()
	mnt := mountTmpfs(t, 64<<20)
	d := filepath.Join(mnt, "data")
	args, sock, addr := devConfig(t, d, "[store]\nmin_free = \"16MiB\"\n")
	s := startServe(t, 90*time.Second, args...)
	p := newPlanes(t, sock, filepath.Join(d, "tls", "server.crt"), addr)
	k := &kdRotationDaemon{p: p, seeds: map[string]string{}}
	code, body, err := p.call("POST", "/v1/applications", api.CreateApplicationRequest{Name: "disk-app"}, &k.app)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, code, body)
	var u api.CreatedUser
	code, body, err = p.call("POST", "/v1/users", api.CreateUserRequest{Username: "disk-totp", Email: "disk-totp@example.test"}, &u)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, code, body)
	var setup api.MFASetup
	code, body, err = p.call("POST", "/v1/users/"+u.ID+"/mfa/setup", api.MFASetupRequest{MFAType: "app"}, &setup)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, body)
	k.seeds[u.ID] = setup.Secret
	k.token(t)

	ballast := filepath.Join(mnt, "ballast")
	for trial := range 3 {
		// Right after the fill: the watcher last read the space up to a
		// second ago, when it was plentiful.
		fillTo(t, ballast, 10<<20)
		var r api.FieldRotation
		code, body, err := p.call("POST", "/v1/keys/rotate-fields", nil, &r)
		require.NoError(t, err)
		require.Equal(t, http.StatusServiceUnavailable, code, "trial %d: rotate-fields with 10 MiB free under min_free 16MiB: %s", trial, body)
		require.Contains(t, body, "disk nearly full")
		require.Contains(t, body, "min_free is 16.0MiB")
		require.NoError(t, os.Remove(ballast))
		time.Sleep(2 * diskEveryForTest)
	}
	var r api.FieldRotation
	code, body, err = p.call("POST", "/v1/keys/rotate-fields", nil, &r)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, "rotate-fields with the space back: %s", body)
	require.Equal(t, uint32(2), r.Term, "a refused rotation started a term: %+v", r)
	require.GreaterOrEqual(t, r.Resealed, 1)
	k.checkAfterRestart(t, 0, []string{u.ID})
	k.checkSeeds(t)
	s.stop(t)
}

// diskEveryForTest is daemon's diskEvery: the watcher's cadence.
const diskEveryForTest = time.Second
