package seal

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"
)

// root.sealed, version 1:
//
//	magic    "ACCESSD-SEALED\n"
//	version  u8  (1)
//	kind     u8  (1 device, 2 tcp, 3 simulator)
//	created  i64 Unix seconds, UTC
//	bank     u16 TPM_ALG_SHA256 (0x000B)
//	count    u8  number of PCRs the key is bound to (0-24)
//	count ×  { index u8, value [32]byte }   ascending, at sealing time
//	-------- end of header
//	blobLen  u32
//	blob     the Sealer's opaque blob
//
// Version 2 is written only while a planned PCR change is pending: the
// same fields with version 2, and each PCR entry carries a second value,
//
//	count ×  { index u8, value [32]byte, planned [32]byte }   count ≥ 1
//
// and the key opens with either set (TPM2_PolicyOR, see policy.go). At
// least one planned value differs from its value. Once the planned values
// are in place the file is re-sealed as version 1, so version 1 stays the
// form an older accessd reads.
//
// What the TPM seals is SHA-256(header) || root key: after unsealing, the
// digest is compared with the header as read, so the TPM's integrity
// protection of the blob extends to every header byte.
const (
	sealedMagic   = "ACCESSD-SEALED\n"
	sealedVersion = 1
	// sealedVersionPlanned is the version of a file with planned values.
	sealedVersionPlanned = 2
	sealedBankSHA        = 0x000B
	maxSealedFile        = 64 << 10
)

// sealedFixedLen is the header length before the PCR entries.
const sealedFixedLen = len(sealedMagic) + 1 + 1 + 8 + 2 + 1

var kindCodes = map[Kind]byte{KindDevice: 1, KindTCP: 2, KindSimulator: 3}

func kindFromCode(c byte) (Kind, bool) {
	for k, v := range kindCodes {
		if v == c {
			return k, true
		}
	}
	return "", false
}

// SealedInfo is what root.sealed says about itself, for status output and
// for `accessd reseal` to default to the PCRs in use. It is read without the
// TPM and is not authenticated until the file is unsealed.
type SealedInfo struct {
	// Kind is the kind of TPM that sealed the file.
	Kind Kind
	// PCRs are the PCRs the key is bound to, with their values at sealing
	// time; empty when it is not bound to PCRs.
	PCRs []PCR
	// Planned, while a planned PCR change is pending, are the same PCRs
	// with the values expected after it (`accessd reseal --pcr-values`):
	// the key then opens with either PCRs's or Planned's values. Empty
	// otherwise.
	Planned []PCR
	// Created is when the file was sealed (second precision, UTC).
	Created time.Time
}

// branches returns the PCR policy the key is sealed to, as Seal takes it.
func (i SealedInfo) branches() [][]PCR {
	switch {
	case len(i.PCRs) == 0:
		return nil
	case len(i.Planned) == 0:
		return [][]PCR{i.PCRs}
	}
	return [][]PCR{i.PCRs, i.Planned}
}

// sealedFile is a parsed root.sealed.
type sealedFile struct {
	SealedInfo
	header []byte // the bytes covered by the digest
	blob   []byte
}

// encodeSealedHeader encodes the header of a root.sealed file.
func encodeSealedHeader(info SealedInfo) ([]byte, error) {
	code, ok := kindCodes[info.Kind]
	if !ok {
		return nil, fmt.Errorf("seal: unknown sealer kind %q", info.Kind)
	}
	if err := checkPolicy(info.PCRs); err != nil {
		return nil, err
	}
	version, entry := byte(sealedVersion), 1+pcrDigestSize
	if len(info.Planned) > 0 {
		if err := checkPlanned(info.PCRs, info.Planned); err != nil {
			return nil, err
		}
		version, entry = sealedVersionPlanned, 1+2*pcrDigestSize
	}
	h := make([]byte, 0, sealedFixedLen+len(info.PCRs)*entry)
	h = append(h, sealedMagic...)
	h = append(h, version, code)
	h = binary.BigEndian.AppendUint64(h, uint64(info.Created.Unix()))
	h = binary.BigEndian.AppendUint16(h, sealedBankSHA)
	h = append(h, byte(len(info.PCRs)))
	for i, p := range info.PCRs {
		h = append(h, byte(p.Index))
		h = append(h, p.Digest...)
		if len(info.Planned) > 0 {
			h = append(h, info.Planned[i].Digest...)
		}
	}
	return h, nil
}

// encodeSealed returns the bytes of a root.sealed file.
func encodeSealed(header, blob []byte) []byte {
	out := make([]byte, 0, len(header)+4+len(blob))
	out = append(out, header...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(blob)))
	return append(out, blob...)
}

