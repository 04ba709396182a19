package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// root.recovery, version 1:
//
//	magic    "ACCESSD-RECOVERY\n"
//	version  u8  (1)
//	kdf      u8  (1 = HKDF-SHA-256)
//	aead     u8  (1 = AES-256-GCM)
//	salt     [32]byte   HKDF salt, random per file
//	check    [16]byte   HKDF(recovery key, salt, "accessd recovery check")
//	nonce    [12]byte   random
//	ctLen    u16 (48)
//	ct       AES-256-GCM(key = HKDF(recovery key, salt, "accessd recovery"),
//	                     nonce, root key, AAD = every byte above)
//
// Version 2 (recoverypending.go) holds two such wraps while a new
// recovery key is being handed over.
//
// The check value tells a wrong recovery key (ErrWrongRecoveryKey) from a
// damaged file (ErrTampered); with a 256-bit key it helps no guesser.
const (
	recoveryMagic     = "ACCESSD-RECOVERY\n"
	recoveryVersion   = 1
	recoveryKDF       = 1
	recoveryAEAD      = 1
	recoverySaltSize  = 32
	recoveryCheckSize = 16
	recoveryNonceSize = 12
	recoveryCTSize    = RootKeySize + 16
	recoveryHeaderLen = len(recoveryMagic) + 3 + recoverySaltSize + recoveryCheckSize + recoveryNonceSize + 2
	recoveryFileLen   = recoveryHeaderLen + recoveryCTSize

	recoveryInfoKey   = "accessd recovery"
	recoveryInfoCheck = "accessd recovery check"
)

// hintRecoveryTampered is the advice for a damaged root.recovery.
const hintRecoveryTampered = "restore root.recovery from a backup: the recovery key alone cannot rebuild it"

// recoveryFile is a parsed root.recovery.
type recoveryFile struct {
	header []byte // AAD: everything before ct
	salt   []byte
	check  []byte
	nonce  []byte
	ct     []byte
}

// WriteRecoveryFile writes root, wrapped by rk, to path (mode 0600,
// atomically, replacing an existing file). rand supplies the salt and nonce;
// nil means crypto/rand.
func WriteRecoveryFile(path string, rk RecoveryKey, root RootKey, rand io.Reader) error {
	data, err := encodeRecovery(rk, root, rand)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(path, data, true); err != nil {
		return fmt.Errorf("seal: write recovery file: %w", err)
	}
	return nil
}

// ReadRecoveryFile unwraps the root key in path with rk. It returns
// ErrWrongRecoveryKey when rk is not the key the file was written with, and
// ErrTampered when the file is damaged.
func ReadRecoveryFile(path string, rk RecoveryKey) (RootKey, error) {
	if !rk.valid() {
		return RootKey{}, errors.New("seal: read recovery file: no recovery key given")
	}
	data, err := readFileLimit(path, 4<<10)
	if errors.Is(err, errTooLarge) {
		return RootKey{}, fmt.Errorf("seal: read recovery file %s: %w: %v; %s", path, ErrTampered, err, hintRecoveryTampered)
	}
	if err != nil {
		return RootKey{}, fmt.Errorf("seal: read recovery file: %w", err)
	}
	root, err := decryptRecovery(data, rk)
	if err != nil {
		return RootKey{}, fmt.Errorf("seal: read recovery file %s: %w", path, err)
	}
	return root, nil
}

func encodeRecovery(rk RecoveryKey, root RootKey, r io.Reader) ([]byte, error) {
	if !rk.valid() || !root.valid() {
		return nil, errors.New("seal: write recovery file: missing recovery key or root key")
	}
	if r == nil {
		r = rand.Reader
	}
	var rnd [recoverySaltSize + recoveryNonceSize]byte
	if _, err := io.ReadFull(r, rnd[:]); err != nil {
		return nil, fmt.Errorf("seal: write recovery file: read random: %w", err)
	}
	salt, nonce := rnd[:recoverySaltSize], rnd[recoverySaltSize:]
	aead, check, err := recoveryKeys(rk, salt)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, recoveryFileLen)
	out = append(out, recoveryMagic...)
	out = append(out, recoveryVersion, recoveryKDF, recoveryAEAD)
	out = append(out, salt...)
	out = append(out, check...)
	out = append(out, nonce...)
	out = binary.BigEndian.AppendUint16(out, recoveryCTSize)
	out = aead.Seal(out, nonce, root.Bytes(), out)
	return out, nil
}

