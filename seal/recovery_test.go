package seal_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/seal"
	"github.com/accessd/accessd/store/storetest/testkit"
)

func TestRecoveryKeyGolden(t *testing.T) {
	t.Parallel()
	rk := goldenRecoveryKey(t)
	text := rk.Reveal()
	testkit.Golden(t, "recovery-key.golden", []byte(text+"\n"))
	groups := strings.Split(text, "-")
	require.Len(t, groups, 10, "%d groups, want 10", len(groups))
	for _, g := range groups {
		require.False(t, len(g) != 6 || strings.Trim(g, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") != "", "group %q is not 6 characters of the base32 alphabet", g)
	}
}

// keyWithLetters returns a recovery key whose text contains every letter in
// letters, so that the digit-for-letter rules can be tested.
func keyWithLetters(t *testing.T, letters string) (seal.RecoveryKey, string) {
	t.Helper()
	seed := goldenBytes("letters")
	for i := 0; i < 10000; i++ {
		seed2 := sha256.Sum256(seed)
		seed = seed2[:]
		rk, err := seal.NewRecoveryKey(bytes.NewReader(seed))
		require.NoError(t, err)
		text := rk.Reveal()
		ok := true
		for _, c := range letters {
			ok = ok && strings.ContainsRune(text[:len(text)-1], c)
		}
		if ok {
			return rk, text
		}
	}
	require.Fail(t, "no key found")
	return seal.RecoveryKey{}, ""
}

func TestParseRecoveryKey(t *testing.T) {
	t.Parallel()
	rk, text := keyWithLetters(t, "OIB")
	// replaceOne replaces the first old in the key (not the last character).
	replaceOne := func(old, new string) string {
		i := strings.Index(text[:len(text)-1], old)
		return text[:i] + new + text[i+1:]
	}
	// changeOne replaces character i with another letter of the alphabet.
	changeOne := func(i int) string {
		c := byte('A')
		if text[i] == 'A' {
			c = 'C'
		}
		return text[:i] + string(c) + text[i+1:]
	}
	swapped := []byte(text)
	for i := 0; i+1 < len(swapped); i++ {
		if swapped[i] != swapped[i+1] && swapped[i] != '-' && swapped[i+1] != '-' {
			swapped[i], swapped[i+1] = swapped[i+1], swapped[i]
			break
		}
	}
	// The last character holds one bit of the checksum and four zero bits;
	// setting a zero bit keeps the decoded bytes but is not canonical.
	last := text[len(text)-1]
	alphabet := "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	nonCanonical := text[:len(text)-1] + string(alphabet[strings.IndexByte(alphabet, last)|1])

	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"canonical", text, true},
		{"lower case", strings.ToLower(text), true},
		{"no dashes", strings.ReplaceAll(text, "-", ""), true},
		{"spaces", strings.ReplaceAll(text, "-", " "), true},
		{"surrounding whitespace", "\n  " + text + " \r\n", true},
		{"line breaks", strings.ReplaceAll(text, "-", "\n"), true},
		{"zero for O", replaceOne("O", "0"), true},
		{"one for I", replaceOne("I", "1"), true},
		{"eight for B", replaceOne("B", "8"), true},
		{"one letter changed", changeOne(20), false},
		{"first letter changed", changeOne(0), false},
		{"adjacent letters swapped", string(swapped), false},
		{"one letter missing", text[:len(text)-1], false},
		{"one letter extra", text + "A", false},
		{"nine", text[:10] + "9" + text[11:], false},
		{"punctuation", text[:10] + "!" + text[11:], false},
		{"non-canonical last letter", nonCanonical, false},
		{"empty", "", false},
		{"two keys", text + text, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := seal.ParseRecoveryKey(tt.in)
			if tt.ok {
				require.NoError(t, err, "ParseRecoveryKey: %v", err)
				require.True(t, got.Equal(rk), "parsed a different key")
				return
			}
			require.ErrorIs(t, err, seal.ErrRecoveryKeyFormat, "error = %v, want ErrRecoveryKeyFormat", err)
			assert.Contains(t, err.Error(), "check for typos", "error %q should say to check for typos", err)
			for _, g := range strings.Split(text, "-") {
				assert.NotContains(t, strings.ToUpper(err.Error()), g, "error %q quotes part of the key", err)
			}
		})
	}
}

func TestRecoveryFileRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "root.recovery")
	root, _ := seal.NewRootKey(nil)
	rk, _ := seal.NewRecoveryKey(nil)
	require.NoError(t, seal.WriteRecoveryFile(path, rk, root, nil))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.EqualValues(t, 0o600, fi.Mode().Perm(), "mode = %v, want 0600", fi.Mode().Perm())
	got, err := seal.ReadRecoveryFile(path, rk)
	require.NoError(t, err)
	require.True(t, got.Equal(root), "different root key")

	other, _ := seal.NewRecoveryKey(nil)
	if _, err := seal.ReadRecoveryFile(path, other); !errors.Is(err, seal.ErrWrongRecoveryKey) {
		require.Fail(t, fmt.Sprintf("wrong key: error = %v, want ErrWrongRecoveryKey", err))
	}
	if _, err := seal.ReadRecoveryFile(filepath.Join(dir, "missing"), rk); !errors.Is(err, fs.ErrNotExist) || errors.Is(err, seal.ErrTampered) {
		require.Fail(t, fmt.Sprintf("missing file: error = %v, want fs.ErrNotExist", err))
	}

	// Every single-byte change fails, and never yields a key.
	orig, _ := os.ReadFile(path)
	flipped := filepath.Join(dir, "flipped")
	for i := range orig {
		for _, mask := range []byte{0x01, 0x80} {
			b := bytes.Clone(orig)
			b[i] ^= mask
			require.NoError(t, os.WriteFile(flipped, b, 0o600))
			_, err := seal.ReadRecoveryFile(flipped, rk)
			require.Error(t, err, "byte %d ^ %#02x: ReadRecoveryFile succeeded", i, mask)
			require.False(t, !errors.Is(err, seal.ErrTampered) && !errors.Is(err, seal.ErrWrongRecoveryKey), "byte %d ^ %#02x: error = %v", i, mask, err)
		}
	}
	for name, b := range map[string][]byte{
		"empty":     nil,
		"truncated": orig[:len(orig)-1],
		"extended":  append(bytes.Clone(orig), 0),
		"large":     bytes.Repeat([]byte{'A'}, 1<<20),
	} {
		require.NoError(t, os.WriteFile(flipped, b, 0o600))
		if _, err := seal.ReadRecoveryFile(flipped, rk); !errors.Is(err, seal.ErrTampered) {
			assert.Fail(t, fmt.Sprintf("%s: error = %v, want ErrTampered", name, err))
		}
	}
}

// fixedRand is the salt and nonce of the golden recovery file.
func fixedRand() *bytes.Reader {
	return bytes.NewReader(append(goldenBytes("salt"), goldenBytes("nonce")[:12]...))
}

func TestRecoveryFileGolden(t *testing.T) {
	t.Parallel()
	data, err := seal.EncodeRecovery(goldenRecoveryKey(t), goldenRootKey(t), fixedRand())
	require.NoError(t, err)
	testkit.Golden(t, "root.recovery.golden", data)
	got, err := seal.ReadRecoveryFile("testdata/root.recovery.golden", goldenRecoveryKey(t))
	require.NoError(t, err)
	require.True(t, got.Equal(goldenRootKey(t)), "golden recovery file unwrapped to a different key")
}

func FuzzParseRecoveryKey(f *testing.F) {
	text := goldenRecoveryKey(f).Reveal()
	f.Add(text)
	f.Add(strings.ToLower(text))
	f.Add(strings.ReplaceAll(text, "-", " "))
	f.Add(text[:30])
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		rk, err := seal.ParseRecoveryKey(s)
		if err != nil {
			require.ErrorIs(t, err, seal.ErrRecoveryKeyFormat, "error %v does not wrap ErrRecoveryKeyFormat", err)
			return
		}
		again, err := seal.ParseRecoveryKey(rk.Reveal())
		require.False(t, err != nil || !again.Equal(rk), "Reveal of a parsed key does not parse back: %v", err)
	})
}

func FuzzParseRecoveryFile(f *testing.F) {
	data, err := os.ReadFile("testdata/root.recovery.golden")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add(data[:40])
	f.Add([]byte("ACCESSD-RECOVERY\n"))
	rk, root := goldenRecoveryKey(f), goldenRootKey(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if enc, err := seal.RecoveryEncode(b); err == nil && !bytes.Equal(enc, b) {
			require.Fail(t, "parse/encode does not round-trip")
		}
		got, err := seal.DecryptRecovery(b, rk)
		require.False(t, err == nil && !got.Equal(root), "decrypted to a key other than the one sealed")
		require.False(t, err != nil && !errors.Is(err, seal.ErrTampered) && !errors.Is(err, seal.ErrWrongRecoveryKey), "error %v is neither ErrTampered nor ErrWrongRecoveryKey", err)
	})
}

func TestRecoveryKeyBytesForms(t *testing.T) {
	t.Parallel()
	rk, err := seal.NewRecoveryKey(nil)
	require.NoError(t, err)
	buf := make([]byte, 0, seal.RecoveryTextSize)
	text := rk.AppendReveal(buf)
	require.False(t, len(text) != seal.RecoveryTextSize || string(text) != rk.Reveal(), "AppendReveal gave %d bytes, want the %d of Reveal", len(text), seal.RecoveryTextSize)
	require.Same(t, &buf[:1][0], &text[0], "AppendReveal reallocated a buffer that had room")
	back, err := seal.ParseRecoveryKey(text)
	require.False(t, err != nil || !back.Equal(rk), "ParseRecoveryKey([]byte) = %v", err)
}