// parseSealed checks the framing of a root.sealed file. Its errors are
// descriptions for wrapping in ErrTampered. The result aliases data.
func parseSealed(data []byte) (*sealedFile, error) {
	if len(data) > maxSealedFile {
		return nil, errors.New("file is too large")
	}
	if len(data) < sealedFixedLen || string(data[:len(sealedMagic)]) != sealedMagic {
		return nil, errors.New("not an accessd sealed key file")
	}
	p := len(sealedMagic)
	version := data[p]
	if version != sealedVersion && version != sealedVersionPlanned {
		return nil, fmt.Errorf("unsupported format version %d (written by a newer accessd, or damaged)", version)
	}
	entry := 1 + pcrDigestSize
	if version == sealedVersionPlanned {
		entry += pcrDigestSize
	}
	kind, ok := kindFromCode(data[p+1])
	if !ok {
		return nil, fmt.Errorf("unknown TPM kind %d", data[p+1])
	}
	created := int64(binary.BigEndian.Uint64(data[p+2:]))
	if bank := binary.BigEndian.Uint16(data[p+10:]); bank != sealedBankSHA {
		return nil, fmt.Errorf("unsupported PCR bank 0x%04x", bank)
	}
	count := int(data[p+12])
	if count > MaxPCR+1 {
		return nil, fmt.Errorf("%d PCRs listed, at most %d exist", count, MaxPCR+1)
	}
	p = sealedFixedLen
	end := p + count*entry
	if len(data) < end+4 {
		return nil, errors.New("file is truncated")
	}
	pcrs := make([]PCR, count)
	var planned []PCR
	if version == sealedVersionPlanned {
		planned = make([]PCR, count)
	}
	for i := range pcrs {
		idx := int(data[p])
		if idx > MaxPCR || (i > 0 && idx <= pcrs[i-1].Index) {
			return nil, errors.New("PCR list is not in canonical order")
		}
		pcrs[i] = PCR{Index: idx, Digest: data[p+1 : p+1+pcrDigestSize : p+1+pcrDigestSize]}
		if planned != nil {
			q := p + 1 + pcrDigestSize
			planned[i] = PCR{Index: idx, Digest: data[q : q+pcrDigestSize : q+pcrDigestSize]}
		}
		p += entry
	}
	if planned != nil {
		if err := checkPlanned(pcrs, planned); err != nil {
			return nil, err
		}
	}
	n := binary.BigEndian.Uint32(data[end:])
	blob := data[end+4:]
	if n == 0 || uint64(n) != uint64(len(blob)) {
		return nil, errors.New("TPM blob length does not match the file size")
	}
	return &sealedFile{
		SealedInfo: SealedInfo{Kind: kind, PCRs: pcrs, Planned: planned, Created: time.Unix(created, 0).UTC()},
		header:     data[:end:end],
		blob:       blob,
	}, nil
}

// hintSealedTampered is the advice for a damaged root.sealed.
const hintSealedTampered = "restore root.sealed from a backup or " + hintRecover

// WriteSealedFile seals root to s, bound to the current values of pcrs
// (none: not bound), and writes the result to path (mode 0600, atomically,
// replacing an existing file). Before writing, it unseals what it sealed
// and compares, so a file it writes is known to open on this TPM now.
// now is recorded as the creation time.
func WriteSealedFile(path string, s Sealer, root RootKey, pcrs []int, now time.Time) error {
	if !root.valid() {
		return errors.New("seal: write sealed root key: no root key given")
	}
	sel, err := normalizePCRs(pcrs)
	if err != nil {
		return err
	}
	var policy []PCR
	if len(sel) > 0 {
		if policy, err = s.ReadPCRs(sel); err != nil {
			return err
		}
	}
	return writeSealed(path, s, root, SealedInfo{Kind: s.Kind(), PCRs: policy, Created: now})
}

// writeSealed seals root to s under the policy info describes, checks that
// it unseals, and writes it to path.
func writeSealed(path string, s Sealer, root RootKey, info SealedInfo) error {
	header, err := encodeSealedHeader(info)
	if err != nil {
		return err
	}
	digest := sha256.Sum256(header)
	payload := make([]byte, 0, len(digest)+RootKeySize)
	payload = append(append(payload, digest[:]...), root.Bytes()...)
	blob, err := s.Seal(payload, info.branches()...)
	clear(payload)
	if err != nil {
		return err
	}
	data := encodeSealed(header, blob)
	_, got, err := unsealData(data, s, path)
	if err != nil {
		return fmt.Errorf("seal: verify freshly sealed root key: %w", err)
	}
	same := got.Equal(root)
	got.Destroy()
	if !same {
		return errors.New("seal: verify freshly sealed root key: the TPM returned a different key")
	}
	if err := writeFileAtomic(path, data, true); err != nil {
		return fmt.Errorf("seal: write sealed root key: %w", err)
	}
	return nil
}

// ReadSealedFile unseals the root key in path with s. Errors wrap
// ErrTampered (the file was changed or damaged), ErrWrongTPM (sealed by
// another TPM, or by this one before it was cleared) or ErrPCRMismatch (as a
// *PCRMismatchError naming the PCRs that changed); a file that was changed
// in any byte never yields a key. The SealedInfo returned with the key is
// authenticated (its header is bound into the sealed payload), unlike
// ReadSealedInfo's.
func ReadSealedFile(path string, s Sealer) (RootKey, SealedInfo, error) {
	data, err := readFileLimit(path, maxSealedFile)
	if errors.Is(err, errTooLarge) {
		return RootKey{}, SealedInfo{}, fmt.Errorf("seal: read sealed root key %s: %w: %v; %s", path, ErrTampered, err, hintSealedTampered)
	}
	if err != nil {
		return RootKey{}, SealedInfo{}, fmt.Errorf("seal: read sealed root key: %w", err)
	}
	f, root, err := unsealData(data, s, path)
	if err != nil {
		return RootKey{}, SealedInfo{}, err
	}
	return root, f.SealedInfo, nil
}

