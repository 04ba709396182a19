package credential

import (
	"context"
	"crypto/rand"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/oauth/api"
)

var testParams = TestParams()

func TestPasswordHashVerify(t *testing.T) {
	t.Parallel()
	h, err := HashPassword([]byte("correct horse"), testParams, rand.Reader)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(h, "$argon2id$v=19$m=8192,t=1,p=1$"))
	require.NotContains(t, h, "correct horse")
	require.NoError(t, VerifyPassword(h, []byte("correct horse")))
	require.True(t, errors.Is(VerifyPassword(h, []byte("correct horsf")), ErrPasswordMismatch))

	h2, err := HashPassword([]byte("correct horse"), testParams, rand.Reader)
	require.NoError(t, err)
	require.NotEqual(t, h, h2, "salts must differ")
}

func TestVerifyPasswordRejectsMalformed(t *testing.T) {
	t.Parallel()
	for _, phc := range []string{
		"", "$argon2i$v=19$m=8192,t=1,p=1$c2FsdA$aGFzaA",
		"$argon2id$v=18$m=8192,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=8192,t=1,p=1$!!$aGFzaGhhc2hoYXNoaGFzaA",
	} {
		err := VerifyPassword(phc, []byte("x"))
		require.Error(t, err, phc)
		require.False(t, errors.Is(err, ErrPasswordMismatch), phc)
	}
}

func TestGeneratePassword(t *testing.T) {
	t.Parallel()
	a, err := GeneratePassword(rand.Reader)
	require.NoError(t, err)
	b, err := GeneratePassword(rand.Reader)
	require.NoError(t, err)
	require.Len(t, a, 24)
	require.NotEqual(t, a, b)
}

func FuzzVerifyPassword(f *testing.F) {
	h, _ := HashPassword([]byte("pw"), testParams, rand.Reader)
	f.Add(h)
	f.Add("$argon2id$v=19$m=8192,t=1,p=1$$")
	f.Fuzz(func(t *testing.T, phc string) {
		_ = VerifyPassword(phc, []byte("pw"))
	})
}

func BenchmarkHashPasswordDefault(b *testing.B) {
	for b.Loop() {
		if _, err := HashPassword([]byte("correct horse battery"), DefaultPasswordParams, rand.Reader); err != nil {
			b.Fatal(err)
		}
	}
}

func TestPasswordPolicy(t *testing.T) {
	t.Parallel()
	decomposedE := "e\u0301" // é as two runes; NFC makes it one
	for _, tc := range []struct {
		name, password, username, email string
		why                             string // substring of the error; "" = accepted
	}{
		{"12 characters", "tapir-violin", "", "", ""},
		{"11 characters", "tapir-violi", "", "", "shorter than 12"},
		{"256 characters", strings.Repeat("tapir-viol", 25) + "Zebra!", "", "", ""},
		{"257 characters", strings.Repeat("tapir-viol", 25) + "Zebra!x", "", "", "longer than 256"},
		{"huge input", strings.Repeat("x", 1<<20), "", "", "longer than 256"},
		{"runes not bytes", "ñandú-ñandú-", "", "", ""},
		{"runes after NFC", decomposedE + "a" + decomposedE + "b" + decomposedE + "c" + decomposedE + "d" + decomposedE + "f" + decomposedE, "", "", "shorter than 12"},
		{"NFC 12", decomposedE + "a" + decomposedE + "b" + decomposedE + "c" + decomposedE + "d" + decomposedE + "f" + decomposedE + "g", "", "", ""},
		{"invalid UTF-8", "tapir-violin\xff", "", "", "UTF-8"},
		{"username", "xx-MarIA.silva-99", "maria.silva", "", "username"},
		{"short username ignored", "ab-tapir-violin", "ab", "", ""},
		{"whole email", "maria@example.com!", "m", "Maria@Example.com", "email address"},
		{"email local part", "tapir-MARIA7-violin", "", "maria7@example.com", "local part"},
		{"short local part ignored", "tapir-jo-violin", "", "jo@example.com", ""},
		{"common exact", "WinnieThePooh", "", "", "list of common passwords"},
		{"common padded after", "Password2024!", "", "", "digits or symbols added"},
		{"common padded both", "!!1Letmein1234", "", "", "digits or symbols added"},
		{"common digits", "123456789012", "", "", "digits or symbols added"},
		{"common repeated", "MonkeyMonkey", "", "", "repeats a common password"},
		{"few distinct", "zqzqzqzqzqzqx", "", "", "fewer than 5 different"},
		{"few distinct digits", "7970797079708", "", "", "fewer than 5 different"},
		{"one character repeated", "aaaaaaaaaaaaaaa", "", "", "repeats a common password"},
		{"random digits", "839201746258", "", "", ""},
		{"common inside words", "my-dragon-tapir-violin", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := DefaultPasswordPolicy().Check([]byte(tc.password), tc.username, tc.email)
			if tc.why == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, api.ErrWeakPassword)
			require.Contains(t, err.Error(), tc.why)
			if len(tc.password) < 1000 {
				require.NotContains(t, strings.ToLower(err.Error()), strings.ToLower(tc.password), "the error must not echo the password")
			}
		})
	}
	// The zero policy is the default one.
	require.Error(t, PasswordPolicy{}.Check([]byte("short"), "", ""))
}

