package store

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/dgraph-io/badger/v4"
)

// Backup stream format (version 2; version 1 differs only where said):
//
//	header: magic "accessd-backup-2\n" (17 bytes) || salt (32 random bytes)
//	chunks: flag (1 byte: 0 more, 1 final) || n (uint32 BE, <= 64 KiB)
//	        || AES-256-GCM(n bytes plaintext) with its 16-byte tag
//
// The chunk key is HKDF-SHA-256(HKDF(root, "backup"), salt, "accessd
// backup stream v1"): a fresh key per stream, so the counter nonces below
// never repeat under one key. The nonce of chunk i is i as an 11-byte big
// endian counter followed by the flag byte, and the AAD of every chunk is
// the header followed by the caller's binding: bytes the caller wraps
// around the stream and authenticates itself (the daemon's container tag),
// so a stream opens only under the container it was written for. Version
// 1 ("accessd-backup-1\n") had no binding: its AAD is the header alone;
// it is still read, never written. Reordered, dropped, duplicated or altered chunks fail
// authentication; a stream that ends before a chunk flagged final is
// truncated; bytes after the final chunk are refused. The plaintext is
// Badger's backup format (DB.Backup), loaded back with DB.Load.
const (
	backupMagic    = "accessd-backup-2\n"
	backupMagicV1  = "accessd-backup-1\n"
	backupSaltLen  = 32
	backupChunk    = 64 << 10
	backupFrameHdr = 1 + 4
)

func backupHeaderLen() int { return len(backupMagic) + backupSaltLen }

func backupAEAD(backupKey, salt []byte) (cipher.AEAD, error) {
	k, err := derive(backupKey, salt, infoBackupData)
	if err != nil {
		return nil, err
	}
	defer clear(k)
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func backupNonce(counter uint64, final bool) []byte {
	var n [gcmNonceLen]byte
	binary.BigEndian.PutUint64(n[3:11], counter)
	if final {
		n[11] = 1
	}
	return n[:]
}

// backupWriter encrypts a stream into chunks. Close writes the final
// chunk; without it the stream reads as truncated.
type backupWriter struct {
	w       io.Writer
	aead    cipher.AEAD
	aad     []byte // header || binding
	buf     []byte // pending plaintext, at most backupChunk
	out     []byte
	counter uint64
	err     error
}

func newBackupWriter(w io.Writer, backupKey, bind []byte, rand io.Reader) (*backupWriter, error) {
	header := make([]byte, backupHeaderLen())
	copy(header, backupMagic)
	if _, err := io.ReadFull(rand, header[len(backupMagic):]); err != nil {
		return nil, fmt.Errorf("salt: %w", err)
	}
	aead, err := backupAEAD(backupKey, header[len(backupMagic):])
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(header); err != nil {
		return nil, err
	}
	return &backupWriter{w: w, aead: aead, aad: append(header, bind...), buf: make([]byte, 0, backupChunk)}, nil
}

func (b *backupWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 && b.err == nil {
		// A full buffer is flushed only once more data arrives, so the
		// last chunk is always the one Close flags final.
		if len(b.buf) == backupChunk {
			b.err = b.flush(false)
			continue
		}
		c := copy(b.buf[len(b.buf):backupChunk], p)
		b.buf = b.buf[:len(b.buf)+c]
		p = p[c:]
		n += c
	}
	return n, b.err
}

func (b *backupWriter) flush(final bool) error {
	var flag byte
	if final {
		flag = 1
	}
	b.out = append(b.out[:0], flag, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(b.out[1:5], uint32(len(b.buf)))
	b.out = b.aead.Seal(b.out, backupNonce(b.counter, final), b.buf, b.aad)
	b.counter++
	clear(b.buf)
	b.buf = b.buf[:0]
	_, err := b.w.Write(b.out)
	return err
}

// Close writes the final chunk.
func (b *backupWriter) Close() error {
	if b.err != nil {
		return b.err
	}
	b.err = b.flush(true)
	if b.err == nil {
		b.err = errors.New("backup writer closed")
		return nil
	}
	return b.err
}

// backupReader authenticates and decrypts a backup stream chunk by chunk;
// it releases a chunk's plaintext only after its tag verified, and reports
// io.EOF only after the final chunk and the end of the input. Every
// failure wraps ErrBadBackup.
type backupReader struct {
	r       io.Reader
	key     []byte
	bind    []byte
	aead    cipher.AEAD
	aad     []byte // header || bind
	buf     []byte // ciphertext of the current chunk
	plain   []byte // unread plaintext
	counter uint64
	done    bool
	err     error
}

func newBackupReader(r io.Reader, backupKey, bind []byte) *backupReader {
	return &backupReader{r: r, key: backupKey, bind: bind}
}

func (b *backupReader) Read(p []byte) (int, error) {
	for len(b.plain) == 0 {
		if b.err != nil {
			return 0, b.err
		}
		if b.done {
			return 0, io.EOF
		}
		b.err = b.next()
	}
	n := copy(p, b.plain)
	b.plain = b.plain[n:]
	return n, nil
}

func badBackup(what string, err error) error {
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrBadBackup, what, err)
	}
	return fmt.Errorf("%w: %s", ErrBadBackup, what)
}

