package sealtest

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

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

	// ExtendPCR extends PCR pcr of inst's TPM with an arbitrary
	// measurement, as a firmware update or a different boot would.
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
	if h.Open == nil || h.ExtendPCR == nil {
		t.Fatal("sealtest: Harness needs Open and ExtendPCR")
	}
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
		{"FlipEveryByte", false, testFlipEveryByte},
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
	if err := inst.Close(); err != nil {
		t.Fatalf("close TPM: %v", err)
	}
}

func newRoot(t *testing.T) seal.RootKey {
	t.Helper()
	k, err := seal.NewRootKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Destroy)
	return k
}

func sealedPath(t *testing.T) string {
	return filepath.Join(t.TempDir(), "root.sealed")
}

var epoch = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func write(t *testing.T, path string, s seal.Sealer, root seal.RootKey, pcrs []int) {
	t.Helper()
	if err := seal.WriteSealedFile(path, s, root, pcrs, epoch); err != nil {
		t.Fatalf("WriteSealedFile(pcrs %v): %v", pcrs, err)
	}
}

func mustRead(t *testing.T, path string, s seal.Sealer, want seal.RootKey) {
	t.Helper()
	got, _, err := seal.ReadSealedFile(path, s)
	if err != nil {
		t.Fatalf("ReadSealedFile: %v", err)
	}
	defer got.Destroy()
	if !got.Equal(want) {
		t.Fatal("ReadSealedFile returned a different root key")
	}
}

func testKind(t *testing.T, h Harness) {
	inst := open(t, h)
	if got := inst.Kind(); got != h.Kind {
		t.Fatalf("Kind() = %q, want %q", got, h.Kind)
	}
}

func testRoundTrip(t *testing.T, h Harness, pcrs []int) {
	inst := open(t, h)
	root := newRoot(t)
	path := sealedPath(t)
	write(t, path, inst, root, pcrs)
	mustRead(t, path, inst, root)

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("root.sealed mode = %v, want 0600", mode)
	}
	info, err := seal.ReadSealedInfo(path)
	if err != nil {
		t.Fatalf("ReadSealedInfo: %v", err)
	}
	want := slices.Clone(pcrs)
	slices.Sort(want)
	want = slices.Compact(want)
	var got []int
	for _, p := range info.PCRs {
		got = append(got, p.Index)
	}
	if !slices.Equal(got, want) || info.Kind != h.Kind || !info.Created.Equal(epoch) {
		t.Errorf("ReadSealedInfo = {%s %v %v}, want {%s %v %v}", info.Kind, got, info.Created, h.Kind, want, epoch)
	}
	cur, err := inst.ReadPCRs(want)
	if err != nil {
		t.Fatalf("ReadPCRs: %v", err)
	}
	for i := range cur {
		if cur[i].Index != info.PCRs[i].Index || !bytes.Equal(cur[i].Digest, info.PCRs[i].Digest) {
			t.Errorf("PCR %d recorded in the header differs from the current value", cur[i].Index)
		}
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
	// PCR 0 is bound too, and unchanged: the error must name only h.PCR.
	other := 0
	if h.PCR == 0 {
		other = 1
	}
	write(t, path, inst, root, []int{other, h.PCR})
	h.ExtendPCR(t, inst, h.PCR)

	got, _, err := seal.ReadSealedFile(path, inst)
	if err == nil {
		got.Destroy()
		t.Fatal("ReadSealedFile succeeded after a bound PCR was extended")
	}
	if !errors.Is(err, seal.ErrPCRMismatch) {
		t.Fatalf("ReadSealedFile error = %v, want ErrPCRMismatch", err)
	}
	var pe *seal.PCRMismatchError
	if !errors.As(err, &pe) || !slices.Equal(pe.Changed, []int{h.PCR}) {
		t.Fatalf("ReadSealedFile error = %#v, want *PCRMismatchError naming PCR %d", err, h.PCR)
	}
	if msg := err.Error(); !strings.Contains(msg, fmt.Sprintf("PCR %d changed", h.PCR)) || !strings.Contains(msg, "accessd recover") {
		t.Errorf("error %q should name PCR %d and say to run accessd recover", msg, h.PCR)
	}

	// Resealing to the new values (what `accessd recover` does) works.
	write(t, path, inst, root, []int{other, h.PCR})
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
	if err != nil {
		t.Fatal(err)
	}
	defer got.Destroy()
	write(t, path, inst, got, []int{h.PCR})
	mustRead(t, path, inst, root)
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries after resealing, want only root.sealed (temporary files left behind?)", len(entries))
	}
}

