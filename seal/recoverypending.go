package seal

import (
	"errors"
	"fmt"
	"io"
)

// root.recovery, version 2: the same root key wrapped under two recovery
// keys, while a new key is being handed to the operator.
//
//	magic    "ACCESSD-RECOVERY\n"
//	version  u8  (2)
//	count    u8  (2)
//	current  a whole version-1 file: the wrap under the key in effect
//	pending  a whole version-1 file: the wrap under the new key
//
// Each wrap keeps its own version-1 header as its AAD, so moving a wrap
// from one file into another changes nothing an attacker could not do by
// copying the whole file; the pair adds no new way in. A rekey writes the
// pair before it shows the new key, so the key the operator held goes on
// opening the file whatever happens to the display; finishing the rekey
// writes the pending wrap alone (version 1 again), aborting it the current
// wrap alone. A file with one wrap is always written as version 1, so an
// older accessd reads it.
const (
	recoveryVersionPair = 2
	recoveryPairCount   = 2
	recoveryPairLen     = len(recoveryMagic) + 2 + 2*recoveryFileLen
)

// RecoveryWrap says which wrap of root.recovery a recovery key opened.
type RecoveryWrap int

const (
	// WrapCurrent is the wrap under the key in effect (the only one when
	// no rekey is pending).
	WrapCurrent RecoveryWrap = iota
	// WrapPending is the wrap under the new key of a rekey not yet
	// finished.
	WrapPending
)

// SplitRecoveryData checks the framing of the bytes of a root.recovery
// and returns its wraps, each a version-1 file: pending is nil unless a
// rekey is pending. The slices alias data. Failures wrap ErrTampered.
func SplitRecoveryData(data []byte) (current, pending []byte, err error) {
	bad := func(what string) error {
		return fmt.Errorf("%w: %s; %s", ErrTampered, what, hintRecoveryTampered)
	}
	if len(data) < len(recoveryMagic)+1 || string(data[:len(recoveryMagic)]) != recoveryMagic {
		return nil, nil, bad("not an accessd recovery file")
	}
	if data[len(recoveryMagic)] != recoveryVersionPair {
		if _, err := parseRecovery(data); err != nil {
			return nil, nil, err
		}
		return data, nil, nil
	}
	if len(data) != recoveryPairLen {
		return nil, nil, bad(fmt.Sprintf("%d bytes, want %d", len(data), recoveryPairLen))
	}
	if data[len(recoveryMagic)+1] != recoveryPairCount {
		return nil, nil, bad("wrong number of wraps")
	}
	rest := data[len(recoveryMagic)+2:]
	current, pending = rest[:recoveryFileLen:recoveryFileLen], rest[recoveryFileLen:]
	for _, w := range [][]byte{current, pending} {
		if _, err := parseRecovery(w); err != nil {
			return nil, nil, err
		}
	}
	return current, pending, nil
}

// JoinRecoveryData returns the bytes of a root.recovery holding both
// wraps (version-1 files, as SplitRecoveryData returns them).
func JoinRecoveryData(current, pending []byte) ([]byte, error) {
	for _, w := range [][]byte{current, pending} {
		if _, err := parseRecovery(w); err != nil {
			return nil, fmt.Errorf("seal: join recovery wraps: %w", err)
		}
	}
	out := make([]byte, 0, recoveryPairLen)
	out = append(out, recoveryMagic...)
	out = append(out, recoveryVersionPair, recoveryPairCount)
	out = append(out, current...)
	return append(out, pending...), nil
}

// WrapRecovery returns root wrapped by rk as the bytes of a version-1
// root.recovery, without writing it. rand nil means crypto/rand.
func WrapRecovery(rk RecoveryKey, root RootKey, rand io.Reader) ([]byte, error) {
	return encodeRecovery(rk, root, rand)
}

// OpenRecoveryData unwraps the root key in data, the bytes of a
// root.recovery of either version, with rk, and says which wrap opened.
// It fails with ErrWrongRecoveryKey when rk opens neither, ErrTampered
// when the file or the wrap rk matches is damaged.
func OpenRecoveryData(data []byte, rk RecoveryKey) (RootKey, RecoveryWrap, error) {
	if !rk.valid() {
		return RootKey{}, 0, errors.New("seal: open recovery data: no recovery key given")
	}
	root, which, err := openRecovery(data, rk)
	if err != nil {
		return RootKey{}, 0, fmt.Errorf("seal: open recovery data: %w", err)
	}
	return root, which, nil
}

// openRecovery tries rk on the current wrap, then on the pending one.
func openRecovery(data []byte, rk RecoveryKey) (RootKey, RecoveryWrap, error) {
	current, pending, err := SplitRecoveryData(data)
	if err != nil {
		return RootKey{}, 0, err
	}
	root, err := decryptRecoveryWrap(current, rk)
	if pending == nil || !errors.Is(err, ErrWrongRecoveryKey) {
		return root, WrapCurrent, err
	}
	root, err = decryptRecoveryWrap(pending, rk)
	if errors.Is(err, ErrWrongRecoveryKey) {
		return RootKey{}, 0, fmt.Errorf("%w: it opens neither the current wrap of this root.recovery nor the new one of the pending rekey-recovery", ErrWrongRecoveryKey)
	}
	return root, WrapPending, err
}