func (b *backupReader) next() error {
	if b.aead == nil {
		header := make([]byte, backupHeaderLen())
		if _, err := io.ReadFull(b.r, header); err != nil {
			return badBackup("reading header", err)
		}
		switch string(header[:len(backupMagic)]) {
		case backupMagic:
			b.aad = append(header, b.bind...)
		case backupMagicV1:
			if len(b.bind) > 0 {
				return badBackup("a version-1 store stream under a header that claims a bound one (its parts come from different backups)", nil)
			}
			b.aad = header
		default:
			return badBackup("not an accessd backup", nil)
		}
		aead, err := backupAEAD(b.key, header[len(backupMagic):])
		if err != nil {
			return badBackup("deriving key", err)
		}
		b.aead = aead
	}
	var hdr [backupFrameHdr]byte
	if _, err := io.ReadFull(b.r, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return badBackup("truncated: no final chunk", nil)
		}
		return badBackup("reading chunk", err)
	}
	if hdr[0] > 1 {
		return badBackup("bad chunk flag", nil)
	}
	final := hdr[0] == 1
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > backupChunk {
		return badBackup("chunk too large", nil)
	}
	if b.buf == nil {
		b.buf = make([]byte, backupChunk+gcmTagLen)
	}
	ct := b.buf[:int(n)+gcmTagLen]
	if _, err := io.ReadFull(b.r, ct); err != nil {
		return badBackup("truncated chunk", err)
	}
	pt, err := b.aead.Open(ct[:0], backupNonce(b.counter, final), ct, b.aad)
	if err != nil {
		return badBackup(fmt.Sprintf("chunk %d failed authentication", b.counter), nil)
	}
	b.counter++
	if final {
		var one [1]byte
		if k, _ := io.ReadFull(b.r, one[:]); k != 0 {
			return badBackup("data after final chunk", nil)
		}
		b.done = true
	}
	b.plain = pt
	return nil
}

// Backup writes a consistent snapshot of the whole store to w, encrypted
// under a key derived from the root key (format above). It runs online:
// writers go on while it streams, and the snapshot is the state at its
// start. The stream holds field ciphertexts as stored, so a restore with
// the same root key opens them.
func (b Barrier) Backup(w io.Writer) error { return b.BackupBound(w, nil) }

// BackupBound is Backup with a binding: every chunk authenticates bind as
// well, so only RestoreBound with the same bind opens the stream. A caller
// that wraps the stream in a header of its own passes the header's MAC,
// and a header then cannot be moved onto another backup's stream.
func (b Barrier) BackupBound(w io.Writer, bind []byte) error {
	s := b.s
	if err := s.eng.acquire(); err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	defer s.eng.mu.RUnlock()
	return b.backupLocked(w, bind)
}

// backupLocked is BackupBound for callers that hold the store open (Open
// itself, before a migration).
func (b Barrier) backupLocked(w io.Writer, bind []byte) error {
	s := b.s
	bw, err := newBackupWriter(w, s.keys.backupKey, bind, s.rand)
	if err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	if _, err := s.eng.db.Backup(bw, 0); err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	if err := bw.Close(); err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	return nil
}

// Restore loads a stream written by Backup into dir, which must be absent
// or an empty directory (ErrNotEmpty otherwise): restoring never merges
// into or overwrites a store. It loads into a fresh directory beside dir
// and renames it into place only after the whole stream authenticated
// and loaded, so a failed restore (ErrBadBackup for a tampered, truncated
// or foreign stream) leaves dir as it was. rootKey must be the key of the
// store that was backed up; the caller keeps and zeroes it.
func Restore(r io.Reader, dir string, rootKey []byte) error {
	return RestoreBound(r, dir, rootKey, nil)
}

