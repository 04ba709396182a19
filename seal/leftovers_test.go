package seal

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-tpm/tpm2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fillSwtpm loads transient SRKs over a connection of its own until swtpm
// refuses with TPM_RC_OBJECT_MEMORY, starts sessions until
// TPM_RC_SESSION_MEMORY, and hangs up without flushing anything, as a
// killed process does. It returns how many of each it left.
func fillSwtpm(t *testing.T, device string) Leftovers {
	t.Helper()
	raw, err := openTCP(device, false)
	require.NoError(t, err)
	defer raw.Close()
	var n Leftovers
	for ; ; n.Objects++ {
		if _, err := createSRK(raw.tpm); err != nil {
			require.ErrorIs(t, err, tpm2.TPMRCObjectMemory, "filling object slots: %v", err)
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
			require.ErrorIs(t, err, tpm2.TPMRCSessionMemory, "filling session slots: %v", err)
			break
		}
	}
	require.False(t, n.Objects == 0 || n.Sessions == 0, "swtpm took no object or no session: %+v", n)
	return n
}

// TestLeftoversOnSwtpm fills a real swtpm's object and session slots from
// a connection that then goes away: a TPM opened without the flush refuses
// to seal with ErrTPMFull naming tpm2_flushcontext for that address;
// Inspect counts the leftovers and says the slots are full; Open flushes
// them, reports how many, and seals and unseals.
func TestLeftoversOnSwtpm(t *testing.T) {
	t.Parallel()
	sw, err := StartSwtpm(t.TempDir(), 0)
	if errors.Is(err, ErrNoSwtpm) {
		t.Skip(err)
	}
	require.NoError(t, err)
	t.Cleanup(sw.Stop)

	left := fillSwtpm(t, sw.Device)
	unflushed, err := openTCP(sw.Device, false)
	require.NoError(t, err)
	_, err = unflushed.Seal([]byte("secret"))
	unflushed.Close()
	if !errors.Is(err, ErrTPMFull) || !errors.Is(err, tpm2.TPMRCObjectMemory) ||
		!strings.Contains(err.Error(), "tpm2_flushcontext -T swtpm:host=127.0.0.1,port=") {
		require.Fail(t, fmt.Sprintf("Seal on a full swtpm = %v; want ErrTPMFull naming tpm2_flushcontext for its address", err))
	}

	got, full, err := Inspect(sw.Device)
	require.NoError(t, err)
	require.False(t, got != left || !full, "Inspect = %+v, full %v; want %+v, full", got, full, left)

	tpm, err := Open(Config{Device: sw.Device})
	require.NoError(t, err, "Open on a full swtpm: %v", err)
	assert.EqualValues(t, left, tpm.Flushed(), "Flushed = %+v, want %+v", tpm.Flushed(), left)
	blob, err := tpm.Seal([]byte("secret"))
	require.NoError(t, err)
	if out, err := tpm.Unseal(blob); err != nil || string(out) != "secret" {
		require.Fail(t, fmt.Sprintf("Unseal = %q, %v", out, err))
	}
	tpm.Close()
	if got, full, err := Inspect(sw.Device); err != nil || got != (Leftovers{}) || full {
		require.Fail(t, fmt.Sprintf("Inspect after Open = %+v, full %v, %v; want nothing left", got, full, err))
	}
}
