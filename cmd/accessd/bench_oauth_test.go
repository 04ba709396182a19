package main

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/argon2"

	"github.com/accessd/accessd/oauth/api"
)

// TestBenchOAuth is issue 7 §4: the OAuth endpoints of a real `accessd
// serve --dev` under wrk, each set against a ceiling — what the same
// machine does with the least code that could answer the same request:
//
//   - POST /oauth/token (client_credentials, ES256 and RS256) against a
//     bare net/http + crypto/tls server in this process that parses the
//     form, checks Basic auth and signs the same claims with go-jose;
//   - POST /v1/authorize and POST /oauth/introspect against the ES256
//     ceiling (verifying should cost less than signing);
//   - the password grant against argon2id at the configured cost, hashed
//     on every core of this machine.
//
// Every accessd row first checks one answer (a token that verifies against
// the JWKS, "authorized":true, "active":true), so a broken endpoint is
// reported as broken, not measured. It fails on setup errors and wrong
// answers only; missed targets are printed, not asserted (the machine may
// be shared, and wrk shares its CPUs). Gated, and run by scripts/bench:
//
//	ACCESSD_BENCH=1 go test -count=1 -run 'TestBenchOAuth$' -v -timeout 60m ./cmd/accessd/
//
// ACCESSD_BENCH_DURATION (e.g. 5s) shortens every wrk run, for trying the
// harness; the figures of record use the defaults (20s, 30s for passwords).
func TestBenchOAuth(t *testing.T) {
	gated(t, "ACCESSD_BENCH", "load the OAuth endpoints with wrk (scripts/bench does)")
	_, err := exec.LookPath("wrk")
	require.NoError(t, err, "wrk is not installed (scripts/bench installs it: apt-get install wrk)")
	short, long := 20*time.Second, 30*time.Second
	if os.Getenv("ACCESSD_BENCH_DURATION") != "" {
		d := envDuration(t, "ACCESSD_BENCH_DURATION", 0)
		short, long = d, d
	}
	only := os.Getenv("ACCESSD_BENCH_ONLY")
	require.Contains(t, []string{"", "tokens", "password"}, only, "ACCESSD_BENCH_ONLY is tokens, password or empty (all)")
	b := &oauthBench{t: t, scripts: t.TempDir()}

	// 1. A dev data dir, three configs, and the principals.
	d := filepath.Join(t.TempDir(), "data")
	r := runAccessd(t, "init", "--dev", "--data-dir", d)
	require.Equal(t, 0, r.code, r.stderr)
	cfgDir := t.TempDir()
	config := func(name, body string) string {
		p := filepath.Join(cfgDir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
		return p
	}
	cfgES := config("es256.toml", "[tokens]\nsigning_alg = \"ES256\"\n")
	cfgRS := config("rs256.toml", "[tokens]\nsigning_alg = \"RS256\"\n")
	// The password limits are new keys; a daemon that does not know them
	// refuses the whole file (exit 78), which check reports without a
	// start. 500 connections from one address also need the per-address
	// connection cap raised, where the daemon has one.
	checkConfig := func(p string) string {
		if r := runAccessd(t, "check", "--dev", "--data-dir", d, "--config", p); r.code == exitConfig {
			return firstLine(r.stderr)
		}
		return ""
	}
	passwordTokens := "[tokens]\nsigning_alg = \"ES256\"\n" +
		"password_per_minute_per_address = 1000000\npassword_per_minute_per_user = 1000000\n"
	cfgPassword := config("password.toml", passwordTokens+"[listen]\nmax_conns_per_address = 1024\n")
	passwordRefused := checkConfig(cfgPassword)
	if strings.Contains(passwordRefused, "max_conns_per_address") {
		cfgPassword = config("password.toml", passwordTokens)
		passwordRefused = checkConfig(cfgPassword)
	}

	sock := filepath.Join(d, "admin.sock")
	addr := freeAddr(t)
	base := "https://" + addr
	daemon := startServe(t, 90*time.Second, "--dev", "--data-dir", d, "--config", cfgES, "--listen", addr)
	client := benchClient(t, filepath.Join(d, "tls", "server.crt"))
	ctl := buildAccessctl(t)
	ctlRun(t, ctl, sock, "-o", "json", "group", "create", "bench")
	ctlRun(t, ctl, sock, "-o", "json", "group", "grant", "bench", "--resource", "accounts", "--action", "get", "--product", "midaz")
	var app api.CreatedApplication
	out := ctlRun(t, ctl, sock, "-o", "json", "app", "create", "--name", "bench", "--group", "bench")
	require.NoError(t, json.Unmarshal([]byte(out), &app), out)
	require.NotEmpty(t, app.ClientID, out)
	require.NotEmpty(t, app.ClientSecret, out)
	password := "wrk-load-" + randomHex(t, 8)
	createBenchUsers(t, ctl, sock, benchUsers, password)
	t.Logf("created group bench, app %s and %d users", app.ClientID, benchUsers)

	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(app.ClientID)+":"+url.QueryEscape(app.ClientSecret)))
	tokenLoad := func(u string) benchLoad {
		return benchLoad{url: u + "/oauth/token", body: "grant_type=client_credentials",
			headers: [][2]string{{"Content-Type", "application/x-www-form-urlencoded"}, {"Authorization", basic}}}
	}

	var rows []*benchRow
	rssOf := func(s *served) (int64, int64) {
		pid := s.cmd.Process.Pid
		return procStatus(t, pid, "VmRSS"), procStatus(t, pid, "VmHWM")
	}
	if only == "password" {
		daemon.stop(t)
	} else {
		// 2. Each ceiling is loaded while the daemon sits idle, just before
		// and again just after the accessd rows it is the measure of, and
		// counts as the mean of the two: on a shared machine the load of the
		// neighbours changes within minutes, and the two figures show by how
		// much.
		ceilingRow := func(alg string) (*benchRow, func(), *ceiling) {
			c := startCeiling(t, alg, app.ClientID, app.ClientSecret)
			row := &benchRow{name: "ceiling " + alg + " token (go-jose, net/http)", noRSS: true}
			rows = append(rows, row)
			l := tokenLoad(c.url)
			_, err := checkToken(c.client, l, c.url, alg)
			require.NoError(t, err, "the %s ceiling answers wrongly", alg)
			run := func() {
				row.fill(b.wrk(l, 64, short))
				// Every answer of the ceiling is a 200 unless the harness
				// sends something other than what was checked.
				require.Zero(t, row.non2xx, "the %s ceiling answered wrk with errors: the load script is wrong", alg)
			}
			run()
			return row, run, c
		}
		ceilESRow, ceilESAgain, ceilES := ceilingRow("ES256")

		// 3. accessd, ES256: token, then authorize and introspect with a
		// token of it.
		// /v1/authorize and introspection twice each. Saturated, as the
		// token rows (64 connections, each sending its next request as soon
		// as the answer is in): the rate is the most the daemon answers, and
		// p99 is then mostly the queue of 64 clients and the kernel sharing
		// two CPUs between wrk and the daemon, which is why the floor row
		// (the least any server can do per request) is measured the same
		// way. Then paced at the ceiling's rate: each connection waits a
		// fixed pause (wrk's delay()) after every answer, chosen so that 64
		// of them offer about 1.2× the ceiling's rate; the target is that
		// rate at p99 ≤ 10 ms (issue 7 §4).
		tokenRow := &benchRow{name: "accessd ES256 POST /oauth/token", ceiling: ceilESRow, minRatio: 0.6} // issue 7 §4, zero errors
		floorRow := &benchRow{name: "floor: bare TLS endpoint answering fixed JSON (net/http), saturated", noRSS: true}
		authzRow := &benchRow{name: "accessd POST /v1/authorize, saturated", ceiling: ceilESRow, minRatio: 1.0}
		introRow := &benchRow{name: "accessd POST /oauth/introspect, saturated", ceiling: ceilESRow, minRatio: 1.0} // "introspection the same" as authorize
		pause := pacedPause(ceilESRow.rate, 64)
		paced := fmt.Sprintf(", paced (64 conns, %d ms pause)", pause)
		authzPaced := &benchRow{name: "accessd POST /v1/authorize" + paced, ceiling: ceilESRow, minRatio: 1.0, maxP99: 10 * time.Millisecond}
		introPaced := &benchRow{name: "accessd POST /oauth/introspect" + paced, ceiling: ceilESRow, minRatio: 1.0, maxP99: 10 * time.Millisecond}
		rows = append(rows, tokenRow, floorRow, authzRow, authzPaced, introRow, introPaced)
		l := tokenLoad(base)
		tok, err := checkToken(client, l, base, "ES256")
		b.measure(tokenRow, err, func() { tokenRow.fill(b.wrk(l, 64, short)) })
		tokenRow.rss, tokenRow.hwm = rssOf(daemon)
		if err != nil {
			for _, r := range []*benchRow{floorRow, authzRow, authzPaced, introRow, introPaced} {
				r.skip("no token: the token row's sample failed")
			}
		} else {
			al := benchLoad{url: base + "/v1/authorize",
				body:    fmt.Sprintf(`{"sub":"lerian/%s","resource":"accounts","action":"get","product":"midaz"}`, app.ClientID),
				headers: [][2]string{{"Content-Type", "application/json"}, {"Authorization", tok}}}
			fl := al
			fl.url = ceilES.url + "/v1/authorize"
			b.measure(floorRow, checkJSON(ceilES.client, fl, "authorized", true), func() { floorRow.fill(b.wrk(fl, 64, short)) })
			b.measure(authzRow, checkJSON(client, al, "authorized", true), func() { authzRow.fill(b.wrk(al, 64, short)) })
			authzRow.rss, authzRow.hwm = rssOf(daemon)
			al.pauseMS = pause
			b.measure(authzPaced, nil, func() { authzPaced.fill(b.wrk(al, 64, short)) })
			authzPaced.rss, authzPaced.hwm = rssOf(daemon)
			il := benchLoad{url: base + "/oauth/introspect", body: "token=" + url.QueryEscape(tok),
				headers: [][2]string{{"Content-Type", "application/x-www-form-urlencoded"}, {"Authorization", basic}}}
			b.measure(introRow, checkJSON(client, il, "active", true), func() { introRow.fill(b.wrk(il, 64, short)) })
			introRow.rss, introRow.hwm = rssOf(daemon)
			il.pauseMS = pause
			b.measure(introPaced, nil, func() { introPaced.fill(b.wrk(il, 64, short)) })
			introPaced.rss, introPaced.hwm = rssOf(daemon)
		}
		ceilESAgain()
		daemon.stop(t)

		// accessd, RS256.
		daemon = startServe(t, 90*time.Second, "--dev", "--data-dir", d, "--config", cfgRS, "--listen", addr)
		ceilRSRow, ceilRSAgain, _ := ceilingRow("RS256")
		rsRow := &benchRow{name: "accessd RS256 POST /oauth/token", ceiling: ceilRSRow, minRatio: 0.75}
		rows = append(rows, rsRow)
		_, err = checkToken(client, l, base, "RS256")
		b.measure(rsRow, err, func() { rsRow.fill(b.wrk(l, 64, short)) })
		rsRow.rss, rsRow.hwm = rssOf(daemon)
		ceilRSAgain()
		daemon.stop(t)
	}

	if only == "tokens" {
		t.Log("ACCESSD_BENCH_ONLY=tokens: the password row is skipped")
	} else {
		// The password grant against what argon2id allows on this
		// machine, hashed with nothing else running. On this shared
		// machine the same 5-second hash run varies by ±10% from one
		// minute to the next, so the grant runs passwordRounds times (the
		// same daemon, the 500 connections for 30 s each), the
		// hashing is measured before the first round and after each, and
		// each round is set against the mean of the two hash runs around
		// it; the target is judged on the median round.
		hashRow := &benchRow{name: fmt.Sprintf("ceiling argon2id m=19MiB t=2 p=1, %d goroutines", runtime.GOMAXPROCS(0)),
			noRSS: true, noLatency: true}
		rows = append(rows, hashRow)
		hashRow.fill(argon2Run(5 * time.Second))
		var pwRows []*benchRow
		for i := range passwordRounds {
			around := &benchRow{name: "ceiling argon2id around round " + strconv.Itoa(i+1), noRSS: true, noLatency: true, hidden: true}
			pwRows = append(pwRows, &benchRow{name: fmt.Sprintf("accessd password grant (%d users, 500 conns), round %d", benchUsers, i+1),
				ceiling: around, minRatio: 0.8})
		}
		rows = append(rows, pwRows...)
		if passwordRefused != "" {
			t.Logf("the daemon refuses the raised password limits, so the password rows are skipped: %s", passwordRefused)
			for _, r := range pwRows {
				r.skip("config refused: " + passwordRefused)
			}
		} else {
			daemon = startServe(t, 90*time.Second, "--dev", "--data-dir", d, "--config", cfgPassword, "--listen", addr)
			pl := benchLoad{url: base + "/v1/login/oauth/access_token",
				body:    fmt.Sprintf(`{"grantType":"password","username":"bench000","password":%q}`, password),
				headers: [][2]string{{"Content-Type", "application/json"}}}
			_, _, err := checkTokenField(client, pl, base, "ES256", "accessToken")
			for i, pwRow := range pwRows {
				pwRow.ceiling.fill(hashRow.runs[i])
				b.measure(pwRow, err, func() {
					res := b.wrkScript(pl.url, passwordScript(benchUsers, password), 500, long, 60*time.Second)
					pwRow.fill(res)
					pwRow.rate = float64(res.status["ok"]) / res.seconds
					pwRow.limited = res.status["limited"]
					pwRow.errors = res.status["server"] + res.status["other"] + res.socketErrors
					t.Logf("password grant round %d statuses: 200 %d, 429 %d, 5xx %d, other %d (first of them: %q); socket errors %d (%s)",
						i+1, res.status["ok"], res.status["limited"], res.status["server"], res.status["other"], res.firstOther, res.socketErrors, res.socketDetail)
				})
				pwRow.rss, pwRow.hwm = rssOf(daemon)
				hashRow.fill(argon2Run(5 * time.Second))
				pwRow.ceiling.fill(hashRow.runs[i+1])
			}
			daemon.stop(t)
			if ratios := roundRatios(pwRows); len(ratios) == passwordRounds {
				med := ratios[len(ratios)/2]
				verdict := "met"
				if med < 0.8 {
					verdict = "MISSED"
				}
				t.Logf("RESULT password grant: median of %d rounds %.2f× of argon2id (rounds, sorted: %s), target ≥ 0.8×: %s",
					passwordRounds, med, fmtRatios(ratios), verdict)
			}
		}
	}

	// 4. One table.
	t.Logf("RESULT issue 7 §4 on %d CPUs, wrk -t2 -c64 -d%s --latency (password: -c500 -d%s), keep-alive, TLS; wrk shares the CPUs", runtime.NumCPU(), short, long)
	t.Logf("RESULT | row | rate/s | p50 | p99 | errors | ratio to ceiling | target | met | daemon RSS now / peak |")
	t.Logf("RESULT |---|---:|---:|---:|---:|---:|---|---|---:|")
	for _, row := range rows {
		if !row.hidden {
			t.Logf("RESULT %s", row)
		}
	}
	var loads []string
	for _, row := range rows {
		if row.load != "" {
			loads = append(loads, row.name+": "+row.load)
		}
	}
	t.Logf("RESULT 1-minute load average after each wrk run (the machine may be shared): %s", strings.Join(loads, "; "))
	var limited []string
	for _, row := range rows {
		if strings.HasPrefix(row.name, "accessd password grant") && row.measured {
			limited = append(limited, strconv.FormatInt(row.limited, 10))
		}
	}
	if len(limited) > 0 {
		t.Logf("RESULT password rows: rate counts 200s only; answers of 429 per round (rate limited: neither throughput nor errors): %s", strings.Join(limited, ", "))
	}
	t.Logf("RESULT saturated rows: 64 connections, each sending again as soon as it has its answer; p99 there is the queue of 64 clients on 2 shared CPUs (see the floor row), so the p99 target is set on the paced rows")
}

