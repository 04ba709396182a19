package barrier

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
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

// BackupWriter encrypts a stream into chunks. Close writes the final
// chunk; without it the stream reads as truncated.
type BackupWriter struct {
	w       io.Writer
	aead    cipher.AEAD
	aad     []byte // header || binding
	buf     []byte // pending plaintext, at most backupChunk
	out     []byte
	counter uint64
	err     error
}

// NewBackupWriter writes a stream's header to w and returns the writer of
// its chunks, under a key derived from backupKey and a salt read from
// rand, every chunk authenticating bind as well.
func NewBackupWriter(w io.Writer, backupKey, bind []byte, rand io.Reader) (*BackupWriter, error) {
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
	return &BackupWriter{w: w, aead: aead, aad: append(header, bind...), buf: make([]byte, 0, backupChunk)}, nil
}

func (b *BackupWriter) Write(p []byte) (int, error) {
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

func (b *BackupWriter) flush(final bool) error {
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
func (b *BackupWriter) Close() error {
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

// BackupReader authenticates and decrypts a backup stream chunk by chunk;
// it releases a chunk's plaintext only after its tag verified, and reports
// io.EOF only after the final chunk and the end of the input. Every
// failure wraps ErrBadBackup.
type BackupReader struct {
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

// NewBackupReader reads a stream written with a backupKey and bind.
func NewBackupReader(r io.Reader, backupKey, bind []byte) *BackupReader {
	return &BackupReader{r: r, key: backupKey, bind: bind}
}

func (b *BackupReader) Read(p []byte) (int, error) {
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

// BadBackup is the error of a backup stream that fails: ErrBadBackup,
// what went wrong, and the cause when there is one.
func BadBackup(what string, err error) error {
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrBadBackup, what, err)
	}
	return fmt.Errorf("%w: %s", ErrBadBackup, what)
}

func (b *BackupReader) next() error {
	if b.aead == nil {
		header := make([]byte, backupHeaderLen())
		if _, err := io.ReadFull(b.r, header); err != nil {
			return BadBackup("reading header", err)
		}
		switch string(header[:len(backupMagic)]) {
		case backupMagic:
			b.aad = append(header, b.bind...)
		case backupMagicV1:
			if len(b.bind) > 0 {
				return BadBackup("a version-1 store stream under a header that claims a bound one (its parts come from different backups)", nil)
			}
			b.aad = header
		default:
			return BadBackup("not an accessd backup", nil)
		}
		aead, err := backupAEAD(b.key, header[len(backupMagic):])
		if err != nil {
			return BadBackup("deriving key", err)
		}
		b.aead = aead
	}
	var hdr [backupFrameHdr]byte
	if _, err := io.ReadFull(b.r, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return BadBackup("truncated: no final chunk", nil)
		}
		return BadBackup("reading chunk", err)
	}
	if hdr[0] > 1 {
		return BadBackup("bad chunk flag", nil)
	}
	final := hdr[0] == 1
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > backupChunk {
		return BadBackup("chunk too large", nil)
	}
	if b.buf == nil {
		b.buf = make([]byte, backupChunk+gcmTagLen)
	}
	ct := b.buf[:int(n)+gcmTagLen]
	if _, err := io.ReadFull(b.r, ct); err != nil {
		return BadBackup("truncated chunk", err)
	}
	pt, err := b.aead.Open(ct[:0], backupNonce(b.counter, final), ct, b.aad)
	if err != nil {
		return BadBackup(fmt.Sprintf("chunk %d failed authentication", b.counter), nil)
	}
	b.counter++
	if final {
		var one [1]byte
		if k, _ := io.ReadFull(b.r, one[:]); k != 0 {
			return BadBackup("data after final chunk", nil)
		}
		b.done = true
	}
	b.plain = pt
	return nil
}

// Err is the error that stopped the reader, nil while it has not failed:
// what Badger's loader may have wrapped or masked.
func (b *BackupReader) Err() error { return b.err }

// Done reports whether the final chunk was read and nothing follows it.
func (b *BackupReader) Done() bool { return b.done }

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
		return BadBackup("reading the stream's first chunk", err)
	}
	n := int(binary.BigEndian.Uint32(head[backupHeaderLen()+1:]))
	if n > backupChunk {
		return BadBackup("chunk too large", nil)
	}
	first, err := r.Peek(len(head) + n + gcmTagLen)
	if err != nil {
		return BadBackup("reading the stream's first chunk", err)
	}
	bk, err := derive(rootKey, nil, infoBackup)
	if err != nil {
		return err
	}
	defer clear(bk)
	br := NewBackupReader(bytes.NewReader(first), bk, bind)
	if err := br.next(); err != nil {
		return err
	}
	clear(br.plain)
	return nil
}
