package identity

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var testParams = PasswordParams{MemoryKiB: 8 * 1024, Time: 1, Threads: 1}

func TestPasswordHashVerify(t *testing.T) {
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
