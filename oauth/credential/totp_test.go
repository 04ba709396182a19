package credential

import (
	"crypto/rand"
	"encoding/base32"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
)

func TestNewTOTP(t *testing.T) {
	t.Parallel()
	secret, b32, u, err := NewTOTP("accessd", "maria@example.com", rand.Reader)
	require.NoError(t, err)
	require.Len(t, secret, 20)
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(b32)
	require.NoError(t, err)
	require.Equal(t, secret, raw)

	parsed, err := url.Parse(u)
	require.NoError(t, err)
	require.Equal(t, "otpauth", parsed.Scheme)
	require.Equal(t, "totp", parsed.Host)
	require.Equal(t, "/accessd:maria@example.com", parsed.Path)
	q := parsed.Query()
	require.Equal(t, b32, q.Get("secret"))
	require.Equal(t, "accessd", q.Get("issuer"))
	require.Equal(t, "30", q.Get("period"))
	require.Equal(t, "6", q.Get("digits"))
	require.Equal(t, "SHA1", q.Get("algorithm"))

	s2, _, _, err := NewTOTP("accessd", "maria@example.com", rand.Reader)
	require.NoError(t, err)
	require.NotEqual(t, secret, s2)

	for _, bad := range [][2]string{{"", "maria"}, {"accessd", ""}, {"a:b", "maria"}, {"accessd", "x:y"}} {
		_, _, _, err := NewTOTP(bad[0], bad[1], rand.Reader)
		require.Error(t, err, bad)
	}
	_, _, _, err = NewTOTP("accessd", "maria", strings.NewReader("short"))
	require.Error(t, err)
}

