package seal

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// CounterIndex is the NV index of accessd's rollback counter: a TPM NV
// monotonic counter (TPMA_NV_COUNTER) in the owner range of the TCG
// handle registry (0x01000000-0x013FFFFF, left to the platform owner).
// It stays clear of the indices tools and tutorials commonly use
// (0x01000000-0x0100000F, 0x01500000-0x015FFFFF in tpm2-tools examples),
// of the TCG-assigned ranges (EK certificates at 0x01C0xxxx, PC Client
// indices at 0x01C1xxxx and above) and of systemd's and snapd's indices
// (0x01800000 and up). "ACCD" is for accessd.
const CounterIndex tpm2.TPMHandle = 0x0100ACCD

// ErrNoCounter means this TPM has no rollback counter yet: the index is
// not defined, or was defined and never incremented.
var ErrNoCounter = errors.New("no rollback counter on this TPM")

// ErrCounterConflict means something other than accessd's rollback
// counter occupies CounterIndex.
var ErrCounterConflict = errors.New("the rollback counter's NV index holds something else")

// counterAttrs are the attributes of the counter as defined, before the
// TPM sets Written on the first increment. Only the owner hierarchy
// (accessd needs its authorization empty, as for the SRK) can read or
// increment it; failures do not count towards dictionary-attack lockout.
// It is not Orderly: every increment reaches NV before the command
// returns, which is what a crash right after it needs.
var counterAttrs = tpm2.TPMANV{
	OwnerWrite: true,
	OwnerRead:  true,
	NoDA:       true,
	NT:         tpm2.TPMNTCounter,
}

func counterPublic() tpm2.TPMSNVPublic {
	return tpm2.TPMSNVPublic{
		NVIndex:    CounterIndex,
		NameAlg:    tpm2.TPMAlgSHA256,
		Attributes: counterAttrs,
		DataSize:   8,
	}
}

func ownerAuth() tpm2.AuthHandle {
	return tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(nil)}
}

// ReadCounter returns the rollback counter's value. It fails with
// ErrNoCounter when the counter does not exist or was never incremented,
// and with ErrCounterConflict when the index is not accessd's counter.
func (t *TPM) ReadCounter() (uint64, error) {
	if err := t.lock(); err != nil {
		return 0, err
	}
	defer t.mu.Unlock()
	return readCounter(t.tpm)
}

// IncrementCounter increments the rollback counter by one and returns
// its new value. The TPM writes the new value to NV before it answers.
func (t *TPM) IncrementCounter() (uint64, error) {
	if err := t.lock(); err != nil {
		return 0, err
	}
	defer t.mu.Unlock()
	name, written, err := counterName(t.tpm)
	if err != nil {
		return 0, err
	}
	if !written {
		return 0, fmt.Errorf("seal: increment rollback counter: %w", ErrNoCounter)
	}
	if err := increment(t.tpm, name); err != nil {
		return 0, err
	}
	return readCounter(t.tpm)
}

// EnsureCounter defines the rollback counter when this TPM has none and
// returns its value. A counter reads only after its first increment, so
// a new one (or one defined and never incremented) is incremented once;
// the TPM starts it at the highest value any counter on this TPM has
// held, never lower. It needs the owner hierarchy's authorization to be
// empty. An index holding anything else is left alone
// (ErrCounterConflict).
func (t *TPM) EnsureCounter() (uint64, error) {
	if err := t.lock(); err != nil {
		return 0, err
	}
	defer t.mu.Unlock()
	name, written, err := counterName(t.tpm)
	if errors.Is(err, ErrNoCounter) {
		_, err = tpm2.NVDefineSpace{
			AuthHandle: ownerAuth(),
			PublicInfo: tpm2.New2B(counterPublic()),
		}.Execute(t.tpm)
		if err != nil {
			return 0, fmt.Errorf("seal: define rollback counter at NV index %#08x: %w; %s", uint32(CounterIndex), err, ownerHint(err))
		}
		name, written, err = counterName(t.tpm)
	}
	if err != nil {
		return 0, err
	}
	if !written {
		if err := increment(t.tpm, name); err != nil {
			return 0, err
		}
	}
	return readCounter(t.tpm)
}

