package seal_test

import (
	"bytes"
	"crypto/sha256"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/seal"
)

// goldenTime is the creation time recorded in golden files.
var goldenTime = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// goldenBytes returns 32 fixed bytes derived from label: test keys that are
// the same on every run and obviously not secret.
func goldenBytes(label string) []byte {
	sum := sha256.Sum256([]byte("accessd golden " + label))
	return sum[:]
}

func goldenRootKey(t testing.TB) seal.RootKey {
	k, err := seal.NewRootKey(bytes.NewReader(goldenBytes("root key")))
	require.NoError(t, err)
	return k
}

func goldenRecoveryKey(t testing.TB) seal.RecoveryKey {
	k, err := seal.NewRecoveryKey(bytes.NewReader(goldenBytes("recovery key")))
	require.NoError(t, err)
	return k
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(to, b, 0o600))
}
