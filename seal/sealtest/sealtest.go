package sealtest

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/seal"
)

// Instance is an open TPM under test.
type Instance interface {
	seal.Sealer
	io.Closer
}

// Harness gives the suite TPMs. The suite never holds two Instances at once.
type Harness struct {
	// Open opens the TPM under test. Opening again after the previous
	// Instance was closed opens the same TPM, as after a reboot: its seeds
	// are kept (PCRs may be reset). The harness closes what it opened when
	// the test ends, if the suite has not.
	Open func(t *testing.T) Instance

	// Replace discards the TPM under test and makes a new one, as when a
	// TPM is cleared or a board is swapped; the next Open opens the new
	// one. The suite calls it with no Instance open. Nil when the TPM cannot
	// be replaced (a hardware device): the cases that need a second TPM are
	// skipped. When set, the suite also calls it at the start of each case
	// so that cases do not see each other's PCR extensions.
	Replace func(t *testing.T)

	// ExtendPCR extends PCR pcr of inst's TPM with SHA-256(Measurement),
	// as a firmware update or a different boot would. The suite predicts
	// the value it leaves (PredictExtend) to test planned changes.
	ExtendPCR func(t *testing.T, inst Instance, pcr int)

	// PCR is the PCR the suite binds keys to and extends. It must be
	// extendable at locality 0; 7 suits the simulator and swtpm, 23 (the
	// application PCR) a real host.
	PCR int

	// Kind is the seal.Kind the instances report.
	Kind seal.Kind

	// Slow marks a hardware TPM, where an unseal takes tens to hundreds of
	// milliseconds: the byte-flip case then flips every byte of the first
	// 128 (the header and the start of the blob) once, and every 16th byte
	// after that, instead of every byte twice.
	Slow bool
}

// Run runs the conformance suite against h.
func Run(t *testing.T, h Harness) {
	require.NotNil(t, h.Open, "sealtest: Harness needs Open and ExtendPCR")
	require.NotNil(t, h.ExtendPCR, "sealtest: Harness needs Open and ExtendPCR")
	cases := []struct {
		name        string
		needReplace bool
		run         func(t *testing.T, h Harness)
	}{
		{"Kind", false, testKind},
		{"RoundTripUnbound", false, func(t *testing.T, h Harness) { testRoundTrip(t, h, nil) }},
		{"RoundTripPCR", false, func(t *testing.T, h Harness) { testRoundTrip(t, h, []int{h.PCR}) }},
		{"RoundTripSeveralPCRs", false, func(t *testing.T, h Harness) { testRoundTrip(t, h, []int{h.PCR, 0, 1, 2, 3, 4, 5, 6, 8, 9, 10}) }},
		{"SurvivesRestart", false, testRestart},
		{"PCRExtendFails", false, testPCRExtend},
		{"UnboundIgnoresPCRs", false, testUnboundIgnoresPCRs},
		{"Reseal", false, testReseal},
		{"SealerRoundTrip", false, testSealerRoundTrip},
		{"FlipEveryByte", false, func(t *testing.T, h Harness) { testFlipEveryByte(t, h, false) }},
		{"SealerPolicyOR", false, testSealerPolicyOR},
		{"PlannedChange", false, testPlannedChange},
		{"PlannedChangeNeitherBranch", false, testPlannedNeither},
		{"PlannedChangeRefusals", false, testPlannedRefusals},
		{"FlipEveryBytePlanned", false, func(t *testing.T, h Harness) { testFlipEveryByte(t, h, true) }},
		{"TruncateAndExtend", false, testTruncate},
		{"OtherTPM", true, testOtherTPM},
		{"RecoverOnReplacedTPM", true, testRecoverOnReplacedTPM},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if h.Replace != nil {
				h.Replace(t)
			} else if c.needReplace {
				t.Skip("sealtest: the harness cannot replace its TPM (a hardware device)")
			}
			c.run(t, h)
		})
	}
}

// open opens the TPM under test and closes it at the end of the test.
func open(t *testing.T, h Harness) Instance {
	t.Helper()
	inst := h.Open(t)
	t.Cleanup(func() { _ = inst.Close() })
	return inst
}

func closeInst(t *testing.T, inst Instance) {
	t.Helper()
	require.NoError(t, inst.Close(), "close TPM")
}

