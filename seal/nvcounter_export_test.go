package seal

import "github.com/google/go-tpm/tpm2"

// DefineOrdinaryNV puts an 8-byte ordinary NV index at CounterIndex, as
// another program might, for the conflict tests.
func DefineOrdinaryNV(t *TPM) error {
	if err := t.lock(); err != nil {
		return err
	}
	defer t.mu.Unlock()
	pub := counterPublic()
	pub.Attributes.NT = tpm2.TPMNTOrdinary
	_, err := tpm2.NVDefineSpace{AuthHandle: ownerAuth(), PublicInfo: tpm2.New2B(pub)}.Execute(t.tpm)
	return err
}

// UndefineCounter removes whatever is at CounterIndex with owner
// authorization, as anyone holding it could.
func UndefineCounter(t *TPM) error {
	if err := t.lock(); err != nil {
		return err
	}
	defer t.mu.Unlock()
	_, err := tpm2.NVUndefineSpace{AuthHandle: ownerAuth(), NVIndex: tpm2.NamedHandle{Handle: CounterIndex}}.Execute(t.tpm)
	return err
}