// benchUsers is how many users the password grant spreads over.
const benchUsers = 200

// passwordRounds is how many times the password grant is loaded.
const passwordRounds = 3

// roundRatios are the measured rounds' rates over their ceilings, sorted.
func roundRatios(rows []*benchRow) []float64 {
	var out []float64
	for _, r := range rows {
		if r.measured && r.ceiling != nil && r.ceiling.rate > 0 {
			out = append(out, r.rate/r.ceiling.rate)
		}
	}
	slices.Sort(out)
	return out
}

func fmtRatios(rs []float64) string {
	var s []string
	for _, r := range rs {
		s = append(s, fmt.Sprintf("%.2f×", r))
	}
	return strings.Join(s, ", ")
}

// benchLoad is one request, sent once by the sample check and then over
// and over by wrk, byte for byte the same.
type benchLoad struct {
	method  string // POST when empty
	url     string
	body    string
	headers [][2]string
	pauseMS int // wrk waits this long after each answer before the next request on that connection
}

// pacedPause is the pause after each answer that makes conns connections
// offer about 1.2× rate requests per second. wrk's delay() takes whole
// milliseconds and fires up to one late, and the answer itself takes
// about one: two come off.
func pacedPause(rate float64, conns int) int {
	if rate <= 0 {
		return 0
	}
	return max(int(float64(conns)*1000/(1.2*rate))-2, 0)
}

