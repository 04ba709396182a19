package seal

import (
	"fmt"
	"slices"
)

// Kind says what sort of TPM sealed a file. It is recorded in root.sealed so
// that reading a file with the wrong kind of TPM fails with a message that
// names both, rather than with an opaque TPM error.
type Kind string

// The kinds of TPM Open can reach.
const (
	// KindDevice is a hardware or firmware TPM behind the kernel's resource
	// manager, e.g. /dev/tpmrm0.
	KindDevice Kind = "device"
	// KindTCP is a TPM reached over loopback TCP in the Microsoft simulator
	// framing, as swtpm serves it.
	KindTCP Kind = "tcp"
	// KindSimulator is the in-process reference TPM (cgo builds only).
	KindSimulator Kind = "simulator"
)

// MaxPCR is the highest PCR index accepted: PC Client TPMs have PCRs 0-23.
const MaxPCR = 23

// PCR is one PCR of the SHA-256 bank and its value. PCR values are public
// measurements, not secrets.
type PCR struct {
	// Index is the PCR number, 0 to MaxPCR.
	Index int
	// Digest is the 32-byte SHA-256 bank value.
	Digest []byte
}

// Sealer is what the root.sealed functions need from a TPM. *TPM is the
// implementation; the interface exists so that the file format and its
// checks are written once and the conformance suite in sealtest can run
// against every kind of TPM.
type Sealer interface {
	// Kind says what sort of TPM this is; it is recorded in root.sealed.
	Kind() Kind
	// ReadPCRs returns the current SHA-256 values of the given PCRs in
	// ascending index order (duplicates removed).
	ReadPCRs(pcrs []int) ([]PCR, error)
	// Seal returns an opaque blob that only this TPM can unseal, and only
	// while the PCRs hold the values of one branch of policy (each in
	// ascending index order; at most maxBranches). No branch, or a single
	// empty one, binds to no PCRs. Sealing to given values rather than to
	// the current ones lets a caller record exactly what the blob is bound
	// to, and seal ahead of a planned change with a second branch.
	Seal(secret []byte, policy ...[]PCR) ([]byte, error)
	// Unseal returns the secret in blob, given the branches it was sealed
	// to. It returns ErrPCRMismatch when the TPM refuses because the PCRs
	// hold the values of no branch, ErrWrongTPM when blob was sealed under
	// another TPM's storage root key, and ErrTampered when blob fails the
	// TPM's integrity checks or policy is not the one it was sealed to.
	Unseal(blob []byte, policy ...[]PCR) ([]byte, error)
}

// normalizePCRs checks that every index is a PC Client PCR and returns them
// sorted without duplicates, the canonical order of selections and policies.
func normalizePCRs(pcrs []int) ([]int, error) {
	out := make([]int, 0, len(pcrs))
	for _, p := range pcrs {
		if p < 0 || p > MaxPCR {
			return nil, fmt.Errorf("seal: PCR %d is out of range: PCRs are numbered 0 to %d", p, MaxPCR)
		}
		out = append(out, p)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// pcrIndices returns the indices of a policy.
func pcrIndices(policy []PCR) []int {
	out := make([]int, len(policy))
	for i, p := range policy {
		out[i] = p.Index
	}
	return out
}

// checkPolicy checks that a policy is canonical: strictly ascending indices
// in range, each with a SHA-256-sized digest.
func checkPolicy(policy []PCR) error {
	for i, p := range policy {
		if p.Index < 0 || p.Index > MaxPCR {
			return fmt.Errorf("seal: PCR %d is out of range: PCRs are numbered 0 to %d", p.Index, MaxPCR)
		}
		if i > 0 && p.Index <= policy[i-1].Index {
			return fmt.Errorf("seal: PCR policy must list PCRs once each in ascending order")
		}
		if len(p.Digest) != pcrDigestSize {
			return fmt.Errorf("seal: PCR %d value has %d bytes, want %d (SHA-256 bank)", p.Index, len(p.Digest), pcrDigestSize)
		}
	}
	return nil
}

// pcrDigestSize is the size of a SHA-256 bank PCR value.
const pcrDigestSize = 32