// TestHOTPVectors checks the code generator against RFC 6238 appendix B
// (SHA-1; the last 6 of its 8 digits) and against pquerna/otp.
func TestHOTPVectors(t *testing.T) {
	t.Parallel()
	secret := []byte("12345678901234567890")
	for _, v := range []struct {
		unix int64
		code string
	}{
		{59, "287082"}, {1111111109, "081804"}, {1111111111, "050471"},
		{1234567890, "005924"}, {2000000000, "279037"}, {20000000000, "353130"},
	} {
		got := hotp(secret, uint64(v.unix/30))
		require.Equal(t, v.code, string(got[:]), v.unix)
	}
	random, b32, _, err := NewTOTP("accessd", "maria", rand.Reader)
	require.NoError(t, err)
	for i := range 200 {
		at := time.Unix(1_700_000_000+int64(i)*30, 0)
		want, err := totp.GenerateCodeCustom(b32, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		require.NoError(t, err)
		got := hotp(random, uint64(at.Unix()/30))
		require.Equal(t, want, string(got[:]))
	}
}

// oathtoolCode asks the real oathtool for the TOTP code at unix.
func oathtoolCode(t *testing.T, b32 string, unix int64) string {
	t.Helper()
	out, err := exec.Command("oathtool", "--totp", "-b", "-N", "@"+strconv.FormatInt(unix, 10), b32).CombinedOutput()
	require.NoError(t, err, "oathtool: %s", out)
	return strings.TrimSpace(string(out))
}

// TestVerifyTOTPAgainstOathtool checks, with codes from the real oathtool
// (what an authenticator app computes), that codes from one step either
// side of the server's clock verify, right up to the ±30 s edges, and that
// codes two steps away never do.
func TestVerifyTOTPAgainstOathtool(t *testing.T) {
	t.Parallel()
	_, err := exec.LookPath("oathtool")
	require.NoError(t, err, "oathtool is needed (apt-get install oathtool; scripts/test installs it)")
	secret, b32, _, err := NewTOTP("accessd", "maria", rand.Reader)
	require.NoError(t, err)

	const k = 56_666_666 // a step in 2023
	for _, server := range []int64{
		k * 30,                  // first second of a step
		k*30 + 29,               // last second of a step
		k*30 + 15,               // middle
		time.Now().Unix(),       // now
		(k+1)*30 - 1 + 10*86400, // another day, last second
	} {
		now := time.Unix(server, 0)
		cur := server / 30
		t.Run(now.UTC().Format(time.RFC3339), func(t *testing.T) {
			inWindow := map[string]bool{}
			for _, client := range []int64{
				server - 30, server, server + 30, // one step either side, whatever the offset in the step
				cur*30 - 30, cur*30 + 59, // the outermost seconds of the window
			} {
				code := oathtoolCode(t, b32, client)
				inWindow[code] = true
				step, err := VerifyTOTP(secret, code, now, 0)
				require.NoError(t, err, "code from %+d s", client-server)
				require.Equal(t, client/30, step)
			}
			for _, client := range []int64{
				server - 60, server + 60, // two steps away
				cur*30 - 31, cur*30 + 60, // one second outside the window
				server - 3600, server + 3600,
			} {
				code := oathtoolCode(t, b32, client)
				if inWindow[code] {
					continue // a 1-in-10^6 collision with an in-window code
				}
				_, err := VerifyTOTP(secret, code, now, 0)
				require.ErrorIs(t, err, api.ErrBadPasscode, "code from %+d s must not verify", client-server)
				require.NotErrorIs(t, err, ErrPasscodeReplayed)
			}
		})
	}
}

// TestVerifyTOTPReplay checks that a code is accepted once, and that a
// code from an earlier step is refused after a later one was used.
func TestVerifyTOTPReplay(t *testing.T) {
	t.Parallel()
	secret, b32, _, err := NewTOTP("accessd", "maria", rand.Reader)
	require.NoError(t, err)
	now := time.Unix(1_700_000_015, 0)
	cur := now.Unix() / 30
	code := oathtoolCode(t, b32, now.Unix())
	prev := oathtoolCode(t, b32, now.Unix()-30)
	next := oathtoolCode(t, b32, now.Unix()+30)
	if code == prev || code == next || prev == next {
		t.Skip("a 1-in-10^6 collision between adjacent codes")
	}

	step, err := VerifyTOTP(secret, code, now, 0)
	require.NoError(t, err)
	require.Equal(t, cur, step)

	_, err = VerifyTOTP(secret, code, now, step)
	require.ErrorIs(t, err, ErrPasscodeReplayed, "the same code again")
	require.ErrorIs(t, err, api.ErrBadPasscode)
	_, err = VerifyTOTP(secret, code, now.Add(25*time.Second), step)
	require.ErrorIs(t, err, ErrPasscodeReplayed, "the same code in the next step, still inside the window")
	_, err = VerifyTOTP(secret, prev, now, step)
	require.ErrorIs(t, err, ErrPasscodeReplayed, "an older code after a newer one")

	step2, err := VerifyTOTP(secret, next, now, step)
	require.NoError(t, err, "the next step's code is fresh")
	require.Equal(t, cur+1, step2)
	_, err = VerifyTOTP(secret, next, now, step2)
	require.ErrorIs(t, err, ErrPasscodeReplayed)
}

func TestVerifyTOTPFormat(t *testing.T) {
	t.Parallel()
	secret, b32, _, err := NewTOTP("accessd", "maria", rand.Reader)
	require.NoError(t, err)
	now := time.Unix(1_700_000_015, 0)
	code := oathtoolCode(t, b32, now.Unix())
	for _, ok := range []string{code, code[:3] + " " + code[3:], " " + code + " "} {
		_, err := VerifyTOTP(secret, ok, now, 0)
		require.NoError(t, err, "%q", ok)
	}
	for _, bad := range []string{"", "12345", "1234567", "12a456", "１２３４５６", "12-456", "123456\n", strings.Repeat(" ", 100) + code, "-12345", "+12345"} {
		_, err := VerifyTOTP(secret, bad, now, 0)
		require.ErrorIs(t, err, api.ErrBadPasscode, "%q", bad)
		require.Contains(t, err.Error(), "6 digits", "%q", bad)
	}
	_, err = VerifyTOTP(secret[:10], code, now, 0)
	require.Error(t, err)
	require.NotErrorIs(t, err, api.ErrBadPasscode, "a short secret is the server's fault, not the user's")
}

func FuzzVerifyTOTP(f *testing.F) {
	secret := []byte("12345678901234567890")
	for _, s := range []string{"287082", "287 082", "", "１２３４５６", "12345a", "0000000", " "} {
		f.Add(s, int64(59), int64(0))
	}
	f.Fuzz(func(t *testing.T, code string, unix, lastStep int64) {
		pc, perr := parsePasscode(code)
		if perr == nil {
			for _, c := range pc {
				require.True(t, '0' <= c && c <= '9')
			}
			require.Equal(t, string(pc[:]), strings.ReplaceAll(code, " ", ""))
		} else {
			require.ErrorIs(t, perr, api.ErrBadPasscode)
		}
		if unix < 0 || unix > 1<<40 {
			return
		}
		step, err := VerifyTOTP(secret, code, time.Unix(unix, 0), lastStep)
		if err != nil {
			return
		}
		require.NoError(t, perr)
		require.Greater(t, step, lastStep, "a returned step is always fresh")
		require.LessOrEqual(t, abs(step-unix/30), int64(TOTPSkew))
	})
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// BenchmarkVerifyTOTP is the cost of one MFA verification: three HMAC-SHA-1.
func BenchmarkVerifyTOTP(b *testing.B) {
	secret := []byte("12345678901234567890")
	now := time.Unix(1111111111, 0)
	for b.Loop() {
		if _, err := VerifyTOTP(secret, "050471", now, 0); err != nil {
			b.Fatal(err)
		}
	}
}
