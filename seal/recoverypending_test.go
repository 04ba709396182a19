package seal_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/seal"
)

// TestRecoveryPair: a root.recovery holding the current and a pending
// wrap opens with either key, says which, refuses a third, and fails on
// every single-byte change without ever yielding a key; each wrap alone
// is a version-1 file again.
func TestRecoveryPair(t *testing.T) {
	t.Parallel()
	root, _ := seal.NewRootKey(nil)
	oldKey, _ := seal.NewRecoveryKey(nil)
	newKey, _ := seal.NewRecoveryKey(nil)
	other, _ := seal.NewRecoveryKey(nil)
	current, err := seal.WrapRecovery(oldKey, root, nil)
	require.NoError(t, err)
	pending, err := seal.WrapRecovery(newKey, root, nil)
	require.NoError(t, err)
	pair, err := seal.JoinRecoveryData(current, pending)
	require.NoError(t, err)
	c, p, err := seal.SplitRecoveryData(pair)
	require.False(t, err != nil || !bytes.Equal(c, current) || !bytes.Equal(p, pending), "split(join) = %x, %x, %v", c, p, err)
	c, p, err = seal.SplitRecoveryData(current)
	require.False(t, err != nil || !bytes.Equal(c, current) || p != nil, "a version-1 file: split = %x, %x, %v; want itself and no pending wrap", c, p, err)
	for _, tc := range []struct {
		name string
		rk   seal.RecoveryKey
		want seal.RecoveryWrap
	}{
		{"old key", oldKey, seal.WrapCurrent},
		{"new key", newKey, seal.WrapPending},
	} {
		got, which, err := seal.OpenRecoveryData(pair, tc.rk)
		require.False(t, err != nil || which != tc.want || !got.Equal(root), "%s: wrap %v, err %v; want wrap %v and the root key", tc.name, which, err, tc.want)
		// What restore and recover call.
		if got, err := seal.UnwrapRecoveryData(pair, tc.rk); err != nil || !got.Equal(root) {
			require.Fail(t, fmt.Sprintf("%s: UnwrapRecoveryData: %v", tc.name, err))
		}
	}
	if _, _, err := seal.OpenRecoveryData(pair, other); !errors.Is(err, seal.ErrWrongRecoveryKey) {
		require.Fail(t, fmt.Sprintf("a third key: error = %v, want ErrWrongRecoveryKey", err))
	}
	path := filepath.Join(t.TempDir(), "root.recovery")
	require.NoError(t, seal.WriteRecoveryData(path, pair, false))
	if got, err := seal.ReadRecoveryFile(path, newKey); err != nil || !got.Equal(root) {
		require.Fail(t, fmt.Sprintf("ReadRecoveryFile with the new key: %v", err))
	}
	if data, err := seal.ReadRecoveryData(path); err != nil || !bytes.Equal(data, pair) {
		require.Fail(t, fmt.Sprintf("ReadRecoveryData: %v", err))
	}

	for i := range pair {
		for _, mask := range []byte{0x01, 0x80} {
			b := bytes.Clone(pair)
			b[i] ^= mask
			for _, rk := range []seal.RecoveryKey{oldKey, newKey} {
				got, which, err := seal.OpenRecoveryData(b, rk)
				if err == nil {
					// A change in the other wrap leaves this one whole.
					require.False(t, !got.Equal(root) || (which == seal.WrapCurrent) != (i >= len(pair)-len(pending)), "byte %d ^ %#02x: opened wrap %v", i, mask, which)
					continue
				}
				require.False(t, !errors.Is(err, seal.ErrTampered) && !errors.Is(err, seal.ErrWrongRecoveryKey), "byte %d ^ %#02x: error = %v", i, mask, err)
			}
		}
	}
	for name, b := range map[string][]byte{
		"truncated": pair[:len(pair)-1],
		"extended":  append(bytes.Clone(pair), 0),
		"one wrap":  pair[:len(pair)-len(pending)],
	} {
		if _, _, err := seal.SplitRecoveryData(b); !errors.Is(err, seal.ErrTampered) {
			assert.Fail(t, fmt.Sprintf("%s: error = %v, want ErrTampered", name, err))
		}
		if err := seal.WriteRecoveryData(filepath.Join(t.TempDir(), "x"), b, false); !errors.Is(err, seal.ErrTampered) {
			assert.Fail(t, fmt.Sprintf("%s: WriteRecoveryData error = %v, want ErrTampered", name, err))
		}
	}
	if _, err := seal.JoinRecoveryData(current, pair); !errors.Is(err, seal.ErrTampered) {
		assert.Fail(t, fmt.Sprintf("joining a pair: error = %v, want ErrTampered", err))
	}
	if _, err := os.Stat(path); err != nil {
		require.Fail(t, fmt.Sprint(err))
	}
}