func newRoot(t *testing.T) seal.RootKey {
	t.Helper()
	k, err := seal.NewRootKey(rand.Reader)
	require.NoError(t, err)
	t.Cleanup(k.Destroy)
	return k
}

func sealedPath(t *testing.T) string {
	return filepath.Join(t.TempDir(), "root.sealed")
}

var epoch = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func write(t *testing.T, path string, s seal.Sealer, root seal.RootKey, pcrs []int) {
	t.Helper()
	require.NoError(t, seal.WriteSealedFile(path, s, root, pcrs, epoch), "WriteSealedFile(pcrs %v)", pcrs)
}

func mustRead(t *testing.T, path string, s seal.Sealer, want seal.RootKey) {
	t.Helper()
	got, _, err := seal.ReadSealedFile(path, s)
	require.NoError(t, err, "ReadSealedFile")
	defer got.Destroy()
	require.True(t, got.Equal(want), "ReadSealedFile returned a different root key")
}

func testKind(t *testing.T, h Harness) {
	inst := open(t, h)
	require.Equal(t, h.Kind, inst.Kind(), "Kind()")
}

func testRoundTrip(t *testing.T, h Harness, pcrs []int) {
	inst := open(t, h)
	root := newRoot(t)
	path := sealedPath(t)
	write(t, path, inst, root, pcrs)
	mustRead(t, path, inst, root)

	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "root.sealed mode")
	info, err := seal.ReadSealedInfo(path)
	require.NoError(t, err, "ReadSealedInfo")
	want := slices.Clone(pcrs)
	slices.Sort(want)
	want = slices.Compact(want)
	var got []int
	for _, p := range info.PCRs {
		got = append(got, p.Index)
	}
	assert.True(t, slices.Equal(got, want), "ReadSealedInfo = {%s %v %v}, want {%s %v %v}", info.Kind, got, info.Created, h.Kind, want, epoch)
	assert.Equal(t, h.Kind, info.Kind, "ReadSealedInfo = {%s %v %v}, want {%s %v %v}", info.Kind, got, info.Created, h.Kind, want, epoch)
	assert.True(t, info.Created.Equal(epoch), "ReadSealedInfo = {%s %v %v}, want {%s %v %v}", info.Kind, got, info.Created, h.Kind, want, epoch)
	cur, err := inst.ReadPCRs(want)
	require.NoError(t, err, "ReadPCRs")
	for i := range cur {
		assert.Equal(t, cur[i].Index, info.PCRs[i].Index, "PCR %d recorded in the header differs from the current value", cur[i].Index)
		assert.Equal(t, cur[i].Digest, info.PCRs[i].Digest, "PCR %d recorded in the header differs from the current value", cur[i].Index)
	}
}

func testRestart(t *testing.T, h Harness) {
	inst := open(t, h)
	root := newRoot(t)
	bound, unbound := sealedPath(t), sealedPath(t)
	write(t, bound, inst, root, []int{h.PCR})
	write(t, unbound, inst, root, nil)
	closeInst(t, inst)

	inst = open(t, h)
	mustRead(t, unbound, inst, root)
	mustRead(t, bound, inst, root)
}

func testPCRExtend(t *testing.T, h Harness) {
	inst := open(t, h)
	root := newRoot(t)
	path := sealedPath(t)
	// Another PCR is bound too, and unchanged: the error must name only h.PCR.
	sel := boundWithOther(h)
	write(t, path, inst, root, sel)
	h.ExtendPCR(t, inst, h.PCR)

	got, _, err := seal.ReadSealedFile(path, inst)
	if err == nil {
		got.Destroy()
	}
	require.Error(t, err, "ReadSealedFile succeeded after a bound PCR was extended")
	require.ErrorIs(t, err, seal.ErrPCRMismatch, "ReadSealedFile error = %v, want ErrPCRMismatch", err)
	var pe *seal.PCRMismatchError
	require.ErrorAs(t, err, &pe, "ReadSealedFile error = %#v, want *PCRMismatchError naming PCR %d", err, h.PCR)
	require.Equal(t, []int{h.PCR}, pe.Changed, "ReadSealedFile error = %#v, want *PCRMismatchError naming PCR %d", err, h.PCR)
	msg := err.Error()
	assert.Contains(t, msg, fmt.Sprintf("PCR %d changed", h.PCR), "error %q should name PCR %d and say to run accessd recover", msg, h.PCR)
	assert.Contains(t, msg, "accessd recover", "error %q should name PCR %d and say to run accessd recover", msg, h.PCR)

	// Resealing to the new values (what `accessd recover` does) works.
	write(t, path, inst, root, sel)
	mustRead(t, path, inst, root)
}

