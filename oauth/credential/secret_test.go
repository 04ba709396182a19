package credential

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// testPepper is the Pepper the store implements, with a fixed key:
// HMAC-SHA-256 over the length-prefixed purpose and the message.
type testPepper struct{ key []byte }

var _ Pepper = testPepper{}

func (p testPepper) Sum(purpose string, msg []byte) []byte {
	m := hmac.New(sha256.New, p.key)
	_ = binary.Write(m, binary.BigEndian, uint32(len(purpose)))
	m.Write([]byte(purpose))
	m.Write(msg)
	return m.Sum(nil)
}

func newTestPepper(t testing.TB) testPepper {
	k := make([]byte, 32)
	_, err := rand.Read(k)
	require.NoError(t, err)
	return testPepper{key: k}
}

func TestClientSecret(t *testing.T) {
	t.Parallel()
	p := newTestPepper(t)
	s, err := NewClientSecret(rand.Reader)
	require.NoError(t, err)
	shown := s.Reveal()
	require.True(t, strings.HasPrefix(shown, "acs_"))
	require.Len(t, shown, 4+43, "acs_ and 256 bits of base64url")
	require.True(t, wellFormedClientSecret([]byte(shown)))

	other, err := NewClientSecret(rand.Reader)
	require.NoError(t, err)
	require.NotEqual(t, shown, other.Reveal())

	// Rotation: the new secret and the old one in its grace period.
	hashes := [][]byte{other.Hash(p), s.Hash(p)}
	i, ok := VerifyClientSecret(p, []byte(shown), hashes)
	require.True(t, ok)
	require.Equal(t, 1, i)
	i, ok = VerifyClientSecret(p, []byte(other.Reveal()), hashes)
	require.True(t, ok)
	require.Equal(t, 0, i)

	// The first match wins when a hash appears twice.
	i, ok = VerifyClientSecret(p, []byte(shown), [][]byte{nil, s.Hash(p), s.Hash(p)})
	require.True(t, ok)
	require.Equal(t, 1, i)

	for _, tc := range []struct{ name, presented string }{
		{"empty", ""},
		{"no prefix", shown[4:]},
		{"other prefix", "acx_" + shown[4:]},
		{"one bit flipped", shown[:10] + string(shown[10]^1) + shown[11:]},
		{"truncated", shown[:len(shown)-1]},
		{"extended", shown + "A"},
		{"newline inside", shown[:20] + "\n" + shown[21:]},
		{"std base64", strings.NewReplacer("-", "+", "_", "/").Replace(shown)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			i, ok := VerifyClientSecret(p, []byte(tc.presented), hashes)
			require.False(t, ok)
			require.Equal(t, -1, i)
		})
	}
	// A different pepper (another appliance's root key) matches nothing.
	_, ok = VerifyClientSecret(newTestPepper(t), []byte(shown), hashes)
	require.False(t, ok)
	// A recovery-code hash of the same bytes is not a client-secret hash.
	require.NotEqual(t, p.Sum(PurposeRecoveryCode, []byte(shown)), s.Hash(p))

	s.Clear()
	require.Empty(t, s.Reveal())
}

// TestClientSecretHasNoPrintedForm checks that every way a secret could
// reach a log line or an answer by mistake prints "[redacted]" or fails.
func TestClientSecretHasNoPrintedForm(t *testing.T) {
	t.Parallel()
	s, err := NewClientSecret(rand.Reader)
	require.NoError(t, err)
	shown := s.Reveal()
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		out := fmt.Sprintf(verb, s)
		require.Equal(t, "[redacted]", out, verb)
		out = fmt.Sprintf(verb, struct{ S ClientSecret }{s})
		require.NotContains(t, out, shown[4:], verb)
	}
	_, err = json.Marshal(s)
	require.Error(t, err)
	_, err = json.Marshal(struct{ Secret ClientSecret }{s})
	require.Error(t, err, "a struct holding a secret must not encode")
	_, err = s.MarshalText()
	require.Error(t, err)

	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
		slog.New(h).Info("made", "secret", s)
	}
	require.NotContains(t, buf.String(), shown[4:])
	require.Contains(t, buf.String(), "[redacted]")
}

func TestNewClientID(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 1000 {
		id, err := NewClientID(rand.Reader)
		require.NoError(t, err)
		require.Len(t, id, ClientIDLength)
		for _, c := range id {
			require.Contains(t, clientIDAlphabet, string(c))
		}
		require.False(t, seen[id])
		seen[id] = true
	}
	_, err := NewClientID(bytes.NewReader(nil))
	require.Error(t, err)
	_, err = NewClientSecret(bytes.NewReader(make([]byte, 31)))
	require.Error(t, err)
}

func FuzzVerifyClientSecret(f *testing.F) {
	p := newTestPepper(f)
	s, err := NewClientSecret(rand.Reader)
	require.NoError(f, err)
	hashes := [][]byte{s.Hash(p)}
	f.Add([]byte(s.Reveal()))
	f.Add([]byte("acs_"))
	f.Add([]byte("acs_" + strings.Repeat("A", 43)))
	f.Add([]byte("acs_" + strings.Repeat("A", 42) + "B")) // non-zero padding bits
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, presented []byte) {
		i, ok := VerifyClientSecret(p, presented, hashes)
		require.Equal(t, string(presented) == s.Reveal(), ok, "VerifyClientSecret(%q)", presented)
		if ok {
			require.Equal(t, 0, i)
		} else {
			require.Equal(t, -1, i)
		}
	})
}

// BenchmarkVerifyClientSecret is the cost of client authentication on
// each client_credentials grant: one HMAC and two comparisons.
func BenchmarkVerifyClientSecret(b *testing.B) {
	p := newTestPepper(b)
	s, _ := NewClientSecret(rand.Reader)
	old, _ := NewClientSecret(rand.Reader)
	hashes := [][]byte{s.Hash(p), old.Hash(p)}
	presented := []byte(s.Reveal())
	for b.Loop() {
		if _, ok := VerifyClientSecret(p, presented, hashes); !ok {
			b.Fatal("no match")
		}
	}
}