// testSealerRoundTrip checks the Sealer methods directly, below the file
// format: sealing to explicit values, and refusing mismatched selections.
func testSealerRoundTrip(t *testing.T, h Harness) {
	inst := open(t, h)
	secret := []byte("sealtest secret, not a real key")
	pcrs, err := inst.ReadPCRs([]int{h.PCR, h.PCR})
	if err != nil {
		t.Fatalf("ReadPCRs: %v", err)
	}
	if len(pcrs) != 1 || pcrs[0].Index != h.PCR || len(pcrs[0].Digest) != 32 {
		t.Fatalf("ReadPCRs(%d, %d) returned %d values, want one 32-byte value for PCR %d", h.PCR, h.PCR, len(pcrs), h.PCR)
	}
	blob, err := inst.Seal(secret, pcrs)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	got, err := inst.Unseal(blob, []int{h.PCR})
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Unseal = %q, %v; want the secret", got, err)
	}
	// A PCR-bound blob presented as unbound, and the reverse, must fail.
	if _, err := inst.Unseal(blob, nil); err == nil {
		t.Error("Unseal of a PCR-bound blob without its PCRs succeeded")
	}
	free, err := inst.Seal(secret, nil)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	if _, err := inst.Unseal(free, []int{h.PCR}); err == nil {
		t.Error("Unseal of an unbound blob with a PCR selection succeeded")
	}
	// Sealing to values the PCR does not hold yields ErrPCRMismatch.
	wrong := []seal.PCR{{Index: h.PCR, Digest: bytes.Repeat([]byte{0xA5}, 32)}}
	blob, err = inst.Seal(secret, wrong)
	if err != nil {
		t.Fatalf("Seal to future values: %v", err)
	}
	if _, err := inst.Unseal(blob, []int{h.PCR}); !errors.Is(err, seal.ErrPCRMismatch) {
		t.Errorf("Unseal with PCRs not at the sealed values = %v, want ErrPCRMismatch", err)
	}
}

// acceptable reports whether err is one of the errors a changed file may
// produce.
func acceptable(err error) bool {
	return errors.Is(err, seal.ErrTampered) || errors.Is(err, seal.ErrWrongTPM) || errors.Is(err, seal.ErrPCRMismatch)
}

func testFlipEveryByte(t *testing.T, h Harness) {
	inst := open(t, h)
	root := newRoot(t)
	path := sealedPath(t)
	write(t, path, inst, root, []int{h.PCR})
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
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
			if err := os.WriteFile(flipped, b, 0o600); err != nil {
				t.Fatal(err)
			}
			got, _, err := seal.ReadSealedFile(flipped, inst)
			if err == nil {
				eq := got.Equal(root)
				got.Destroy()
				t.Fatalf("byte %d ^ %#02x: ReadSealedFile succeeded (same key: %v)", i, mask, eq)
			}
			if !acceptable(err) {
				t.Fatalf("byte %d ^ %#02x: error %v, want ErrTampered, ErrWrongTPM or ErrPCRMismatch", i, mask, err)
			}
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
	if err != nil {
		t.Fatal(err)
	}
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
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if got, _, err := seal.ReadSealedFile(p, inst); err == nil {
			got.Destroy()
			t.Errorf("%s: ReadSealedFile succeeded", name)
		} else if !acceptable(err) {
			t.Errorf("%s: error %v, want ErrTampered", name, err)
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
			t.Fatalf("%s: a file sealed by another TPM unsealed", name)
		}
		if !errors.Is(err, seal.ErrWrongTPM) {
			t.Errorf("%s: error %v, want ErrWrongTPM", name, err)
		}
		if !strings.Contains(err.Error(), "accessd recover") {
			t.Errorf("%s: error %q should say to run accessd recover", name, err)
		}
	}
}

func testRecoverOnReplacedTPM(t *testing.T, h Harness) {
	inst := open(t, h)
	root := newRoot(t)
	dir := t.TempDir()
	sealed, recovery := filepath.Join(dir, "root.sealed"), filepath.Join(dir, "root.recovery")
	write(t, sealed, inst, root, []int{h.PCR})
	rk, err := seal.NewRecoveryKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	text := rk.Reveal()
	rk.Destroy()
	if err := seal.WriteRecoveryFile(recovery, mustParse(t, text), root, rand.Reader); err != nil {
		t.Fatalf("WriteRecoveryFile: %v", err)
	}
	closeInst(t, inst)

	h.Replace(t)
	inst = open(t, h)
	if _, _, err := seal.ReadSealedFile(sealed, inst); !errors.Is(err, seal.ErrWrongTPM) {
		t.Fatalf("ReadSealedFile on the new TPM: %v, want ErrWrongTPM", err)
	}
	// `accessd recover`: the operator types the key in lower case with spaces.
	typed := strings.ToLower(strings.ReplaceAll(text, "-", " "))
	got, err := seal.ReadRecoveryFile(recovery, mustParse(t, typed))
	if err != nil {
		t.Fatalf("ReadRecoveryFile: %v", err)
	}
	defer got.Destroy()
	if !got.Equal(root) {
		t.Fatal("ReadRecoveryFile returned a different root key")
	}
	write(t, sealed, inst, got, []int{h.PCR})
	closeInst(t, inst)
	inst = open(t, h)
	mustRead(t, sealed, inst, root)
}

func mustParse(t *testing.T, text string) seal.RecoveryKey {
	t.Helper()
	rk, err := seal.ParseRecoveryKey(text)
	if err != nil {
		t.Fatalf("ParseRecoveryKey: %v", err)
	}
	t.Cleanup(rk.Destroy)
	return rk
}
