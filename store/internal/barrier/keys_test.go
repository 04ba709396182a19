package barrier

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/store/storetest/testkit"
)

var goldenRoot = bytes.Repeat([]byte{0x42}, RootKeySize)

// goldenField is the field the golden ciphertexts are sealed under:
// layout 1's name for a TOTP seed, which the store's migration still
// opens.
const goldenField = "mfa.totpSeed"

// zeroReader is a deterministic Rand for golden files. Tests only: it
// makes every nonce the same.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestDerivationsGolden pins the HKDF labels: a change would make every
// existing store and backup unreadable.
func TestDerivationsGolden(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	for _, info := range []string{infoBadger, infoFields, infoBackup, infoRecords, infoPepper} {
		k, err := derive(goldenRoot, nil, info)
		require.NoError(t, err)
		b.WriteString(info + " " + hex.EncodeToString(k) + "\n")
	}
	kr, err := newKeyring(goldenRoot, zeroReader{})
	require.NoError(t, err)
	for _, term := range []uint32{2, 1} {
		kr.active.Store(term)
		s, err := kr.Seal("user/u1", goldenField, []byte("seed"))
		require.NoError(t, err)
		b.WriteString("sealed " + hex.EncodeToString(s) + "\n")
	}
	testkit.Golden(t, "derivations.golden", []byte(b.String()))
}

// TestSealedGoldenOpens: the ciphertexts pinned in the golden file open
// with the current code (format stability across releases).
func TestSealedGoldenOpens(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join("testdata", "derivations.golden"))
	if err != nil {
		t.Skip("no golden file yet")
	}
	kr, err := newKeyring(goldenRoot, zeroReader{})
	require.NoError(t, err)
	kr.active.Store(2)
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		hexed, ok := strings.CutPrefix(line, "sealed ")
		if !ok {
			continue
		}
		raw, err := hex.DecodeString(hexed)
		require.NoError(t, err)
		pt, err := kr.Open("user/u1", goldenField, raw)
		require.NoError(t, err, "golden ciphertext %d", n)
		require.Equal(t, "seed", string(pt), "golden ciphertext %d", n)
		n++
	}
	require.Equal(t, 2, n, "found %d golden ciphertexts, want 2", n)
}

func TestSealedHasNoPrintableForm(t *testing.T) {
	t.Parallel()
	s := Sealed{1, 0, 0, 0, 3, 0xde, 0xad, 0xbe, 0xef, 0xde, 0xad, 0xbe, 0xef, 0xde, 0xad, 0xbe, 0xef,
		0xde, 0xad, 0xbe, 0xef, 0xde, 0xad, 0xbe, 0xef, 0xde, 0xad, 0xbe, 0xef, 0xde, 0xad, 0xbe, 0xef}
	tests := []struct{ name, got string }{
		{"String", s.String()},
		{"GoString", s.GoString()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.NotContains(t, strings.ToLower(tc.got), "dead", "%s exposes bytes: %s", tc.name, tc.got)
			require.NotContains(t, tc.got, "222", "%s exposes bytes: %s", tc.name, tc.got)
			require.Contains(t, tc.got, "term 3", "%s = %q, want the term", tc.name, tc.got)
		})
	}
}

// FuzzOpenField: arbitrary bytes as a sealed field never panic and never
// open.
func FuzzOpenField(f *testing.F) {
	kr, err := newKeyring(goldenRoot, zeroReader{})
	if err != nil {
		f.Fatal(err)
	}
	kr.active.Store(3)
	valid, err := kr.Seal("user/u1", "totpSeed", []byte("seed"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(valid))
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0, 0})
	f.Add(bytes.Repeat([]byte{1}, sealedMinLen))
	f.Fuzz(func(t *testing.T, data []byte) {
		pt, err := kr.Open("user/u1", "totpSeed", data)
		if err == nil {
			require.True(t, bytes.Equal(data, valid), "forged ciphertext opened to %q", pt)
		}
	})
}
