package datadir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Dir is a data dir this process holds the lock of, <data>/.lock,
// with a record of what this run created in it, so a failed init or first
// --dev run can remove exactly that and leave nothing behind.
type Dir struct {
	path  string
	lock  *os.File
	fresh bool     // this run created the directory itself
	made  []string // created by this run, in order
}

// Lock takes an exclusive lock on <data>/.lock, held for their whole
// run by every command that opens the data dir (serve, init, recover,
// reseal), before any TPM is touched: two of them never interleave on one
// data dir, and a second serve is refused with this message rather than
// with Badger's after an unseal. With create, a missing data dir is made
// (0700); without it, a missing one is an error wrapping fs.ErrNotExist.
//
// A data dir that holds an interrupted restore is refused (after the lock
// is taken, so the check does not race a running restore), naming the
// command that finishes it.
func Lock(path string, create bool) (*Dir, error) {
	d, err := LockAny(path, create)
	if err != nil {
		return nil, err
	}
	if err := RefuseUnfinishedRestore(path); err != nil {
		d.Release()
		return nil, err
	}
	return d, nil
}

// LockAny is Lock for restore, which takes over an interrupted restore
// rather than refusing it.
func LockAny(path string, create bool) (*Dir, error) {
	d := &Dir{path: path}
	if create {
		if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
			if err := os.MkdirAll(path, 0o700); err != nil {
				return nil, fmt.Errorf("daemon: create data dir: %w", err)
			}
			d.fresh = true
		}
		if err := os.Chmod(path, 0o700); err != nil {
			return nil, fmt.Errorf("daemon: data dir mode: %w", err)
		}
	}
	lockPath := filepath.Join(path, ".lock")
	if _, err := os.Lstat(lockPath); errors.Is(err, fs.ErrNotExist) {
		d.made = append(d.made, lockPath)
	}
	f, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		d.removeDir()
		return nil, fmt.Errorf("daemon: lock data dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("daemon: %s is in use by another accessd (a running serve, or an init, recover or reseal holds %s); stop it first (systemctl stop accessd) or wait for it to finish", path, lockPath)
		}
		return nil, fmt.Errorf("daemon: lock data dir: %w", err)
	}
	d.lock = f
	return d, nil
}

// Path is the data dir.
func (d *Dir) Path() string { return d.path }

// Track records a path this run created, for Undo.
func (d *Dir) Track(p string) { d.made = append(d.made, p) }

// Release drops the lock and keeps everything.
func (d *Dir) Release() {
	if d.lock != nil {
		d.lock.Close() // closing drops the lock
		d.lock = nil
	}
}

// Undo removes what this run created (all of the data dir if it made it),
// then drops the lock.
func (d *Dir) Undo() {
	if !d.removeDir() {
		for i := len(d.made) - 1; i >= 0; i-- {
			os.RemoveAll(d.made[i])
		}
	}
	d.made = nil
	d.Release()
}

func (d *Dir) removeDir() bool {
	if d.fresh {
		os.RemoveAll(d.path)
	}
	return d.fresh
}
