package seal_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/accessd/accessd/seal"
)

// TestRecoveryPair: a root.recovery holding the current and a pending
// wrap opens with either key, says which, refuses a third, and fails on
// every single-byte change without ever yielding a key; each wrap alone
// is a version-1 file again.
func TestRecoveryPair(t *testing.T) {
	root, _ := seal.NewRootKey(nil)
	oldKey, _ := seal.NewRecoveryKey(nil)
	newKey, _ := seal.NewRecoveryKey(nil)
	other, _ := seal.NewRecoveryKey(nil)
	current, err := seal.WrapRecovery(oldKey, root, nil)
	if err != nil {
		t.Fatal(err)
	}
	pending, err := seal.WrapRecovery(newKey, root, nil)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := seal.JoinRecoveryData(current, pending)
	if err != nil {
		t.Fatal(err)
	}
	c, p, err := seal.SplitRecoveryData(pair)
	if err != nil || !bytes.Equal(c, current) || !bytes.Equal(p, pending) {
		t.Fatalf("split(join) = %x, %x, %v", c, p, err)
	}
	c, p, err = seal.SplitRecoveryData(current)
	if err != nil || !bytes.Equal(c, current) || p != nil {
		t.Fatalf("a version-1 file: split = %x, %x, %v; want itself and no pending wrap", c, p, err)
	}
	for _, tc := range []struct {
		name string
		rk   seal.RecoveryKey
		want seal.RecoveryWrap
	}{
		{"old key", oldKey, seal.WrapCurrent},
		{"new key", newKey, seal.WrapPending},
	} {
		got, which, err := seal.OpenRecoveryData(pair, tc.rk)
		if err != nil || which != tc.want || !got.Equal(root) {
			t.Fatalf("%s: wrap %v, err %v; want wrap %v and the root key", tc.name, which, err, tc.want)
		}
		// What restore and recover call.
		if got, err := seal.UnwrapRecoveryData(pair, tc.rk); err != nil || !got.Equal(root) {
			t.Fatalf("%s: UnwrapRecoveryData: %v", tc.name, err)
		}
	}
	if _, _, err := seal.OpenRecoveryData(pair, other); !errors.Is(err, seal.ErrWrongRecoveryKey) {
		t.Fatalf("a third key: error = %v, want ErrWrongRecoveryKey", err)
	}
	path := filepath.Join(t.TempDir(), "root.recovery")
	if err := seal.WriteRecoveryData(path, pair, false); err != nil {
		t.Fatal(err)
	}
	if got, err := seal.ReadRecoveryFile(path, newKey); err != nil || !got.Equal(root) {
		t.Fatalf("ReadRecoveryFile with the new key: %v", err)
	}
	if data, err := seal.ReadRecoveryData(path); err != nil || !bytes.Equal(data, pair) {
		t.Fatalf("ReadRecoveryData: %v", err)
	}

	for i := range pair {
		for _, mask := range []byte{0x01, 0x80} {
			b := bytes.Clone(pair)
			b[i] ^= mask
			for _, rk := range []seal.RecoveryKey{oldKey, newKey} {
				got, which, err := seal.OpenRecoveryData(b, rk)
				if err == nil {
					// A change in the other wrap leaves this one whole.
					if !got.Equal(root) || (which == seal.WrapCurrent) != (i >= len(pair)-len(pending)) {
						t.Fatalf("byte %d ^ %#02x: opened wrap %v", i, mask, which)
					}
					continue
				}
				if !errors.Is(err, seal.ErrTampered) && !errors.Is(err, seal.ErrWrongRecoveryKey) {
					t.Fatalf("byte %d ^ %#02x: error = %v", i, mask, err)
				}
			}
		}
	}
	for name, b := range map[string][]byte{
		"truncated": pair[:len(pair)-1],
		"extended":  append(bytes.Clone(pair), 0),
		"one wrap":  pair[:len(pair)-len(pending)],
	} {
		if _, _, err := seal.SplitRecoveryData(b); !errors.Is(err, seal.ErrTampered) {
			t.Errorf("%s: error = %v, want ErrTampered", name, err)
		}
		if err := seal.WriteRecoveryData(filepath.Join(t.TempDir(), "x"), b, false); !errors.Is(err, seal.ErrTampered) {
			t.Errorf("%s: WriteRecoveryData error = %v, want ErrTampered", name, err)
		}
	}
	if _, err := seal.JoinRecoveryData(current, pair); !errors.Is(err, seal.ErrTampered) {
		t.Errorf("joining a pair: error = %v, want ErrTampered", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
}