func TestCommonPasswordList(t *testing.T) {
	t.Parallel()
	list := commonPasswords()
	require.GreaterOrEqual(t, len(list), 3000)
	for w := range list {
		require.Equal(t, strings.ToLower(w), w, "entries are lower-cased")
		require.NotEmpty(t, w)
	}
	// Every entry, padded to the length floor, is refused.
	for w := range list {
		pw := w + strings.Repeat("1", max(0, 12-len(w)))
		if len(w) < 4 {
			continue // padding rule needs 4 characters; these fall to other rules or are fine
		}
		require.ErrorIs(t, DefaultPasswordPolicy().Check([]byte(strings.ToUpper(pw)), "", ""), api.ErrWeakPassword, w)
	}
}

func TestNeedsRehash(t *testing.T) {
	t.Parallel()
	h, err := HashPassword([]byte("pw"), testParams, rand.Reader)
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		p    PasswordParams
		want bool
	}{
		{"same", testParams, false},
		{"lower current", PasswordParams{MemoryKiB: 8 * 1024, Time: 1, Threads: 1}, false},
		{"more memory", PasswordParams{MemoryKiB: 19 * 1024, Time: 1, Threads: 1}, true},
		{"more passes", PasswordParams{MemoryKiB: 8 * 1024, Time: 2, Threads: 1}, true},
		{"more lanes", PasswordParams{MemoryKiB: 8 * 1024, Time: 1, Threads: 2}, true},
	} {
		t.Run(tc.name, func(t *testing.T) { require.Equal(t, tc.want, NeedsRehash(h, tc.p)) })
	}
	require.True(t, NeedsRehash("garbage", testParams))
	short := "$argon2id$v=19$m=8192,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA" // 8-byte salt, 16-byte sum
	require.True(t, NeedsRehash(short, testParams))
}

func TestHasherHashVerify(t *testing.T) {
	t.Parallel()
	h, err := NewHasher(HasherOptions{Params: testParams})
	require.NoError(t, err)
	require.Equal(t, max(2, runtime.NumCPU()), h.Slots())
	ctx := t.Context()
	s, err := h.Hash(ctx, []byte("tapir-violin-1"))
	require.NoError(t, err)
	require.NoError(t, h.Verify(ctx, s, []byte("tapir-violin-1")))
	require.ErrorIs(t, h.Verify(ctx, s, []byte("tapir-violin-2")), ErrPasswordMismatch)
	require.NoError(t, VerifyPassword(s, []byte("tapir-violin-1")), "the package function verifies what the Hasher made")
	require.False(t, h.NeedsRehash(s))
	require.ErrorIs(t, h.DummyVerify(ctx, []byte("tapir-violin-1")), ErrPasswordMismatch)
	require.ErrorIs(t, h.DummyVerify(ctx, nil), ErrPasswordMismatch)

	// A hash with 4× the memory takes 4 slots (capped at the budget) and
	// still verifies.
	big := PasswordParams{MemoryKiB: 32 * 1024, Time: 1, Threads: 1}
	s2, err := HashPassword([]byte("pw"), big, rand.Reader)
	require.NoError(t, err)
	require.NoError(t, h.Verify(ctx, s2, []byte("pw")))
	require.True(t, h.NeedsRehash(s) == false && NeedsRehash(s, big))

	_, err = NewHasher(HasherOptions{Params: PasswordParams{MemoryKiB: 1024, Time: 1, Threads: 1}})
	require.Error(t, err, "parameters VerifyPassword would refuse are refused up front")
}

