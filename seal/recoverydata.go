package seal

import (
	"errors"
	"fmt"
)

// RecoveryFileMaxSize bounds root.recovery as read from a file or a
// backup: the format has a fixed size far below it.
const RecoveryFileMaxSize = 4 << 10

// ReadRecoveryData returns the bytes of root.recovery at path after
// checking their framing (not their key), for a backup to carry them as
// they are. Failures of the framing wrap ErrTampered.
func ReadRecoveryData(path string) ([]byte, error) {
	data, err := readFileLimit(path, RecoveryFileMaxSize)
	if errors.Is(err, errTooLarge) {
		return nil, fmt.Errorf("seal: read recovery file %s: %w: %v; %s", path, ErrTampered, err, hintRecoveryTampered)
	}
	if err != nil {
		return nil, fmt.Errorf("seal: read recovery file: %w", err)
	}
	if _, _, err := SplitRecoveryData(data); err != nil {
		return nil, fmt.Errorf("seal: read recovery file %s: %w", path, err)
	}
	return data, nil
}

// UnwrapRecoveryData unwraps the root key in data, the bytes of a
// root.recovery (as a backup carries them), with rk. It fails as
// ReadRecoveryFile does: ErrWrongRecoveryKey or ErrTampered.
func UnwrapRecoveryData(data []byte, rk RecoveryKey) (RootKey, error) {
	if !rk.valid() {
		return RootKey{}, errors.New("seal: unwrap recovery data: no recovery key given")
	}
	root, err := decryptRecovery(data, rk)
	if err != nil {
		return RootKey{}, fmt.Errorf("seal: unwrap root key: %w", err)
	}
	return root, nil
}

// WriteRecoveryData writes data, the bytes of a root.recovery, to path
// (mode 0600, atomically); without replace it refuses to overwrite an
// existing file. Restore puts back the wrapped key a backup carried, so
// the recovery key that opened the backup goes on opening the new data
// dir; rekey-recovery puts the old file back when it could not show the
// new key.
func WriteRecoveryData(path string, data []byte, replace bool) error {
	if _, _, err := SplitRecoveryData(data); err != nil {
		return fmt.Errorf("seal: write recovery file: %w", err)
	}
	if err := writeFileAtomic(path, data, replace); err != nil {
		return fmt.Errorf("seal: write recovery file: %w", err)
	}
	return nil
}