func testUnboundIgnoresPCRs(t *testing.T, h Harness) {
	inst := open(t, h)
	root := newRoot(t)
	path := sealedPath(t)
	write(t, path, inst, root, nil)
	h.ExtendPCR(t, inst, h.PCR)
	mustRead(t, path, inst, root)
}

func testReseal(t *testing.T, h Harness) {
	inst := open(t, h)
	root := newRoot(t)
	path := sealedPath(t)
	write(t, path, inst, root, nil)
	got, _, err := seal.ReadSealedFile(path, inst)
	require.NoError(t, err)
	defer got.Destroy()
	write(t, path, inst, got, []int{h.PCR})
	mustRead(t, path, inst, root)
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	assert.Len(t, entries, 1, "directory holds %d entries after resealing, want only root.sealed (temporary files left behind?)", len(entries))
}

// testSealerRoundTrip checks the Sealer methods directly, below the file
// format: sealing to explicit values, and refusing mismatched selections.
func testSealerRoundTrip(t *testing.T, h Harness) {
	inst := open(t, h)
	secret := []byte("sealtest secret, not a real key")
	pcrs, err := inst.ReadPCRs([]int{h.PCR, h.PCR})
	require.NoError(t, err, "ReadPCRs")
	require.Len(t, pcrs, 1, "ReadPCRs(%d, %d) returned %d values, want one 32-byte value for PCR %d", h.PCR, h.PCR, len(pcrs), h.PCR)
	require.Equal(t, h.PCR, pcrs[0].Index, "ReadPCRs(%d, %d) returned %d values, want one 32-byte value for PCR %d", h.PCR, h.PCR, len(pcrs), h.PCR)
	require.Len(t, pcrs[0].Digest, 32, "ReadPCRs(%d, %d) returned %d values, want one 32-byte value for PCR %d", h.PCR, h.PCR, len(pcrs), h.PCR)
	blob, err := inst.Seal(secret, pcrs)
	require.NoError(t, err, "Seal")
	got, err := inst.Unseal(blob, pcrs)
	require.NoError(t, err, "Unseal = %q, %v; want the secret", got, err)
	require.Equal(t, secret, got, "Unseal = %q, %v; want the secret", got, err)
	// A PCR-bound blob presented as unbound, and the reverse, must fail.
	_, err = inst.Unseal(blob, nil)
	assert.Error(t, err, "Unseal of a PCR-bound blob without its PCRs succeeded")
	free, err := inst.Seal(secret, nil)
	require.NoError(t, err, "Seal")
	_, err = inst.Unseal(free, pcrs)
	assert.Error(t, err, "Unseal of an unbound blob with a PCR selection succeeded")
	// Sealing to values the PCR does not hold yields ErrPCRMismatch.
	wrong := []seal.PCR{{Index: h.PCR, Digest: bytes.Repeat([]byte{0xA5}, 32)}}
	blob, err = inst.Seal(secret, wrong)
	require.NoError(t, err, "Seal to future values")
	_, err = inst.Unseal(blob, wrong)
	assert.ErrorIs(t, err, seal.ErrPCRMismatch, "Unseal with PCRs not at the sealed values = %v, want ErrPCRMismatch", err)
}

// acceptable reports whether err is one of the errors a changed file may
// produce.
func acceptable(err error) bool {
	return errors.Is(err, seal.ErrTampered) || errors.Is(err, seal.ErrWrongTPM) || errors.Is(err, seal.ErrPCRMismatch)
}