// ReadSealedInfo parses the header of path without the TPM. Nothing in it
// is authenticated until ReadSealedFile succeeds.
func ReadSealedInfo(path string) (SealedInfo, error) {
	data, err := readFileLimit(path, maxSealedFile)
	if err != nil && !errors.Is(err, errTooLarge) {
		return SealedInfo{}, fmt.Errorf("seal: read sealed root key: %w", err)
	}
	if err == nil {
		var f *sealedFile
		if f, err = parseSealed(data); err == nil {
			info := f.SealedInfo
			for i := range info.PCRs {
				info.PCRs[i].Digest = append([]byte(nil), info.PCRs[i].Digest...)
			}
			for i := range info.Planned {
				info.Planned[i].Digest = append([]byte(nil), info.Planned[i].Digest...)
			}
			return info, nil
		}
	}
	return SealedInfo{}, fmt.Errorf("seal: read sealed root key %s: %w: %v; %s", path, ErrTampered, err, hintSealedTampered)
}

// unsealData is ReadSealedFile on bytes already read.
func unsealData(data []byte, s Sealer, path string) (*sealedFile, RootKey, error) {
	f, err := parseSealed(data)
	if err != nil {
		return nil, RootKey{}, fmt.Errorf("seal: read sealed root key %s: %w: %v; %s", path, ErrTampered, err, hintSealedTampered)
	}
	if k := s.Kind(); f.Kind != k {
		return nil, RootKey{}, fmt.Errorf("seal: read sealed root key %s: %w: it was sealed by a %s TPM and this one is a %s TPM; use the [seal] device it was sealed with, or %s", path, ErrWrongTPM, f.Kind, k, hintRecover)
	}
	payload, err := s.Unseal(f.blob, f.branches()...)
	if errors.Is(err, ErrPCRMismatch) {
		return nil, RootKey{}, pcrMismatch(s, f, path, err)
	}
	if err != nil {
		return nil, RootKey{}, err
	}
	defer clear(payload)
	digest := sha256.Sum256(f.header)
	if len(payload) != len(digest)+RootKeySize || subtle.ConstantTimeCompare(payload[:len(digest)], digest[:]) != 1 {
		return nil, RootKey{}, fmt.Errorf("seal: read sealed root key %s: %w: the header does not match what was sealed; %s", path, ErrTampered, hintSealedTampered)
	}
	return f, rootKeyFrom(payload[len(digest):]), nil
}

// pcrMismatch names the PCRs whose current values differ from those
// recorded at sealing time (with a planned change pending: from the
// recorded or the planned values). If the PCRs hold the values of a branch,
// the policy the TPM enforced is not the one the header describes: the
// file was changed.
func pcrMismatch(s Sealer, f *sealedFile, path string, cause error) error {
	cur, err := s.ReadPCRs(pcrIndices(f.PCRs))
	if err != nil {
		return fmt.Errorf("%w (and reading the current PCR values failed: %w)", cause, err)
	}
	if len(cur) != len(f.PCRs) {
		return fmt.Errorf("%w (and the TPM returned %d PCR values for %d PCRs)", cause, len(cur), len(f.PCRs))
	}
	var changed []int
	matches := false
	for _, b := range f.branches() {
		n := 0
		for i, p := range b {
			if subtle.ConstantTimeCompare(p.Digest, cur[i].Digest) != 1 {
				n++
				if !slices.Contains(changed, p.Index) {
					changed = append(changed, p.Index)
				}
			}
		}
		matches = matches || n == 0
	}
	if matches {
		return fmt.Errorf("seal: read sealed root key %s: %w: the TPM's PCR policy does not match the values the header records; %s", path, ErrTampered, hintSealedTampered)
	}
	slices.Sort(changed)
	return &PCRMismatchError{Changed: changed, Planned: len(f.Planned) > 0}
}

// checkPlanned checks that planned lists the PCRs of pcrs, with at least
// one other value: the second branch of a planned change.
func checkPlanned(pcrs, planned []PCR) error {
	if len(pcrs) == 0 || len(planned) != len(pcrs) {
		return errors.New("planned PCR values must list the PCRs the key is bound to")
	}
	if err := checkPolicy(planned); err != nil {
		return err
	}
	differ := false
	for i := range pcrs {
		if planned[i].Index != pcrs[i].Index {
			return errors.New("planned PCR values must list the PCRs the key is bound to")
		}
		differ = differ || !bytes.Equal(planned[i].Digest, pcrs[i].Digest)
	}
	if !differ {
		return errors.New("planned PCR values are the same as the sealed ones")
	}
	return nil
}
