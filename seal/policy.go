package seal

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// A PCR policy is a list of branches, each a set of PCR values. The TPM
// releases a sealed object while the PCRs hold the values of any one
// branch. One branch is TPM2_PolicyPCR, as every root.sealed had before
// planned changes existed; two are TPM2_PolicyOR over one TPM2_PolicyPCR
// per branch, used only while a planned change is pending (see the package
// doc, "Planned PCR changes").

// maxBranches is TPM2_PolicyOR's limit on the digests it chooses from.
const maxBranches = 8

// checkBranches checks each branch of a policy and returns them, with the
// unbound policy (no branch, or one empty branch) as nil. A second branch
// with no PCRs would unbind the key, so it is refused.
func checkBranches(policy [][]PCR) ([][]PCR, error) {
	if len(policy) == 0 || (len(policy) == 1 && len(policy[0]) == 0) {
		return nil, nil
	}
	if len(policy) > maxBranches {
		return nil, fmt.Errorf("seal: a PCR policy has at most %d branches, got %d", maxBranches, len(policy))
	}
	for _, b := range policy {
		if len(b) == 0 {
			return nil, errors.New("seal: a branch of a PCR policy binds no PCRs, which would leave the key unbound; bind every branch to PCRs")
		}
		if err := checkPolicy(b); err != nil {
			return nil, err
		}
	}
	return policy, nil
}

// pcrValuesDigest is the pcrDigest of TPM2_PolicyPCR: SHA-256 over the
// values in selection order.
func pcrValuesDigest(branch []PCR) []byte {
	h := sha256.New()
	for _, p := range branch {
		h.Write(p.Digest)
	}
	return h.Sum(nil)
}

// branchDigest is the policy digest of TPM2_PolicyPCR over branch, from a
// fresh session.
func branchDigest(branch []PCR) ([]byte, error) {
	calc, err := tpm2.NewPolicyCalculator(tpm2.TPMAlgSHA256)
	if err != nil {
		return nil, err
	}
	cmd := tpm2.PolicyPCR{
		PcrDigest: tpm2.TPM2BDigest{Buffer: pcrValuesDigest(branch)},
		Pcrs:      pcrSelection(pcrIndices(branch)),
	}
	if err := cmd.Update(calc); err != nil {
		return nil, err
	}
	return calc.Hash().Digest, nil
}

// orList is the pHashList of TPM2_PolicyOR: one branch digest each.
func orList(branches [][]PCR) (tpm2.TPMLDigest, error) {
	var list tpm2.TPMLDigest
	for _, b := range branches {
		d, err := branchDigest(b)
		if err != nil {
			return list, err
		}
		list.Digests = append(list.Digests, tpm2.TPM2BDigest{Buffer: d})
	}
	return list, nil
}

// policyDigest computes the authPolicy of a sealed object: nil when
// unbound, the TPM2_PolicyPCR digest for one branch, and TPM2_PolicyOR
// over the branch digests for more.
func policyDigest(branches [][]PCR) ([]byte, error) {
	switch len(branches) {
	case 0:
		return nil, nil
	case 1:
		return branchDigest(branches[0])
	}
	list, err := orList(branches)
	if err != nil {
		return nil, err
	}
	calc, err := tpm2.NewPolicyCalculator(tpm2.TPMAlgSHA256)
	if err != nil {
		return nil, err
	}
	if err := (tpm2.PolicyOr{PHashList: list}).Update(calc); err != nil {
		return nil, err
	}
	return calc.Hash().Digest, nil
}

// satisfyPolicy brings policy session sess to the object's authPolicy. For
// each branch in turn it runs TPM2_PolicyPCR with the branch's values: the
// TPM compares them with the PCRs' current values and refuses a branch that
// differs (TPM_RC_VALUE), leaving the session as it was, so the next branch
// can be tried in the same session. With several branches, TPM2_PolicyOR
// then replaces the session digest by the OR of all of them. The TPM makes
// every decision; a wrong branch list only yields a digest the object's
// policy does not accept.
func satisfyPolicy(tp transport.TPM, sess tpm2.TPMHandle, branches [][]PCR) error {
	matched := false
	for _, b := range branches {
		_, err := tpm2.PolicyPCR{
			PolicySession: sess,
			PcrDigest:     tpm2.TPM2BDigest{Buffer: pcrValuesDigest(b)},
			Pcrs:          pcrSelection(pcrIndices(b)),
		}.Execute(tp)
		if errors.Is(err, tpm2.TPMRCValue) {
			continue // this branch's values are not the current ones
		}
		if err != nil {
			return fmt.Errorf("PolicyPCR: %w", err)
		}
		matched = true
		break
	}
	if !matched {
		return ErrPCRMismatch
	}
	if len(branches) < 2 {
		return nil
	}
	list, err := orList(branches)
	if err != nil {
		return fmt.Errorf("compute PolicyOR list: %w", err)
	}
	if _, err := (tpm2.PolicyOr{PolicySession: sess, PHashList: list}).Execute(tp); err != nil {
		if errors.Is(err, tpm2.TPMRCValue) {
			return ErrPCRMismatch
		}
		return fmt.Errorf("PolicyOR: %w", err)
	}
	return nil
}

// samePCRs reports whether a and b list the same PCRs with the same values.
func samePCRs(a, b []PCR) bool {
	return len(a) == len(b) && !slices.ContainsFunc(a, func(p PCR) bool {
		i := slices.IndexFunc(b, func(q PCR) bool { return q.Index == p.Index })
		return i < 0 || subtle.ConstantTimeCompare(p.Digest, b[i].Digest) != 1
	})
}

