package barrier

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/accessd/accessd/store/internal/engine"
)

// RootKeySize is the length of the root key the store's Open and Restore
// and Derive expect: 32 bytes of uniform randomness from the sealer.
const RootKeySize = 32

// Labels of the HKDF-SHA-256 derivations from the root key. Changing any of them makes every existing store unreadable.
const (
	infoBadger     = "badger"
	infoFields     = "fields"
	infoBackup     = "backup"
	infoRecords    = "records"
	infoPepper     = "pepper"
	infoFieldTerm  = "accessd fields term "
	infoBackupData = "accessd backup stream v1"
)

// derive returns HKDF-SHA-256(secret, salt, info) truncated to 32 bytes.
// The caller owns the result and clears it.
func derive(secret, salt []byte, info string) ([]byte, error) {
	k, err := hkdf.Key(sha256.New, secret, salt, info, 32)
	if err != nil {
		return nil, fmt.Errorf("store: derive key: %w", err)
	}
	return k, nil
}

// Sealed is a field encrypted with AES-256-GCM under a term of the store's
// field keyring and bound to one record and one field name. It is stored
// as is inside the record's encoding (JSON base64); String and GoString
// describe it without ever exposing bytes, so a Sealed in a log line or a
// %v of its record shows only its term and length.
//
// Layout: version (1 byte, 1) || term (uint32, big endian) || nonce (12
// bytes) || GCM ciphertext and tag. The AAD is the 5-byte header, then the
// record key, a NUL and the field name: a ciphertext copied to another
// record or field, or relabelled with another term, does not open.
type Sealed []byte

const (
	sealedVersion   = 1
	sealedHeaderLen = 1 + 4
	gcmNonceLen     = 12
	gcmTagLen       = 16
	sealedMinLen    = sealedHeaderLen + gcmNonceLen + gcmTagLen
)

// Term reports the keyring term the field was sealed under, or 0 when the
// bytes are not a well-formed sealed field; rotation tooling uses it to
// find fields still under an old term.
func (s Sealed) Term() uint32 {
	if len(s) < sealedMinLen || s[0] != sealedVersion {
		return 0
	}
	return binary.BigEndian.Uint32(s[1:5])
}

// String describes the field without its bytes so that a Sealed reaching a
// formatter never prints ciphertext or anything derived from it.
func (s Sealed) String() string {
	if len(s) == 0 {
		return "store.Sealed(empty)"
	}
	return "store.Sealed(term " + strconv.FormatUint(uint64(s.Term()), 10) + ", " + strconv.Itoa(len(s)) + " bytes)"
}

// GoString is String for %#v, which would otherwise dump the bytes.
func (s Sealed) GoString() string { return s.String() }

// Keyring holds the field keys. Every term key is derived on demand from
// base = HKDF(root, "fields") as HKDF(base, "accessd fields term <n>"), so
// nothing but the active term number has to be stored, and any old term
// can be re-derived to open old ciphertexts.
type Keyring struct {
	mu      sync.Mutex
	base    []byte                 // cleared by wipe
	aeads   map[uint32]cipher.AEAD // expanded AES schedules; not clearable, dropped on wipe
	active  atomic.Uint32          // term used by seal
	retired atomic.Uint32          // this term and all below open nothing (Retire)
	rand    io.Reader              // nonces
}

func newKeyring(root []byte, rand io.Reader) (*Keyring, error) {
	base, err := derive(root, nil, infoFields)
	if err != nil {
		return nil, err
	}
	return &Keyring{base: base, aeads: make(map[uint32]cipher.AEAD), rand: rand}, nil
}

// aead returns the cipher of a term, deriving it on first use. The derived
// 32 bytes are cleared once the AES schedule is built.
func (k *Keyring) aead(term uint32) (cipher.AEAD, error) {
	if term == 0 || term > k.active.Load() {
		return nil, fmt.Errorf("unknown key term %d: %w", term, ErrSealedField)
	}
	if term <= k.retired.Load() {
		return nil, retiredTermError(term)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.base == nil {
		return nil, engine.ErrClosed
	}
	if a, ok := k.aeads[term]; ok {
		return a, nil
	}
	tk, err := derive(k.base, nil, infoFieldTerm+strconv.FormatUint(uint64(term), 10))
	if err != nil {
		return nil, err
	}
	defer clear(tk)
	block, err := aes.NewCipher(tk)
	if err != nil {
		return nil, fmt.Errorf("store: field cipher: %w", err)
	}
	a, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("store: field cipher: %w", err)
	}
	k.aeads[term] = a
	return a, nil
}