// testFlipEveryByte changes every byte of a root.sealed bound to h.PCR, or
// with planned, of one with a planned change pending (version 2, sealed
// under TPM2_PolicyOR), and expects each change to be refused.
func testFlipEveryByte(t *testing.T, h Harness, planned bool) {
	inst := open(t, h)
	root := newRoot(t)
	path := sealedPath(t)
	write(t, path, inst, root, []int{h.PCR})
	if planned {
		writePlanned(t, path, inst, root, []int{h.PCR}, h.PCR)
		info, err := seal.ReadSealedInfo(path)
		require.NoError(t, err, "ReadSealedInfo = %+v, %v; want a planned change", info, err)
		require.Len(t, info.Planned, 1, "ReadSealedInfo = %+v, %v; want a planned change", info, err)
	}
	orig, err := os.ReadFile(path)
	require.NoError(t, err)
	flipped := filepath.Join(t.TempDir(), "root.sealed")
	counts := map[string]int{}
	masks, stride := []byte{0x01, 0x80}, 1
	if h.Slow {
		masks, stride = []byte{0x01}, 16
	}
	flips := 0
	for i := range orig {
		if i >= 128 && i%stride != 0 {
			continue
		}
		for _, mask := range masks {
			flips++
			b := bytes.Clone(orig)
			b[i] ^= mask
			require.NoError(t, os.WriteFile(flipped, b, 0o600))
			got, _, err := seal.ReadSealedFile(flipped, inst)
			eq := false
			if err == nil {
				eq = got.Equal(root)
				got.Destroy()
			}
			require.Error(t, err, "byte %d ^ %#02x: ReadSealedFile succeeded (same key: %v)", i, mask, eq)
			require.True(t, acceptable(err), "byte %d ^ %#02x: error %v, want ErrTampered, ErrWrongTPM or ErrPCRMismatch", i, mask, err)
			switch {
			case errors.Is(err, seal.ErrTampered):
				counts["tampered"]++
			case errors.Is(err, seal.ErrWrongTPM):
				counts["wrong TPM"]++
			default:
				counts["PCR mismatch"]++
			}
		}
	}
	t.Logf("%d-byte file, %d single-byte changes: %v", len(orig), flips, counts)
	// The untouched file still opens: the TPM was left in a usable state.
	mustRead(t, path, inst, root)
}

func testTruncate(t *testing.T, h Harness) {
	inst := open(t, h)
	root := newRoot(t)
	path := sealedPath(t)
	write(t, path, inst, root, nil)
	orig, err := os.ReadFile(path)
	require.NoError(t, err)
	variants := map[string][]byte{
		"empty":         {},
		"one byte":      orig[:1],
		"half":          orig[:len(orig)/2],
		"one short":     orig[:len(orig)-1],
		"one more":      append(bytes.Clone(orig), 0),
		"doubled":       append(bytes.Clone(orig), orig...),
		"large garbage": bytes.Repeat([]byte{0xFF}, 1<<20),
	}
	dir := t.TempDir()
	for name, b := range variants {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		require.NoError(t, os.WriteFile(p, b, 0o600))
		got, _, err := seal.ReadSealedFile(p, inst)
		if err == nil {
			got.Destroy()
		}
		if assert.Error(t, err, "%s: ReadSealedFile succeeded", name) {
			assert.True(t, acceptable(err), "%s: error %v, want ErrTampered", name, err)
		}
	}
	mustRead(t, path, inst, root)
}

func testOtherTPM(t *testing.T, h Harness) {
	inst := open(t, h)
	root := newRoot(t)
	bound, unbound := sealedPath(t), sealedPath(t)
	write(t, bound, inst, root, []int{h.PCR})
	write(t, unbound, inst, root, nil)
	closeInst(t, inst)

	h.Replace(t)
	inst = open(t, h)
	for name, p := range map[string]string{"bound": bound, "unbound": unbound} {
		got, _, err := seal.ReadSealedFile(p, inst)
		if err == nil {
			got.Destroy()
		}
		require.Error(t, err, "%s: a file sealed by another TPM unsealed", name)
		assert.ErrorIs(t, err, seal.ErrWrongTPM, "%s: error %v, want ErrWrongTPM", name, err)
		assert.Contains(t, err.Error(), "accessd recover", "%s: error %q should say to run accessd recover", name, err)
	}
}