// RestoreBound is Restore for a stream written by BackupBound with bind;
// a stream written with another binding fails authentication at its first
// chunk (ErrBadBackup). A nil bind also reads a version-1 stream.
func RestoreBound(r io.Reader, dir string, rootKey, bind []byte) error {
	if len(rootKey) != RootKeySize {
		return fmt.Errorf("store: restore: %w: root key must be %d bytes", ErrInvalid, RootKeySize)
	}
	dir = filepath.Clean(dir)
	exists := false
	switch entries, err := os.ReadDir(dir); {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("store: restore: %w", err)
	case len(entries) > 0:
		return fmt.Errorf("store: restore into %s: %w", dir, ErrNotEmpty)
	default:
		exists = true
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".restore-")
	if err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	if err := restoreInto(r, tmp, rootKey, bind); err != nil {
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("store: restore: %w", err)
	}
	if exists {
		if err := os.Remove(dir); err != nil { // fails if it is no longer empty
			_ = os.RemoveAll(tmp)
			return fmt.Errorf("store: restore into %s: %w", dir, err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("store: restore: %w", err)
	}
	return nil
}

func restoreInto(r io.Reader, dir string, rootKey, bind []byte) error {
	masterKey, err := derive(rootKey, nil, infoBadger)
	if err != nil {
		return err
	}
	defer clear(masterKey)
	backupKey, err := derive(rootKey, nil, infoBackup)
	if err != nil {
		return err
	}
	defer clear(backupKey)
	mac := &recordMAC{}
	if mac.key, err = derive(rootKey, nil, infoRecords); err != nil {
		return err
	}
	defer mac.wipe()
	db, err := badger.Open(badgerOptions(dir, masterKey, slog.Default()))
	if err != nil {
		return err
	}
	br := newBackupReader(bufio.NewReaderSize(r, 64<<10), backupKey, bind)
	err = db.Load(br, 64)
	if br.err != nil { // Badger may have wrapped or masked the reader's error
		err = br.err
	}
	if err == nil && !br.done {
		err = badBackup("stream ended early", nil)
	}
	if err == nil {
		err = db.View(func(txn *badger.Txn) error {
			if _, err := mac.getUint64(txn, metaFormat); err != nil {
				return badBackup("no store metadata", err)
			}
			return nil
		})
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return err
}

// BackupPeekSize is how many bytes CheckBackupStart may peek: a bufio
// reader passed to it must be at least this large.
const BackupPeekSize = len(backupMagic) + backupSaltLen + backupFrameHdr + backupChunk + gcmTagLen

// CheckBackupStart authenticates the header and first chunk of a stream
// under rootKey and bind without consuming them (r's buffer must hold
// BackupPeekSize bytes), so that a caller can refuse a stream that belongs
// to another header before it writes anything. Failures wrap ErrBadBackup.
func CheckBackupStart(r *bufio.Reader, rootKey, bind []byte) error {
	if len(rootKey) != RootKeySize {
		return fmt.Errorf("store: check backup: %w: root key must be %d bytes", ErrInvalid, RootKeySize)
	}
	if r.Size() < BackupPeekSize {
		return fmt.Errorf("store: check backup: %w: reader buffer of %d bytes, need %d", ErrInvalid, r.Size(), BackupPeekSize)
	}
	head, err := r.Peek(backupHeaderLen() + backupFrameHdr)
	if err != nil {
		return badBackup("reading the stream's first chunk", err)
	}
	n := int(binary.BigEndian.Uint32(head[backupHeaderLen()+1:]))
	if n > backupChunk {
		return badBackup("chunk too large", nil)
	}
	first, err := r.Peek(len(head) + n + gcmTagLen)
	if err != nil {
		return badBackup("reading the stream's first chunk", err)
	}
	bk, err := derive(rootKey, nil, infoBackup)
	if err != nil {
		return err
	}
	defer clear(bk)
	br := newBackupReader(bytes.NewReader(first), bk, bind)
	if err := br.next(); err != nil {
		return err
	}
	clear(br.plain)
	return nil
}
