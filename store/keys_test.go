package store

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/store/storetest/testkit"
)

var goldenRoot = bytes.Repeat([]byte{0x42}, RootKeySize)

// goldenField is the field the golden ciphertexts are sealed under:
// layout 1's name for a TOTP seed, which the migration still opens.
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
		s, err := kr.seal("user/u1", goldenField, []byte("seed"))
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
		pt, err := kr.open("user/u1", goldenField, raw)
		require.NoError(t, err, "golden ciphertext %d", n)
		require.Equal(t, "seed", string(pt), "golden ciphertext %d", n)
		n++
	}
	require.Equal(t, 2, n, "found %d golden ciphertexts, want 2", n)
}

// TestRecordEncodingGolden pins the on-disk JSON of fully populated
// records: a change here is a layout change that needs a migration.
func TestRecordEncodingGolden(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	id := "0b7c2d1e-5f3a-4b6c-8d9e-0f1a2b3c4d5e"
	tests := []struct {
		file string
		rec  any
		back func([]byte) (any, error)
	}{
		{"user.golden.json", User{
			ID: id, Username: "alice", Email: "alice@example.test",
			FirstName: "Alice", LastName: "Liddell", Groups: []string{"admins", "readers"},
			Disabled: true, LogoutAt: at, CreatedAt: at, UpdatedAt: at, Version: 7,
		}, func(b []byte) (any, error) { var v User; err := json.Unmarshal(b, &v); return v, err }},
		{"credential.golden.json", Credential{
			ID: id, PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", PasswordChangedAt: at,
			MustChangePassword: true, TOTPSeed: Sealed{1, 0, 0, 0, 1}, TOTPEnabled: true, TOTPVerified: true,
			TOTPLastStep: 58000000, RecoveryCodeHashes: [][]byte{{1, 2, 3}}, MFAPreferred: "totp",
			FactorsChangedAt: at, CreatedAt: at, UpdatedAt: at, Version: 3,
		}, func(b []byte) (any, error) { var v Credential; err := json.Unmarshal(b, &v); return v, err }},
		{"loginstate.golden.json", LoginState{
			ID: id, FailedLogins: 2, LockedUntil: at, LastLoginAt: at, UpdatedAt: at, Version: 9,
		}, func(b []byte) (any, error) { var v LoginState; err := json.Unmarshal(b, &v); return v, err }},
		{"auditentry.golden.json", AuditEntry{
			Seq: 4, Time: at, Type: "user.create", Actor: "uid:0", Target: "user:" + id, Result: "ok",
			Source: "admin-socket", Detail: map[string]string{"b": "2", "a": "1"}, PrevHash: []byte{1}, Hash: []byte{2},
		}, func(b []byte) (any, error) { var v AuditEntry; err := json.Unmarshal(b, &v); return v, err }},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			got, err := json.MarshalIndent(tc.rec, "", "  ")
			require.NoError(t, err)
			testkit.Golden(t, tc.file, append(got, '\n'))
			back, err := tc.back(got)
			require.NoError(t, err)
			again, err := json.MarshalIndent(back, "", "  ")
			require.NoError(t, err, "round trip")
			require.Equal(t, string(got), string(again), "round trip lost data")
		})
	}
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
	valid, err := kr.seal("user/u1", FieldTOTPSeed, []byte("seed"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(valid))
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0, 0})
	f.Add(bytes.Repeat([]byte{1}, sealedMinLen))
	f.Fuzz(func(t *testing.T, data []byte) {
		pt, err := kr.open("user/u1", FieldTOTPSeed, data)
		if err == nil {
			require.True(t, bytes.Equal(data, valid), "forged ciphertext opened to %q", pt)
		}
	})
}