// counterName reads the counter's public area, checks it is accessd's
// counter, and returns its current name (which changes when it is first
// written) and whether it has been written.
func counterName(tp transport.TPM) (tpm2.TPM2BName, bool, error) {
	rsp, err := tpm2.NVReadPublic{NVIndex: CounterIndex}.Execute(tp)
	if err != nil {
		if errors.Is(err, tpm2.TPMRCHandle) {
			return tpm2.TPM2BName{}, false, fmt.Errorf("seal: rollback counter at NV index %#08x: %w", uint32(CounterIndex), ErrNoCounter)
		}
		return tpm2.TPM2BName{}, false, fmt.Errorf("seal: read rollback counter's public area: %w", err)
	}
	pub, err := rsp.NVPublic.Contents()
	if err != nil {
		return tpm2.TPM2BName{}, false, fmt.Errorf("seal: decode rollback counter's public area: %w", err)
	}
	written := pub.Attributes.Written
	got := *pub
	got.Attributes.Written = false
	want := counterPublic()
	if got.NVIndex != want.NVIndex || got.NameAlg != want.NameAlg || got.Attributes != want.Attributes ||
		len(got.AuthPolicy.Buffer) != 0 || got.DataSize != want.DataSize {
		return tpm2.TPM2BName{}, false, fmt.Errorf("seal: NV index %#08x: %w (other attributes, or %d bytes); accessd will not touch it: if another program owns it, move that program; if it is a leftover nothing uses, remove it with `tpm2_nvundefine %#08x`",
			uint32(CounterIndex), ErrCounterConflict, pub.DataSize, uint32(CounterIndex))
	}
	return rsp.NVName, written, nil
}

func readCounter(tp transport.TPM) (uint64, error) {
	name, written, err := counterName(tp)
	if err != nil {
		return 0, err
	}
	if !written {
		return 0, fmt.Errorf("seal: rollback counter at NV index %#08x was never incremented: %w", uint32(CounterIndex), ErrNoCounter)
	}
	rsp, err := tpm2.NVRead{
		AuthHandle: ownerAuth(),
		NVIndex:    tpm2.NamedHandle{Handle: CounterIndex, Name: name},
		Size:       8,
	}.Execute(tp)
	if err != nil {
		return 0, fmt.Errorf("seal: read rollback counter: %w; %s", err, ownerHint(err))
	}
	if len(rsp.Data.Buffer) != 8 {
		return 0, fmt.Errorf("seal: read rollback counter: the TPM returned %d bytes, want 8", len(rsp.Data.Buffer))
	}
	return binary.BigEndian.Uint64(rsp.Data.Buffer), nil
}

func increment(tp transport.TPM, name tpm2.TPM2BName) error {
	_, err := tpm2.NVIncrement{
		AuthHandle: ownerAuth(),
		NVIndex:    tpm2.NamedHandle{Handle: CounterIndex, Name: name},
	}.Execute(tp)
	if err != nil {
		return fmt.Errorf("seal: increment rollback counter: %w; %s", err, ownerHint(err))
	}
	return nil
}

// ownerHint says what to do about a failed NV command.
func ownerHint(err error) string {
	switch {
	case errors.Is(err, tpm2.TPMRCBadAuth), errors.Is(err, tpm2.TPMRCAuthFail):
		return "the TPM's owner hierarchy has a password; accessd needs it empty (the TCG-recommended setting)"
	case errors.Is(err, tpm2.TPMRCNVSpace):
		return "the TPM's NV memory is full; remove unused NV indices (tpm2_getcap handles-nv-index lists them)"
	case errors.Is(err, tpm2.TPMRCHierarchy):
		return "the TPM's owner hierarchy is disabled; enable it in the firmware setup"
	}
	return "check that the TPM is reachable and retry (a restart may help)"
}
