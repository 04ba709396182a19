package seal

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-tpm/tpm2"
)

// fillSwtpm loads transient SRKs over a connection of its own until swtpm
// refuses with TPM_RC_OBJECT_MEMORY, starts sessions until
// TPM_RC_SESSION_MEMORY, and hangs up without flushing anything, as a
// killed process does. It returns how many of each it left.
func fillSwtpm(t *testing.T, device string) Leftovers {
	t.Helper()
	raw, err := openTCP(device, false)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var n Leftovers
	for ; ; n.Objects++ {
		if _, err := createSRK(raw.tpm); err != nil {
			if !errors.Is(err, tpm2.TPMRCObjectMemory) {
				t.Fatalf("filling object slots: %v", err)
			}
			break
		}
	}
	for ; ; n.Sessions++ {
		_, err := tpm2.StartAuthSession{
			TPMKey: tpm2.TPMRHNull, Bind: tpm2.TPMRHNull, SessionType: tpm2.TPMSEHMAC,
			NonceCaller: tpm2.TPM2BNonce{Buffer: make([]byte, 16)},
			Symmetric:   tpm2.TPMTSymDef{Algorithm: tpm2.TPMAlgNull}, AuthHash: tpm2.TPMAlgSHA256,
		}.Execute(raw.tpm)
		if err != nil {
			if !errors.Is(err, tpm2.TPMRCSessionMemory) {
				t.Fatalf("filling session slots: %v", err)
			}
			break
		}
	}
	if n.Objects == 0 || n.Sessions == 0 {
		t.Fatalf("swtpm took no object or no session: %+v", n)
	}
	return n
}

// TestLeftoversOnSwtpm fills a real swtpm's object and session slots from
// a connection that then goes away: a TPM opened without the flush refuses
// to seal with ErrTPMFull naming tpm2_flushcontext for that address;
// Inspect counts the leftovers and says the slots are full; Open flushes
// them, reports how many, and seals and unseals.
func TestLeftoversOnSwtpm(t *testing.T) {
	sw, err := StartSwtpm(t.TempDir(), 0)
	if errors.Is(err, ErrNoSwtpm) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sw.Stop)

	left := fillSwtpm(t, sw.Device)
	unflushed, err := openTCP(sw.Device, false)
	if err != nil {
		t.Fatal(err)
	}
	_, err = unflushed.Seal([]byte("secret"))
	unflushed.Close()
	if !errors.Is(err, ErrTPMFull) || !errors.Is(err, tpm2.TPMRCObjectMemory) ||
		!strings.Contains(err.Error(), "tpm2_flushcontext -T swtpm:host=127.0.0.1,port=") {
		t.Fatalf("Seal on a full swtpm = %v; want ErrTPMFull naming tpm2_flushcontext for its address", err)
	}

	got, full, err := Inspect(sw.Device)
	if err != nil {
		t.Fatal(err)
	}
	if got != left || !full {
		t.Fatalf("Inspect = %+v, full %v; want %+v, full", got, full, left)
	}

	tpm, err := Open(Config{Device: sw.Device})
	if err != nil {
		t.Fatalf("Open on a full swtpm: %v", err)
	}
	if tpm.Flushed() != left {
		t.Errorf("Flushed = %+v, want %+v", tpm.Flushed(), left)
	}
	blob, err := tpm.Seal([]byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	if out, err := tpm.Unseal(blob); err != nil || string(out) != "secret" {
		t.Fatalf("Unseal = %q, %v", out, err)
	}
	tpm.Close()
	if got, full, err := Inspect(sw.Device); err != nil || got != (Leftovers{}) || full {
		t.Fatalf("Inspect after Open = %+v, full %v, %v; want nothing left", got, full, err)
	}
}