// TestHasherBound floods a Hasher whose budget fits 3 operations and
// checks that no more than 3 argon2id calls ever ran at once.
func TestHasherBound(t *testing.T) {
	t.Parallel()
	h, err := NewHasher(HasherOptions{Params: testParams, MemoryBudget: 3*8<<20 + 1<<20})
	require.NoError(t, err)
	require.Equal(t, 3, h.Slots())
	phc, err := h.Hash(t.Context(), []byte("pw"))
	require.NoError(t, err)
	h.peak.Store(0)

	var wg sync.WaitGroup
	for i := range 24 {
		wg.Go(func() {
			var err error
			switch i % 3 {
			case 0:
				_, err = h.Hash(t.Context(), []byte("pw"))
			case 1:
				err = h.Verify(t.Context(), phc, []byte("pw"))
			case 2:
				err = h.DummyVerify(t.Context(), []byte("pw"))
				if errors.Is(err, ErrPasswordMismatch) {
					err = nil
				}
			}
			require.NoError(t, err)
		})
	}
	wg.Wait()
	require.LessOrEqual(t, h.peak.Load(), int64(3), "more argon2id calls ran at once than the budget allows")
	require.Zero(t, h.active.Load())
	require.Zero(t, len(h.slots), "every slot was given back")
}

// TestHasherWaitsWithContext fills the budget and checks that Hash and
// Verify give up with the context's error, then work once room is back.
func TestHasherWaitsWithContext(t *testing.T) {
	t.Parallel()
	h, err := NewHasher(HasherOptions{Params: testParams, MemoryBudget: 8 << 20})
	require.NoError(t, err)
	require.Equal(t, 1, h.Slots())
	phc, err := h.Hash(t.Context(), []byte("pw"))
	require.NoError(t, err)

	release, err := h.acquire(t.Context(), testParams.MemoryKiB)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err = h.Hash(ctx, []byte("pw"))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorIs(t, h.Verify(ctx, phc, []byte("pw")), context.DeadlineExceeded)
	require.ErrorIs(t, h.DummyVerify(ctx, []byte("pw")), context.DeadlineExceeded)
	release()

	_, err = h.Hash(t.Context(), []byte("pw"))
	require.NoError(t, err)
	require.Zero(t, len(h.slots))
}

func FuzzPasswordPolicy(f *testing.F) {
	for _, s := range []string{"tapir-violin", "Password2024!", "MonkeyMonkey", "123456789012", "e\u0301e\u0301", "\xff\xfe", "aaaaaaaaaaaa"} {
		f.Add(s, "maria", "maria@example.com")
	}
	f.Fuzz(func(t *testing.T, pw, user, email string) {
		err := DefaultPasswordPolicy().Check([]byte(pw), user, email)
		if err != nil {
			require.ErrorIs(t, err, api.ErrWeakPassword)
		}
	})
}

// BenchmarkHasherHashDefault hashes with DefaultPasswordParams from many
// goroutines through the default bound: the throughput a login flood gets.
func BenchmarkHasherHashDefault(b *testing.B) {
	h, err := NewHasher(HasherOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := h.Hash(context.Background(), []byte("correct horse battery")); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(h.peak.Load()), "peak-concurrent")
}

// TestHasherUsedWithin: the daemon gives the collector room only while
// passwords are being hashed; the hasher says when one last was.
func TestHasherUsedWithin(t *testing.T) {
	h, err := NewHasher(HasherOptions{Params: testParams})
	require.NoError(t, err)
	require.False(t, h.UsedWithin(time.Hour), "a new hasher says it hashed within the hour (its dummy hash is not a use)")
	_, err = h.Hash(context.Background(), []byte("correct horse"))
	require.NoError(t, err)
	require.True(t, h.UsedWithin(time.Minute), "a hash just now is not within the minute")
	time.Sleep(20 * time.Millisecond)
	require.False(t, h.UsedWithin(10*time.Millisecond), "a hash 20 ms ago is within 10 ms")
}