func testRecoverOnReplacedTPM(t *testing.T, h Harness) {
	inst := open(t, h)
	root := newRoot(t)
	dir := t.TempDir()
	sealed, recovery := filepath.Join(dir, "root.sealed"), filepath.Join(dir, "root.recovery")
	write(t, sealed, inst, root, []int{h.PCR})
	rk, err := seal.NewRecoveryKey(rand.Reader)
	require.NoError(t, err)
	text := rk.Reveal()
	rk.Destroy()
	require.NoError(t, seal.WriteRecoveryFile(recovery, mustParse(t, text), root, rand.Reader), "WriteRecoveryFile")
	closeInst(t, inst)

	h.Replace(t)
	inst = open(t, h)
	_, _, err = seal.ReadSealedFile(sealed, inst)
	require.ErrorIs(t, err, seal.ErrWrongTPM, "ReadSealedFile on the new TPM: %v, want ErrWrongTPM", err)
	// `accessd recover`: the operator types the key in lower case with spaces.
	typed := strings.ToLower(strings.ReplaceAll(text, "-", " "))
	got, err := seal.ReadRecoveryFile(recovery, mustParse(t, typed))
	require.NoError(t, err, "ReadRecoveryFile")
	defer got.Destroy()
	require.True(t, got.Equal(root), "ReadRecoveryFile returned a different root key")
	write(t, sealed, inst, got, []int{h.PCR})
	closeInst(t, inst)
	inst = open(t, h)
	mustRead(t, sealed, inst, root)
}

func mustParse(t *testing.T, text string) seal.RecoveryKey {
	t.Helper()
	rk, err := seal.ParseRecoveryKey(text)
	require.NoError(t, err, "ParseRecoveryKey")
	t.Cleanup(rk.Destroy)
	return rk
}

// Measurement is what a harness's ExtendPCR extends a PCR with (as
// SHA-256(Measurement)).
var Measurement = []byte("sealtest measurement")

// PredictExtend returns the value a SHA-256 PCR holding old holds after
// ExtendPCR: SHA-256(old || SHA-256(Measurement)).
func PredictExtend(old []byte) []byte {
	m := sha256.Sum256(Measurement)
	h := sha256.New()
	h.Write(old)
	h.Write(m[:])
	return h.Sum(nil)
}

// writePlanned re-seals path, now bound to pcrs, for a planned change: PCR
// pcr is expected to be extended once by ExtendPCR.
func writePlanned(t *testing.T, path string, inst Instance, root seal.RootKey, pcrs []int, pcr int) []seal.PCR {
	t.Helper()
	cur, err := inst.ReadPCRs([]int{pcr})
	require.NoError(t, err, "ReadPCRs")
	planned := []seal.PCR{{Index: pcr, Digest: PredictExtend(cur[0].Digest)}}
	require.NoError(t, seal.WritePlannedSealedFile(path, inst, root, pcrs, planned, epoch), "WritePlannedSealedFile")
	return planned
}

// testSealerPolicyOR checks TPM2_PolicyOR below the file format: a blob
// sealed to two branches opens while the PCRs hold either, never with
// neither, and only when presented with exactly its branches.
func testSealerPolicyOR(t *testing.T, h Harness) {
	inst := open(t, h)
	secret := []byte("sealtest secret, not a real key")
	cur, err := inst.ReadPCRs([]int{0, h.PCR})
	require.NoError(t, err, "ReadPCRs")
	other := func(b byte) []seal.PCR {
		return []seal.PCR{cur[0], {Index: h.PCR, Digest: bytes.Repeat([]byte{b}, 32)}}
	}
	for _, tc := range []struct {
		name     string
		branches [][]seal.PCR
		opens    bool
	}{
		{"current values first", [][]seal.PCR{cur, other(0xA5)}, true},
		{"current values second", [][]seal.PCR{other(0xA5), cur}, true},
		{"neither", [][]seal.PCR{other(0xA5), other(0x5A)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			blob, err := inst.Seal(secret, tc.branches...)
			require.NoError(t, err, "Seal")
			got, err := inst.Unseal(blob, tc.branches...)
			if tc.opens {
				require.NoError(t, err, "Unseal = %q, %v; want the secret", got, err)
				require.Equal(t, secret, got, "Unseal = %q, %v; want the secret", got, err)
			} else {
				require.ErrorIs(t, err, seal.ErrPCRMismatch, "Unseal = %q, %v; want ErrPCRMismatch", got, err)
			}
			// Presented with other branches than it was sealed to, the
			// blob never opens, even when they hold the current values.
			for name, wrong := range map[string][][]seal.PCR{
				"one branch":       tc.branches[:1],
				"other branch":     {cur},
				"swapped":          {tc.branches[1], tc.branches[0]},
				"replaced branch":  {tc.branches[0], other(0x11)},
				"unbound":          nil,
				"third branch":     {tc.branches[0], tc.branches[1], cur},
				"duplicate branch": {cur, cur},
			} {
				got, err := inst.Unseal(blob, wrong...)
				assert.Error(t, err, "%s: Unseal succeeded (same secret: %v)", name, bytes.Equal(got, secret))
			}
		})
	}
	_, err = inst.Seal(secret, cur, nil)
	assert.Error(t, err, "Seal with an empty second branch (an unbound key) succeeded")
}