// ParsePCRValues reads PCR values as `accessd reseal --pcr-values` takes
// them: "7=sha256:HEX,23=sha256:HEX", 64 hex digits each, SHA-256 bank
// only. The result is in ascending index order.
func ParsePCRValues(s string) ([]PCR, error) {
	var out []PCR
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		idx, val, ok := strings.Cut(f, "=")
		if !ok {
			return nil, fmt.Errorf("seal: PCR value %q: want INDEX=sha256:HEX, e.g. 7=sha256:%s", f, strings.Repeat("0", 64))
		}
		n, err := strconv.Atoi(idx)
		if err != nil || n < 0 || n > MaxPCR {
			return nil, fmt.Errorf("seal: PCR value %q: %q is not a PCR index (0 to %d)", f, idx, MaxPCR)
		}
		bank, h, ok := strings.Cut(val, ":")
		if !ok || !strings.EqualFold(bank, "sha256") {
			return nil, fmt.Errorf("seal: PCR value %q: only the SHA-256 bank is supported; write %d=sha256:HEX", f, n)
		}
		d, err := hex.DecodeString(h)
		if err != nil || len(d) != pcrDigestSize {
			return nil, fmt.Errorf("seal: PCR value %q: want %d hex digits after sha256:", f, 2*pcrDigestSize)
		}
		if slices.ContainsFunc(out, func(p PCR) bool { return p.Index == n }) {
			return nil, fmt.Errorf("seal: PCR %d is given two values; give each PCR once, as INDEX=sha256:HEX", n)
		}
		out = append(out, PCR{Index: n, Digest: d})
	}
	slices.SortFunc(out, func(a, b PCR) int { return a.Index - b.Index })
	return out, nil
}

// FormatPCRValues writes values as ParsePCRValues reads them. PCR values
// are measurements, not secrets.
func FormatPCRValues(values []PCR) string {
	parts := make([]string, len(values))
	for i, p := range values {
		parts[i] = fmt.Sprintf("%d=sha256:%x", p.Index, p.Digest)
	}
	return strings.Join(parts, ",")
}

// WritePlannedSealedFile prepares for a planned PCR change: it seals root
// to s so that it opens both with the current values of pcrs and with the
// planned values, which are the current ones except where planned names a
// new value, and writes the result to path as WriteSealedFile does
// (unsealed once before it replaces the old file). pcrs must not be empty,
// planned may name only PCRs in pcrs, and must change at least one value.
// The first start on the planned values re-seals to them alone
// (FinishPlannedChange).
func WritePlannedSealedFile(path string, s Sealer, root RootKey, pcrs []int, planned []PCR, now time.Time) error {
	if !root.valid() {
		return errors.New("seal: write sealed root key: no root key given")
	}
	sel, err := normalizePCRs(pcrs)
	if err != nil {
		return err
	}
	if len(sel) == 0 {
		return errors.New("seal: a planned PCR change needs the key bound to PCRs; it is not bound to any, so no restart needs the recovery key: make the change, then bind with `accessd reseal --pcrs LIST`")
	}
	if err := checkPolicy(planned); err != nil {
		return err
	}
	if len(planned) == 0 {
		return errors.New("seal: no planned PCR values given")
	}
	cur, err := s.ReadPCRs(sel)
	if err != nil {
		return err
	}
	next := make([]PCR, len(cur))
	for i, p := range cur {
		next[i] = PCR{Index: p.Index, Digest: bytes.Clone(p.Digest)}
	}
	for _, p := range planned {
		i := slices.IndexFunc(next, func(q PCR) bool { return q.Index == p.Index })
		if i < 0 {
			return fmt.Errorf("seal: PCR %d has a planned value but the key is bound to PCRs %v only; add it to the selection (`accessd reseal --pcrs %s`) or drop its value", p.Index, sel, pcrList(append(slices.Clone(sel), p.Index)))
		}
		next[i].Digest = bytes.Clone(p.Digest)
	}
	if samePCRs(cur, next) {
		return fmt.Errorf("seal: the planned values of PCRs %v are the values they hold now: there is no change to prepare for; check the values", pcrIndices(planned))
	}
	return writeSealed(path, s, root, SealedInfo{Kind: s.Kind(), PCRs: cur, Planned: next, Created: now})
}

// FinishPlannedChange completes a planned PCR change once it happened: when
// info (as ReadSealedFile returned it with root) records planned values and
// the PCRs hold them now, it re-seals root to them alone, dropping the
// branch of the old values, and returns the new file's info and true.
// Otherwise it changes nothing and returns info and false. A crash at any
// point leaves either file, and both open on the planned values.
func FinishPlannedChange(path string, s Sealer, root RootKey, info SealedInfo, now time.Time) (SealedInfo, bool, error) {
	if len(info.Planned) == 0 {
		return info, false, nil
	}
	cur, err := s.ReadPCRs(pcrIndices(info.Planned))
	if err != nil {
		return info, false, err
	}
	if !samePCRs(cur, info.Planned) {
		return info, false, nil
	}
	next := SealedInfo{Kind: s.Kind(), PCRs: info.Planned, Created: now.UTC().Truncate(time.Second)}
	if err := writeSealed(path, s, root, next); err != nil {
		return info, false, err
	}
	return next, true, nil
}

// pcrList formats PCR indices as --pcrs takes them: sorted, comma-separated.
func pcrList(pcrs []int) string {
	sel, _ := normalizePCRs(pcrs)
	parts := make([]string, len(sel))
	for i, p := range sel {
		parts[i] = strconv.Itoa(p)
	}
	return strings.Join(parts, ",")
}