// parseRecovery checks the framing of a root.recovery file. Any failure
// wraps ErrTampered.
func parseRecovery(data []byte) (*recoveryFile, error) {
	bad := func(what string) error {
		return fmt.Errorf("%w: %s; %s", ErrTampered, what, hintRecoveryTampered)
	}
	if len(data) < len(recoveryMagic) || string(data[:len(recoveryMagic)]) != recoveryMagic {
		return nil, bad("not an accessd recovery file")
	}
	rest := data[len(recoveryMagic):]
	if len(rest) < 3 {
		return nil, bad("truncated header")
	}
	if rest[0] != recoveryVersion {
		return nil, bad(fmt.Sprintf("unsupported format version %d (written by a newer accessd, or damaged)", rest[0]))
	}
	if rest[1] != recoveryKDF || rest[2] != recoveryAEAD {
		return nil, bad("unknown key derivation or cipher")
	}
	if len(data) != recoveryFileLen {
		return nil, bad(fmt.Sprintf("%d bytes, want %d", len(data), recoveryFileLen))
	}
	rest = rest[3:]
	f := &recoveryFile{header: data[:recoveryHeaderLen:recoveryHeaderLen]}
	f.salt, rest = rest[:recoverySaltSize], rest[recoverySaltSize:]
	f.check, rest = rest[:recoveryCheckSize], rest[recoveryCheckSize:]
	f.nonce, rest = rest[:recoveryNonceSize], rest[recoveryNonceSize:]
	if binary.BigEndian.Uint16(rest) != recoveryCTSize {
		return nil, bad("wrong ciphertext length")
	}
	f.ct = rest[2:]
	return f, nil
}

// encode returns the file's bytes; parse(encode(f)) == f.
func (f *recoveryFile) encode() []byte {
	return append(append([]byte(nil), f.header...), f.ct...)
}

func decryptRecovery(data []byte, rk RecoveryKey) (RootKey, error) {
	root, _, err := openRecovery(data, rk)
	return root, err
}

// decryptRecoveryWrap unwraps one version-1 wrap.
func decryptRecoveryWrap(data []byte, rk RecoveryKey) (RootKey, error) {
	f, err := parseRecovery(data)
	if err != nil {
		return RootKey{}, err
	}
	aead, check, err := recoveryKeys(rk, f.salt)
	if err != nil {
		return RootKey{}, err
	}
	if subtle.ConstantTimeCompare(check, f.check) != 1 {
		return RootKey{}, fmt.Errorf("%w: it is not the key this root.recovery was written with (was it printed by another `accessd init`?)", ErrWrongRecoveryKey)
	}
	pt, err := aead.Open(nil, f.nonce, f.ct, f.header)
	if err != nil {
		return RootKey{}, fmt.Errorf("%w: the encrypted root key fails authentication; %s", ErrTampered, hintRecoveryTampered)
	}
	defer clear(pt)
	return rootKeyFrom(pt), nil
}

// recoveryKeys derives the AEAD and the check value from rk and salt.
func recoveryKeys(rk RecoveryKey, salt []byte) (cipher.AEAD, []byte, error) {
	key, err := hkdf.Key(sha256.New, rk.k[:], salt, recoveryInfoKey, 32)
	if err != nil {
		return nil, nil, fmt.Errorf("seal: derive recovery wrapping key: %w", err)
	}
	defer clear(key)
	check, err := hkdf.Key(sha256.New, rk.k[:], salt, recoveryInfoCheck, recoveryCheckSize)
	if err != nil {
		return nil, nil, fmt.Errorf("seal: derive recovery check value: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, nil, fmt.Errorf("seal: recovery cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, nil, fmt.Errorf("seal: recovery cipher: %w", err)
	}
	return aead, check, nil
}