// testPlannedChange is issue 10's planned change: seal for the values
// before and after a change, make the change, open with the new values,
// re-seal to them alone; the old values then no longer open the key.
func testPlannedChange(t *testing.T, h Harness) {
	inst := open(t, h)
	root := newRoot(t)
	path := sealedPath(t)
	sel := boundWithOther(h)
	write(t, path, inst, root, sel)
	before, err := inst.ReadPCRs(sel)
	require.NoError(t, err)
	planned := writePlanned(t, path, inst, root, sel, h.PCR)

	info, err := seal.ReadSealedInfo(path)
	require.NoError(t, err, "ReadSealedInfo")
	require.True(t, samePCRs(info.PCRs, before), "ReadSealedInfo = %+v, want the current values of PCRs %v and the planned value of PCR %d", info, sel, h.PCR)
	require.Len(t, info.Planned, 2, "ReadSealedInfo = %+v, want the current values of PCRs %v and the planned value of PCR %d", info, sel, h.PCR)
	require.True(t, samePCRs(info.Planned[:1], before[:1]), "ReadSealedInfo = %+v, want the current values of PCRs %v and the planned value of PCR %d", info, sel, h.PCR)
	require.True(t, samePCRs(info.Planned[1:], planned), "ReadSealedInfo = %+v, want the current values of PCRs %v and the planned value of PCR %d", info, sel, h.PCR)
	// Before the change: the old values open it, and nothing is re-sealed.
	mustRead(t, path, inst, root)
	_, sealedInfo, err := seal.ReadSealedFile(path, inst)
	require.NoError(t, err)
	orig, _ := os.ReadFile(path)
	_, done, err := seal.FinishPlannedChange(path, inst, root, sealedInfo, epoch)
	require.NoError(t, err, "FinishPlannedChange before the change = %v, %v; want nothing done", done, err)
	require.False(t, done, "FinishPlannedChange before the change = %v, %v; want nothing done", done, err)
	now, _ := os.ReadFile(path)
	require.Equal(t, orig, now, "FinishPlannedChange rewrote root.sealed before the change happened")

	// The change.
	h.ExtendPCR(t, inst, h.PCR)
	cur, err := inst.ReadPCRs([]int{h.PCR})
	require.NoError(t, err, "after ExtendPCR, PCR %d does not hold the predicted value (%v): does the harness extend with SHA-256(Measurement)?", h.PCR, err)
	require.True(t, samePCRs(cur, planned), "after ExtendPCR, PCR %d does not hold the predicted value (%v): does the harness extend with SHA-256(Measurement)?", h.PCR, err)
	got, sealedInfo, err := seal.ReadSealedFile(path, inst)
	require.NoError(t, err, "ReadSealedFile on the planned values")
	got.Destroy()
	next, done, err := seal.FinishPlannedChange(path, inst, root, sealedInfo, epoch)
	require.NoError(t, err, "FinishPlannedChange after the change = %v, %v; want it done", done, err)
	require.True(t, done, "FinishPlannedChange after the change = %v, %v; want it done", done, err)
	info, err = seal.ReadSealedInfo(path)
	require.NoError(t, err)
	require.Empty(t, info.Planned, "after FinishPlannedChange, ReadSealedInfo = %+v; want the planned values alone", info)
	require.True(t, samePCRs(info.PCRs, sealedInfo.Planned), "after FinishPlannedChange, ReadSealedInfo = %+v; want the planned values alone", info)
	require.True(t, samePCRs(next.PCRs, info.PCRs), "after FinishPlannedChange, ReadSealedInfo = %+v; want the planned values alone", info)
	mustRead(t, path, inst, root)

	// The next change is unplanned: refused, naming the PCR.
	h.ExtendPCR(t, inst, h.PCR)
	got, _, err = seal.ReadSealedFile(path, inst)
	if err == nil {
		got.Destroy()
	}
	require.Error(t, err, "ReadSealedFile succeeded after an unplanned change")
	require.ErrorIs(t, err, seal.ErrPCRMismatch, "ReadSealedFile error = %v, want ErrPCRMismatch", err)
}

