package seal

import (
	"crypto/sha256"
	"fmt"

	"github.com/google/go-tpm/tpm2"
)

// ExtendPCR extends a PCR of t's SHA-256 bank with SHA-256(data). It exists
// for tests only: production code never changes PCRs.
func ExtendPCR(t *TPM, pcr int, data []byte) error {
	if err := t.lock(); err != nil {
		return err
	}
	defer t.mu.Unlock()
	d := sha256.Sum256(data)
	_, err := tpm2.PCRExtend{
		PCRHandle: tpm2.AuthHandle{Handle: tpm2.TPMHandle(pcr), Auth: tpm2.PasswordAuth(nil)},
		Digests:   tpm2.TPMLDigestValues{Digests: []tpm2.TPMTHA{{HashAlg: tpm2.TPMAlgSHA256, Digest: d[:]}}},
	}.Execute(t.tpm)
	if err != nil {
		return fmt.Errorf("extend PCR %d: %w", pcr, err)
	}
	return nil
}

// ResetPCR resets a resettable PCR (16 or 23 at locality 0).
func ResetPCR(t *TPM, pcr int) error {
	if err := t.lock(); err != nil {
		return err
	}
	defer t.mu.Unlock()
	_, err := tpm2.PCRReset{
		PCRHandle: tpm2.AuthHandle{Handle: tpm2.TPMHandle(pcr), Auth: tpm2.PasswordAuth(nil)},
	}.Execute(t.tpm)
	return err
}

// Exported for the tests of the file formats.
var (
	EncodeSealed       = encodeSealed
	EncodeSealedHeader = encodeSealedHeader
	ParseBlob          = parseBlob
	EncodeRecovery     = encodeRecovery
	DecryptRecovery    = decryptRecovery
	TCPAddressAllow    = tcpAddress
	DeviceError        = deviceError
)

// SealedParts returns the header, blob and info of a parsed root.sealed.
func SealedParts(data []byte) (header, blob []byte, info SealedInfo, err error) {
	f, err := parseSealed(data)
	if err != nil {
		return nil, nil, SealedInfo{}, err
	}
	return f.header, f.blob, f.SealedInfo, nil
}

// RecoveryEncode re-encodes a parsed root.recovery.
func RecoveryEncode(data []byte) ([]byte, error) {
	f, err := parseRecovery(data)
	if err != nil {
		return nil, err
	}
	return f.encode(), nil
}

// RelabelShare returns a copy of s claiming threshold m (its checksum
// made anew), for the test that fewer than M shares say nothing.
func RelabelShare(s RecoveryShare, m int) RecoveryShare {
	b := new([shareLen]byte)
	*b = *s.b
	b[5] = byte(m)
	c := shareCheck(b[:shareLen-shareCheckLen])
	copy(b[shareLen-shareCheckLen:], c[:])
	return RecoveryShare{b: b}
}
