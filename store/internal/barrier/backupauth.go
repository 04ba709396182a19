package barrier

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
)

// infoBackupContainer labels the key that authenticates what a caller
// wraps around a backup stream (the daemon's container header: its
// version, time and the wrapped root key).
const infoBackupContainer = "accessd backup container v1"

// BackupTagSize is the length of a BackupTag.
const BackupTagSize = sha256.Size

// BackupTag returns HMAC-SHA-256 of header under a key derived from the
// backup key, so that whoever wraps a backup stream in a header can have
// restore check the header under the same root key.
func (b *Barrier) BackupTag(header []byte) ([]byte, error) {
	return backupTag(b.backupKey, header)
}

// CheckBackupTag checks a BackupTag with the root key, before or without
// opening a store; a mismatch wraps ErrBadBackup.
func CheckBackupTag(rootKey, header, tag []byte) error {
	if len(rootKey) != RootKeySize {
		return fmt.Errorf("store: check backup tag: %w: root key must be %d bytes", ErrInvalid, RootKeySize)
	}
	bk, err := derive(rootKey, nil, infoBackup)
	if err != nil {
		return err
	}
	defer clear(bk)
	want, err := backupTag(bk, header)
	if err != nil {
		return err
	}
	if !hmac.Equal(want, tag) {
		return BadBackup("the header does not authenticate under this root key (altered, or its parts come from different backups)", nil)
	}
	return nil
}

func backupTag(backupKey, header []byte) ([]byte, error) {
	k, err := derive(backupKey, nil, infoBackupContainer)
	if err != nil {
		return nil, err
	}
	defer clear(k)
	h := hmac.New(sha256.New, k)
	h.Write(header)
	return h.Sum(nil), nil
}

// BackupTagFor is BackupTag computed from the root key, for a caller that
// wraps a backup before the store is open (Options.BeforeMigrate).
func BackupTagFor(rootKey, header []byte) ([]byte, error) {
	if len(rootKey) != RootKeySize {
		return nil, fmt.Errorf("store: backup tag: %w: root key must be %d bytes", ErrInvalid, RootKeySize)
	}
	bk, err := derive(rootKey, nil, infoBackup)
	if err != nil {
		return nil, err
	}
	defer clear(bk)
	return backupTag(bk, header)
}