// testPlannedNeither: with a change pending, PCR values that are neither
// the sealed nor the planned ones are refused with an error that names the
// PCR and says to recover.
func testPlannedNeither(t *testing.T, h Harness) {
	inst := open(t, h)
	root := newRoot(t)
	path := sealedPath(t)
	write(t, path, inst, root, []int{h.PCR})
	wrong := []seal.PCR{{Index: h.PCR, Digest: bytes.Repeat([]byte{0xA5}, 32)}}
	require.NoError(t, seal.WritePlannedSealedFile(path, inst, root, []int{h.PCR}, wrong, epoch), "WritePlannedSealedFile")
	mustRead(t, path, inst, root)
	h.ExtendPCR(t, inst, h.PCR)
	got, _, err := seal.ReadSealedFile(path, inst)
	if err == nil {
		got.Destroy()
	}
	require.Error(t, err, "ReadSealedFile succeeded with PCR values of neither branch")
	var pe *seal.PCRMismatchError
	require.ErrorAs(t, err, &pe, "ReadSealedFile error = %#v, want *PCRMismatchError naming PCR %d with a planned change", err, h.PCR)
	require.Equal(t, []int{h.PCR}, pe.Changed, "ReadSealedFile error = %#v, want *PCRMismatchError naming PCR %d with a planned change", err, h.PCR)
	require.True(t, pe.Planned, "ReadSealedFile error = %#v, want *PCRMismatchError naming PCR %d with a planned change", err, h.PCR)
	msg := err.Error()
	assert.Contains(t, msg, fmt.Sprintf("PCR %d ", h.PCR), "error %q should name PCR %d, the planned values and accessd recover", msg, h.PCR)
	assert.Contains(t, msg, "planned values", "error %q should name PCR %d, the planned values and accessd recover", msg, h.PCR)
	assert.Contains(t, msg, "accessd recover", "error %q should name PCR %d, the planned values and accessd recover", msg, h.PCR)
}

// testPlannedRefusals: what WritePlannedSealedFile refuses leaves the file
// as it was.
func testPlannedRefusals(t *testing.T, h Harness) {
	inst := open(t, h)
	root := newRoot(t)
	path := sealedPath(t)
	write(t, path, inst, root, []int{h.PCR})
	orig, err := os.ReadFile(path)
	require.NoError(t, err)
	cur, err := inst.ReadPCRs([]int{h.PCR})
	require.NoError(t, err)
	notSel := (h.PCR + 1) % (seal.MaxPCR + 1)
	for name, tc := range map[string]struct {
		pcrs    []int
		planned []seal.PCR
		want    string
	}{
		"unbound":        {nil, []seal.PCR{{Index: h.PCR, Digest: bytes.Repeat([]byte{1}, 32)}}, "not bound"},
		"no values":      {[]int{h.PCR}, nil, "no planned"},
		"not selected":   {[]int{h.PCR}, []seal.PCR{{Index: notSel, Digest: bytes.Repeat([]byte{1}, 32)}}, fmt.Sprintf("PCR %d", notSel)},
		"current values": {[]int{h.PCR}, cur, "no change"},
		"short value":    {[]int{h.PCR}, []seal.PCR{{Index: h.PCR, Digest: []byte{1}}}, "bytes"},
	} {
		err := seal.WritePlannedSealedFile(path, inst, root, tc.pcrs, tc.planned, epoch)
		if assert.Error(t, err, "%s: WritePlannedSealedFile = %v, want an error containing %q", name, err, tc.want) {
			assert.Contains(t, err.Error(), tc.want, "%s: WritePlannedSealedFile = %v, want an error containing %q", name, err, tc.want)
		}
	}
	now, _ := os.ReadFile(path)
	assert.Equal(t, orig, now, "a refused WritePlannedSealedFile changed root.sealed")
}

func samePCRs(a, b []seal.PCR) bool {
	return slices.EqualFunc(a, b, func(x, y seal.PCR) bool { return x.Index == y.Index && bytes.Equal(x.Digest, y.Digest) })
}

// boundWithOther is a PCR selection of h.PCR and one more PCR (0, or 1
// when h.PCR is 0) that the cases leave unchanged.
func boundWithOther(h Harness) []int {
	other := 0
	if h.PCR == 0 {
		other = 1
	}
	return []int{other, h.PCR}
}