func (l benchLoad) request() (*http.Request, error) {
	req, err := http.NewRequest(l.verb(), l.url, strings.NewReader(l.body))
	if err != nil {
		return nil, err
	}
	for _, h := range l.headers {
		req.Header.Set(h[0], h[1])
	}
	return req, nil
}

func (l benchLoad) verb() string {
	if l.method == "" {
		return http.MethodPost
	}
	return l.method
}

// script is l as a wrk Lua script.
func (l benchLoad) script() string {
	var s strings.Builder
	fmt.Fprintf(&s, "wrk.method = %s\nwrk.body = %s\n", luaString(l.verb()), luaString(l.body))
	for _, h := range l.headers {
		fmt.Fprintf(&s, "wrk.headers[ %s ] = %s\n", luaString(h[0]), luaString(h[1]))
	}
	if l.pauseMS > 0 {
		fmt.Fprintf(&s, "function delay() return %d end\n", l.pauseMS)
	}
	return s.String()
}

// luaString quotes s as a Lua long string, which takes every byte as it is.
func luaString(s string) string {
	eq := "="
	for strings.Contains(s, "]"+eq+"]") {
		eq += "="
	}
	return "[" + eq + "[" + s + "]" + eq + "]"
}

// passwordScript sends password grants, each for the next user in turn
// (thread k of n takes users k, k+n, k+2n, …), and counts the answers by
// kind in every thread; done() adds them up and prints one STATUS line
// that parseWrk reads, and the first unexpected answer of each thread.
//
// In turn rather than at random: accessd counts an attempt in flight
// against the user's lockout (lockout_attempts, 5), so that parallel
// guesses cannot outrun it, and 500 connections over 200 users picked at
// random put five in flight on some users, whose next attempts are then
// refused. Taken in turn, each user has two or three in flight.
func passwordScript(users int, password string) string {
	return fmt.Sprintf(`local threads = {}
local password = %s -- JSON, quotes included
local users = %d
local nthreads = %d
local headers = { ["Content-Type"] = "application/json" }

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  ok, limited, server, other, first_other = 0, 0, 0, 0, ""
  n = id
end

function request()
  local body = string.format('{"grantType":"password","username":"bench%%03d","password":%%s}', n %% users, password)
  n = n + nthreads
  return wrk.format("POST", nil, headers, body)
end

function response(status, headers, body)
  if status == 200 then ok = ok + 1
  elseif status == 429 then limited = limited + 1
  elseif status >= 500 then server = server + 1
  else
    other = other + 1
    if first_other == "" then first_other = status .. " " .. string.sub(body, 1, 200) end
  end
end

function done(summary, latency, requests)
  local o, l, s, x = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    o = o + t:get("ok"); l = l + t:get("limited"); s = s + t:get("server"); x = x + t:get("other")
  end
  io.write(string.format("STATUS ok=%%d limited=%%d server=%%d other=%%d\n", o, l, s, x))
  for _, t in ipairs(threads) do
    if t:get("first_other") ~= "" then io.write("FIRST OTHER " .. t:get("first_other") .. "\n") end
  end
end
`, luaString(jsonString(password)), users, wrkThreads)
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// wrkThreads is wrk's -t: two, as the issue says.
const wrkThreads = 2

// oauthBench runs wrk.
type oauthBench struct {
	t       *testing.T
	scripts string
	n       int
}

func (b *oauthBench) wrk(l benchLoad, conns int, d time.Duration) wrkResult {
	return b.wrkScript(l.url, l.script(), conns, d, 10*time.Second)
}

// wrkScript runs wrk with script against url; timeout is how long wrk
// waits for one answer before counting a timeout (its default, 2s, would
// drop the queued password grants' latencies from the percentiles).
func (b *oauthBench) wrkScript(u, script string, conns int, d, timeout time.Duration) wrkResult {
	b.t.Helper()
	b.n++
	p := filepath.Join(b.scripts, fmt.Sprintf("load%d.lua", b.n))
	require.NoError(b.t, os.WriteFile(p, []byte(script), 0o600))
	secs := func(d time.Duration) string { return fmt.Sprintf("%ds", int(d.Round(time.Second).Seconds())) } // wrk reads no "1m0s"
	cmd := exec.Command("wrk", "-t"+strconv.Itoa(wrkThreads), "-c"+strconv.Itoa(conns), "-d"+secs(d), "--latency", "--timeout", secs(timeout), "-s", p, u)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(b.t, err, "wrk: %s%s", out, stderr.String())
	// wrk reports a script that does not load on stderr and then sends
	// plain GETs: that would measure the wrong request.
	require.Empty(b.t, strings.TrimSpace(stderr.String()), "wrk complained about %s:\n%s", p, script)
	res, err := parseWrk(string(out))
	require.NoError(b.t, err, "wrk printed:\n%s", out)
	res.load = loadAverage()
	b.t.Logf("wrk -c%d -d%s %s (load average after: %s):\n%s", conns, d, u, res.load, out)
	return res
}

// measure runs load unless the sample check failed, in which case the
// row says why and the test fails: a broken endpoint is not measured.
func (b *oauthBench) measure(row *benchRow, sample error, load func()) {
	b.t.Helper()
	if sample != nil {
		assert.Fail(b.t, row.name+": wrong sample answer, not measured", sample.Error())
		row.skip("sample answer wrong: " + sample.Error())
		return
	}
	load()
}

// wrkResult is what parseWrk reads from wrk's report.
type wrkResult struct {
	requests     int64
	seconds      float64
	p50, p99     time.Duration
	non2xx       int64 // wrk counts every status above 399
	socketErrors int64
	socketDetail string
	status       map[string]int64 // from a script's STATUS line
	load         string           // the machine's 1-minute load average at the end
	firstOther   []string         // a script's FIRST OTHER lines: an unexpected answer per thread
}

var (
	wrkTotalRE  = regexp.MustCompile(`(?m)^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h)`)
	wrkPctRE    = regexp.MustCompile(`(?m)^\s*(50|99)\.000%\s+([\d.]+)(us|ms|s|m|h)\s*$`)
	wrkPctRE2   = regexp.MustCompile(`(?m)^\s*(50|99)%\s+([\d.]+)(us|ms|s|m|h)\s*$`)
	wrkNon2xxRE = regexp.MustCompile(`(?m)^\s*Non-2xx or 3xx responses: (\d+)`)
	wrkSocketRE = regexp.MustCompile(`(?m)^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	wrkStatusRE = regexp.MustCompile(`(?m)^STATUS (.*)$`)
	wrkOtherRE  = regexp.MustCompile(`(?m)^FIRST OTHER (.*)$`)
)

func wrkDuration(v, unit string) (time.Duration, error) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, err
	}
	scale := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second, "m": time.Minute, "h": time.Hour}[unit]
	return time.Duration(f * float64(scale)), nil
}

// parseWrk reads wrk 4's report: "N requests in 20.00s", the --latency
// percentiles, and the error lines it prints only when there were any.
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	m := wrkTotalRE.FindStringSubmatch(out)
	if m == nil {
		return r, errors.New("no \"requests in\" line")
	}
	r.requests, _ = strconv.ParseInt(m[1], 10, 64)
	d, err := wrkDuration(m[2], m[3])
	if err != nil || d <= 0 {
		return r, fmt.Errorf("bad duration %q", m[2]+m[3])
	}
	r.seconds = d.Seconds()
	pcts := wrkPctRE2.FindAllStringSubmatch(out, -1)
	if len(pcts) == 0 {
		pcts = wrkPctRE.FindAllStringSubmatch(out, -1)
	}
	for _, p := range pcts {
		v, err := wrkDuration(p[2], p[3])
		if err != nil {
			return r, err
		}
		if p[1] == "50" {
			r.p50 = v
		} else {
			r.p99 = v
		}
	}
	if r.requests > 0 && (r.p50 == 0 || r.p99 == 0) {
		return r, errors.New("no 50% and 99% latency lines (was --latency given?)")
	}
	if m := wrkNon2xxRE.FindStringSubmatch(out); m != nil {
		r.non2xx, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := wrkSocketRE.FindStringSubmatch(out); m != nil {
		var n [4]int64
		for i := range n {
			n[i], _ = strconv.ParseInt(m[i+1], 10, 64)
			r.socketErrors += n[i]
		}
		r.socketDetail = fmt.Sprintf("connect %d, read %d, write %d, timeout %d", n[0], n[1], n[2], n[3])
	} else {
		r.socketDetail = "none"
	}
	if m := wrkStatusRE.FindStringSubmatch(out); m != nil {
		r.status = map[string]int64{}
		for _, kv := range strings.Fields(m[1]) {
			k, v, _ := strings.Cut(kv, "=")
			r.status[k], _ = strconv.ParseInt(v, 10, 64)
		}
	}
	for _, m := range wrkOtherRE.FindAllStringSubmatch(out, -1) {
		r.firstOther = append(r.firstOther, m[1])
	}
	return r, nil
}

// benchRow is one line of the table.
type benchRow struct {
	name      string
	measured  bool
	why       string // why it was not measured
	rate      float64
	p50, p99  time.Duration
	errors    int64
	non2xx    int64
	runs      []wrkResult
	load      string
	limited   int64
	ceiling   *benchRow
	minRatio  float64       // 0: no target on the ratio
	maxP99    time.Duration // 0: no target on p99
	rss, hwm  int64
	noRSS     bool // not the daemon (in this process)
	noLatency bool
	hidden    bool // a ceiling for one row only, not a line of the table
}

// fill takes a wrk result: rate is answers below 400 per second. A row
// filled more than once (a ceiling before and after) holds the mean.
func (r *benchRow) fill(w wrkResult) {
	r.measured = true
	r.runs = append(r.runs, w)
	n := float64(len(r.runs))
	var rate, p50, p99 float64
	var loads []string
	r.errors, r.non2xx = 0, 0
	for _, w := range r.runs {
		rate += float64(w.requests-w.non2xx) / w.seconds / n
		p50 += float64(w.p50) / n
		p99 += float64(w.p99) / n
		r.errors += w.non2xx + w.socketErrors
		r.non2xx += w.non2xx
		loads = append(loads, w.load)
	}
	r.rate, r.p50, r.p99 = rate, time.Duration(p50), time.Duration(p99)
	r.load = strings.Join(loads, ", ")
}

func (r *benchRow) skip(why string) { r.why = why }

func (r *benchRow) String() string {
	if !r.measured {
		return fmt.Sprintf("| %s | not measured: %s | | | | | %s | — | |", r.name, r.why, r.target())
	}
	lat := func(d time.Duration) string {
		if r.noLatency {
			return "—"
		}
		return fmt.Sprintf("%.2f ms", ms(d))
	}
	ratio, met := "—", "—"
	if r.ceiling != nil && r.ceiling.measured && r.ceiling.rate > 0 {
		x := r.rate / r.ceiling.rate
		ratio = fmt.Sprintf("%.2f× %s", x, r.ceilingName())
		if r.minRatio > 0 || r.maxP99 > 0 {
			met = "met"
			if x < r.minRatio || (r.maxP99 > 0 && r.p99 > r.maxP99) {
				met = "MISSED"
			}
		}
	}
	rss := "—"
	if !r.noRSS {
		rss = fmt.Sprintf("%.1f / %.1f MiB", mib(r.rss), mib(r.hwm))
	}
	rate := fmt.Sprintf("%.0f", r.rate)
	if len(r.runs) > 1 {
		var each []string
		for _, w := range r.runs {
			each = append(each, fmt.Sprintf("%.0f", float64(w.requests-w.non2xx)/w.seconds))
		}
		rate += " (mean of " + strings.Join(each, ", ") + ")"
	}
	return fmt.Sprintf("| %s | %s | %s | %s | %d | %s | %s | %s | %s |",
		r.name, rate, lat(r.p50), lat(r.p99), r.errors, ratio, r.target(), met, rss)
}

func (r *benchRow) ceilingName() string {
	if strings.HasPrefix(r.ceiling.name, "ceiling argon2id") {
		return "of argon2id"
	}
	return "of " + strings.Fields(r.ceiling.name)[1]
}

func (r *benchRow) target() string {
	var ts []string
	if r.minRatio > 0 {
		ts = append(ts, fmt.Sprintf("≥ %g×", r.minRatio))
	}
	if r.maxP99 > 0 {
		ts = append(ts, fmt.Sprintf("p99 ≤ %s", r.maxP99))
	}
	if len(ts) == 0 {
		return "—"
	}
	return strings.Join(ts, ", ")
}

// createBenchUsers makes benchNNN, each in group bench with password, a
// few at a time (each costs the daemon an argon2id hash).
func createBenchUsers(t *testing.T, ctl, sock string, n int, password string) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				name := fmt.Sprintf("bench%03d", i)
				c := exec.Command(ctl, "--socket", sock, "-o", "json", "user", "create", "--username", name,
					"--email", name+"@example.test", "--group", "bench", "--password-stdin")
				c.Stdin = strings.NewReader(password + "\n")
				if out, err := c.CombinedOutput(); !assert.NoError(t, err, "accessctl user create %s: %s", name, out) {
					return
				}
			}
		})
	}
	wg.Wait()
	require.False(t, t.Failed(), "creating the bench users failed")
}

// ceiling is the bare token endpoint: as little as answers a
// client_credentials grant correctly, so accessd's rate can be read as a
// fraction of what this machine allows.
type ceiling struct {
	alg    string
	url    string
	client *http.Client
}

// startCeiling serves POST /oauth/token and GET /.well-known/jwks.json
// over TLS 1.2+ with a self-signed P-256 certificate (as the daemon's dev
// certificate), signing with a new alg key.
func startCeiling(t *testing.T, alg, clientID, clientSecret string) *ceiling {
	t.Helper()
	dir := t.TempDir()
	pool, _ := writeCert(t, filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key"))
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key"))
	require.NoError(t, err)

	var priv crypto.Signer
	switch alg {
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "RS256":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		require.Fail(t, "no ceiling for "+alg)
	}
	require.NoError(t, err)
	kid := randomHex(t, 8)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: jose.JSONWebKey{Key: priv, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	require.NoError(t, err)
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: priv.Public(), KeyID: kid, Algorithm: alg, Use: "sig"}}})
	require.NoError(t, err)
	secretHash := sha256.Sum256([]byte(clientSecret))

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	issuer := "https://" + l.Addr().String()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(jwks)
	})
	// The floor: what answering /v1/authorize costs a server that
	// decides nothing (it reads the body and writes a fixed answer).
	mux.HandleFunc("POST /v1/authorize", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"authorized":true,"timestamp":%q}`, time.Now().UTC().Format(time.RFC3339))
	})
	mux.HandleFunc("POST /oauth/token", func(w http.ResponseWriter, r *http.Request) {
		oauthError := func(code int, e string) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			fmt.Fprintf(w, `{"error":%q}`, e)
		}
		if err := r.ParseForm(); err != nil {
			oauthError(http.StatusBadRequest, "invalid_request")
			return
		}
		if r.PostForm.Get("grant_type") != "client_credentials" {
			oauthError(http.StatusBadRequest, "unsupported_grant_type")
			return
		}
		id, secret, ok := r.BasicAuth()
		if ok {
			var e1, e2 error
			id, e1 = url.QueryUnescape(id)
			secret, e2 = url.QueryUnescape(secret)
			ok = e1 == nil && e2 == nil
		}
		h := sha256.Sum256([]byte(secret))
		if !ok || id != clientID || subtle.ConstantTimeCompare(h[:], secretHash[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="accessd"`)
			oauthError(http.StatusUnauthorized, "invalid_client")
			return
		}
		now := time.Now()
		var jti [16]byte
		rand.Read(jti[:])
		payload, err := json.Marshal(ceilingClaims{
			Iss: issuer, Sub: "lerian/" + id, Aud: []string{issuer}, Exp: now.Add(time.Hour).Unix(),
			Iat: now.Unix(), Nbf: now.Unix(), Jti: hex.EncodeToString(jti[:]),
			ClientID: id, Type: "application", Owner: "lerian", Azp: id, Name: "bench",
		})
		if err != nil {
			oauthError(http.StatusInternalServerError, "server_error")
			return
		}
		jws, err := signer.Sign(payload)
		if err != nil {
			oauthError(http.StatusInternalServerError, "server_error")
			return
		}
		tok, err := jws.CompactSerialize()
		if err != nil {
			oauthError(http.StatusInternalServerError, "server_error")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(tokenResponse{AccessToken: tok, TokenType: "Bearer", ExpiresIn: 3600})
	})
	// wrk's first connection only probes the address; its handshake
	// error is noise.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 120 * time.Second,
		ErrorLog: log.New(io.Discard, "", 0)}
	go srv.Serve(tls.NewListener(l, &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert},
		NextProtos: []string{"h2", "http/1.1"}}))
	t.Cleanup(func() { srv.Close() })
	return &ceiling{alg: alg, url: issuer, client: &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}}
}

// ceilingClaims are the claims of DESIGN §4: RFC 9068's and lib-auth's.
type ceilingClaims struct {
	Iss      string   `json:"iss"`
	Sub      string   `json:"sub"`
	Aud      []string `json:"aud"`
	Exp      int64    `json:"exp"`
	Iat      int64    `json:"iat"`
	Nbf      int64    `json:"nbf"`
	Jti      string   `json:"jti"`
	ClientID string   `json:"client_id"`
	Type     string   `json:"type"`
	Owner    string   `json:"owner"`
	Azp      string   `json:"azp"`
	Name     string   `json:"name"`
}

// tokenResponse is RFC 6749 §5.1's answer.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

// benchClient trusts only the daemon's dev certificate.
func benchClient(t *testing.T, certFile string) *http.Client {
	pemBytes, err := os.ReadFile(certFile)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pemBytes))
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// send sends l once and returns the status and body.
func send(c *http.Client, l benchLoad) (int, []byte, error) {
	req, err := l.request()
	if err != nil {
		return 0, nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, bytes.TrimSpace(b), err
}

// checkToken checks an RFC 6749 token answer (access_token, token_type
// Bearer, expires_in) and returns the access token.
func checkToken(c *http.Client, l benchLoad, base, alg string) (string, error) {
	tok, answer, err := checkTokenField(c, l, base, alg, "access_token")
	if err != nil {
		return "", err
	}
	typ, _ := answer["token_type"].(string)
	exp, _ := answer["expires_in"].(float64)
	if !strings.EqualFold(typ, "Bearer") || exp <= 0 {
		return "", fmt.Errorf("%s: token_type %q, expires_in %v, want Bearer and a positive number", l.url, answer["token_type"], answer["expires_in"])
	}
	return tok, nil
}

// checkTokenField sends l, expects 200 with a JWT in field, and verifies
// it against base's JWKS: signed with alg by a published key, typ at+jwt,
// not expired. It returns the token and the whole answer.
func checkTokenField(c *http.Client, l benchLoad, base, alg, field string) (string, map[string]any, error) {
	tok, answer, err := func() (string, map[string]any, error) {
		code, b, err := send(c, l)
		if err != nil {
			return "", nil, err
		}
		if code != http.StatusOK {
			return "", nil, fmt.Errorf("%s: %d %.300s", l.url, code, b)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			return "", nil, fmt.Errorf("%s: %v: %.300s", l.url, err, b)
		}
		tok, _ := m[field].(string)
		if tok == "" {
			return "", nil, fmt.Errorf("%s: no %s in %.300s", l.url, field, b)
		}
		return tok, m, nil
	}()
	if err != nil {
		return "", nil, err
	}
	return tok, answer, verifyToken(c, tok, base, alg)
}

// verifyToken checks tok against base's JWKS.
func verifyToken(c *http.Client, tok, base, alg string) error {
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
	if err != nil {
		return fmt.Errorf("the token is not a JWT signed with %s: %v", alg, err)
	}
	h := parsed.Headers[0]
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "at+jwt" {
		return fmt.Errorf("token typ %q, want at+jwt", typ)
	}
	code, jb, err := send(c, benchLoad{method: http.MethodGet, url: base + "/.well-known/jwks.json"})
	if err != nil || code != http.StatusOK {
		return fmt.Errorf("GET /.well-known/jwks.json: %d %v %.300s", code, err, jb)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(jb, &set); err != nil {
		return fmt.Errorf("GET /.well-known/jwks.json: %v", err)
	}
	keys := set.Key(h.KeyID)
	if len(keys) == 0 {
		return fmt.Errorf("no key %q in the JWKS", h.KeyID)
	}
	var claims jwt.Claims
	if err := parsed.Claims(keys[0], &claims); err != nil {
		return fmt.Errorf("the token does not verify against JWKS key %q: %v", h.KeyID, err)
	}
	if err := claims.ValidateWithLeeway(jwt.Expected{Time: time.Now()}, time.Minute); err != nil {
		return fmt.Errorf("token claims: %v", err)
	}
	return nil
}

// checkJSON sends l and expects 200 with field equal to want.
func checkJSON(c *http.Client, l benchLoad, field string, want any) error {
	code, b, err := send(c, l)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("%s: %d %.300s", l.url, code, b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("%s: %v: %.300s", l.url, err, b)
	}
	if m[field] != want {
		return fmt.Errorf("%s: %s is %v, want %v: %.300s", l.url, field, m[field], want, b)
	}
	return nil
}

// argon2Run is how many argon2id hashes at accessd's default cost
// (19 MiB, two passes, one lane) this machine makes with one goroutine
// per GOMAXPROCS, hashing for about d, as a wrk result (a rate, no
// latencies).
func argon2Run(d time.Duration) wrkResult {
	workers := runtime.GOMAXPROCS(0)
	var n atomic.Int64
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			salt := []byte(fmt.Sprintf("bench-salt-%04d", w))
			for time.Now().Before(deadline) {
				argon2.IDKey([]byte("correct horse battery staple"), salt, 2, 19456, 1, 32)
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return wrkResult{requests: n.Load(), seconds: time.Since(start).Seconds(), load: loadAverage()}
}

// loadAverage is the 1-minute load average, or "?".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

func firstLine(s string) string {
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			return l
		}
	}
	return s
}