// wipe clears the base key and forgets the ciphers. Best-effort: the AES
// key schedules inside crypto/aes cannot be zeroed from outside and are
// left to the garbage collector.
func (k *Keyring) wipe() {
	k.mu.Lock()
	defer k.mu.Unlock()
	clear(k.base)
	k.base = nil
	clear(k.aeads)
}

// fieldAAD binds a ciphertext to its header, record and field.
func fieldAAD(header []byte, recordKey, field string) []byte {
	aad := make([]byte, 0, len(header)+len(recordKey)+1+len(field))
	aad = append(aad, header...)
	aad = append(aad, recordKey...)
	aad = append(aad, 0)
	return append(aad, field...)
}

func checkFieldNames(recordKey, field string) error {
	if recordKey == "" || field == "" {
		return fmt.Errorf("%w: empty record key or field name", ErrInvalid)
	}
	if strings.IndexByte(recordKey, 0) >= 0 || strings.IndexByte(field, 0) >= 0 {
		return fmt.Errorf("%w: NUL in record key or field name", ErrInvalid)
	}
	return nil
}

// Seal encrypts plaintext under the active term, bound to recordKey and
// field (see Sealed). The caller clears plaintext.
func (k *Keyring) Seal(recordKey, field string, plaintext []byte) (Sealed, error) {
	if err := checkFieldNames(recordKey, field); err != nil {
		return nil, err
	}
	term := k.active.Load()
	a, err := k.aead(term)
	if err != nil {
		return nil, err
	}
	out := make([]byte, sealedHeaderLen+gcmNonceLen, sealedMinLen+len(plaintext))
	out[0] = sealedVersion
	binary.BigEndian.PutUint32(out[1:5], term)
	if _, err := io.ReadFull(k.rand, out[sealedHeaderLen:]); err != nil {
		return nil, fmt.Errorf("nonce: %w", err)
	}
	nonce := out[sealedHeaderLen:]
	out = a.Seal(out, nonce, plaintext, fieldAAD(out[:sealedHeaderLen], recordKey, field))
	return Sealed(out), nil
}

// Open decrypts a field sealed for recordKey and field under any term
// from above the retired one up to the active one. Failures wrap
// ErrSealedField. The caller owns the plaintext and clears it.
func (k *Keyring) Open(recordKey, field string, s Sealed) ([]byte, error) {
	if err := checkFieldNames(recordKey, field); err != nil {
		return nil, err
	}
	if len(s) < sealedMinLen || s[0] != sealedVersion {
		return nil, fmt.Errorf("malformed: %w", ErrSealedField)
	}
	a, err := k.aead(binary.BigEndian.Uint32(s[1:5]))
	if err != nil {
		return nil, err
	}
	nonce := s[sealedHeaderLen : sealedHeaderLen+gcmNonceLen]
	pt, err := a.Open(nil, nonce, s[sealedHeaderLen+gcmNonceLen:], fieldAAD(s[:sealedHeaderLen], recordKey, field))
	if err != nil {
		return nil, fmt.Errorf("authentication failed: %w", ErrSealedField)
	}
	return pt, nil
}

// Active is the term Seal uses.
func (k *Keyring) Active() uint32 { return k.active.Load() }

// SetActive sets the term Seal uses, as the store's metadata holds it.
func (k *Keyring) SetActive(term uint32) { k.active.Store(term) }

// Advance makes term the active one unless a higher one already is:
// terms only grow, and a concurrent rotation may have gone further.
func (k *Keyring) Advance(term uint32) {
	for {
		cur := k.active.Load()
		if cur >= term || k.active.CompareAndSwap(cur, term) {
			return
		}
	}
}

// Retired is the highest retired term (0: none).
func (k *Keyring) Retired() uint32 { return k.retired.Load() }

// Retire refuses every term up to r from now on and drops their ciphers.
func (k *Keyring) Retire(r uint32) {
	for {
		cur := k.retired.Load()
		if cur >= r || k.retired.CompareAndSwap(cur, r) {
			break
		}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for t := range k.aeads {
		if t <= r {
			delete(k.aeads, t)
		}
	}
}

func retiredTermError(term uint32) error {
	return fmt.Errorf("key term %s is retired (accessctl keys rotate-fields moved every field off it): %w", strconv.FormatUint(uint64(term), 10), ErrSealedField)
}
