//go:build cgo

package seal_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/accessd/accessd/seal"
	"github.com/accessd/accessd/seal/sealtest"
	"github.com/accessd/accessd/store/storetest/testkit"
)

func simulatorHarness(t *testing.T) sealtest.Harness {
	dir := t.TempDir()
	var seedFile string
	gen := 0
	replace := func(t *testing.T) {
		gen++
		seedFile = filepath.Join(dir, fmt.Sprintf("simulator-%d.seed", gen))
	}
	replace(t)
	return sealtest.Harness{
		Open: func(t *testing.T) sealtest.Instance {
			s, err := seal.Open(seal.Config{Device: "simulator", SimulatorSeedFile: seedFile})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			return s
		},
		Replace:   replace,
		ExtendPCR: extendPCR,
		PCR:       7,
		Kind:      seal.KindSimulator,
	}
}

func TestConformanceSimulator(t *testing.T) {
	sealtest.Run(t, simulatorHarness(t))
}

func openSim(t *testing.T, seedFile string) *seal.TPM {
	t.Helper()
	s, err := seal.Open(seal.Config{Device: "simulator", SimulatorSeedFile: seedFile})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestSimulatorSingleInstance(t *testing.T) {
	s := openSim(t, "")
	done := make(chan error, 1)
	go func() {
		s2, err := seal.Open(seal.Config{Device: "simulator"})
		if err == nil {
			_ = s2.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, seal.ErrSimulatorInUse) {
			t.Fatalf("second Open = %v, want ErrSimulatorInUse", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("second Open blocked instead of failing")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close = %v, want nil", err)
	}
	if _, err := s.ReadPCRs([]int{7}); err == nil {
		t.Fatal("ReadPCRs on a closed TPM succeeded")
	}
	// Closed, it can be opened again.
	openSim(t, "")
}

func TestSimulatorSeedFile(t *testing.T) {
	dir := t.TempDir()
	seedFile := filepath.Join(dir, "simulator.seed")
	root, err := seal.NewRootKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	sealed := filepath.Join(dir, "root.sealed")

	s := openSim(t, seedFile)
	if err := seal.WriteSealedFile(sealed, s, root, []int{7}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(seedFile)
	if err != nil {
		t.Fatalf("seed file not created: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("seed file mode = %v, want 0600", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(seedFile)
	if _, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err != nil {
		t.Errorf("seed file holds %q, want a decimal int64", b)
	}

	// A restart with the same seed file unseals (what --dev relies on).
	s = openSim(t, seedFile)
	got, _, err := seal.ReadSealedFile(sealed, s)
	if err != nil {
		t.Fatalf("unseal after restart: %v", err)
	}
	if !got.Equal(root) {
		t.Fatal("unseal after restart returned a different key")
	}
	_ = s.Close()

	// Without the seed file it is another TPM.
	s = openSim(t, "")
	if _, _, err := seal.ReadSealedFile(sealed, s); !errors.Is(err, seal.ErrWrongTPM) {
		t.Fatalf("unseal on a simulator with another seed = %v, want ErrWrongTPM", err)
	}
	_ = s.Close()

	if err := os.WriteFile(seedFile, []byte("not a number\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := seal.Open(seal.Config{Device: "simulator", SimulatorSeedFile: seedFile}); err == nil {
		_ = s.Close()
		t.Fatal("Open with a malformed seed file succeeded")
	}
	// The failed Open must have released the simulator.
	openSim(t, filepath.Join(dir, "other.seed"))
}

// TestGoldenSealedFile unseals a root.sealed written by an earlier build with
// the simulator seed kept beside it: the file format and the TPM object
// layout must stay readable. Regenerate with -update (new random blob).
func TestGoldenSealedFile(t *testing.T) {
	sealedPath := filepath.Join("testdata", "root.sealed")
	seedPath := filepath.Join("testdata", "simulator.seed")
	root := goldenRootKey(t)
	if testkit.Updating() {
		dir := t.TempDir()
		tmpSeed := filepath.Join(dir, "seed")
		if err := os.WriteFile(tmpSeed, []byte("20250301\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		s := openSim(t, tmpSeed)
		if err := seal.WriteSealedFile(filepath.Join(dir, "root.sealed"), s, root, []int{7}, goldenTime); err != nil {
			t.Fatal(err)
		}
		_ = s.Close()
		copyFile(t, filepath.Join(dir, "root.sealed"), sealedPath)
		copyFile(t, tmpSeed, seedPath)
	}
	// Work on copies: the simulator must not write to testdata.
	dir := t.TempDir()
	copyFile(t, seedPath, filepath.Join(dir, "seed"))
	s := openSim(t, filepath.Join(dir, "seed"))
	got, _, err := seal.ReadSealedFile(sealedPath, s)
	if err != nil {
		t.Fatalf("unseal testdata/root.sealed: %v", err)
	}
	if !got.Equal(root) {
		t.Fatal("testdata/root.sealed unsealed to a different key")
	}
}

// TestKindMismatch reads a simulator-sealed file with swtpm.
func TestKindMismatch(t *testing.T) {
	dir := t.TempDir()
	root, _ := seal.NewRootKey(nil)
	sealed := filepath.Join(dir, "root.sealed")
	s := openSim(t, "")
	if err := seal.WriteSealedFile(sealed, s, root, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	state := filepath.Join(dir, "tpm")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	p, tcp := startSwtpm(t, state)
	defer p.Stop()
	defer tcp.Close()
	_, _, err := seal.ReadSealedFile(sealed, tcp)
	if !errors.Is(err, seal.ErrWrongTPM) || !strings.Contains(err.Error(), "simulator") || !strings.Contains(err.Error(), "tcp") {
		t.Fatalf("error = %v, want ErrWrongTPM naming both kinds", err)
	}
}

// TestConcurrentUse runs sealing operations from several goroutines on one
// TPM; with -race it checks the command lock.
func TestConcurrentUse(t *testing.T) {
	s := openSim(t, "")
	dir := t.TempDir()
	errs := make(chan error, 4)
	for i := range 4 {
		go func() {
			root, _ := seal.NewRootKey(nil)
			p := filepath.Join(dir, fmt.Sprintf("root-%d.sealed", i))
			for range 5 {
				if err := seal.WriteSealedFile(p, s, root, []int{7}, time.Now()); err != nil {
					errs <- err
					return
				}
				got, _, err := seal.ReadSealedFile(p, s)
				if err != nil {
					errs <- err
					return
				}
				if !got.Equal(root) {
					errs <- errors.New("wrong key")
					return
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// corruptingSealer returns blobs that do not unseal to what was sealed.
type corruptingSealer struct{ *seal.TPM }

func (c corruptingSealer) Seal(secret []byte, policy ...[]seal.PCR) ([]byte, error) {
	other := make([]byte, len(secret))
	copy(other, secret)
	other[len(other)-1] ^= 1
	return c.TPM.Seal(other, policy...)
}

// TestWriteVerifies checks that WriteSealedFile refuses to replace a good
// file with one that does not unseal to the root key.
func TestWriteVerifies(t *testing.T) {
	s := openSim(t, "")
	dir := t.TempDir()
	path := filepath.Join(dir, "root.sealed")
	root, _ := seal.NewRootKey(nil)
	if err := seal.WriteSealedFile(path, s, root, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	other, _ := seal.NewRootKey(nil)
	if err := seal.WriteSealedFile(path, corruptingSealer{s}, other, nil, time.Now()); err == nil {
		t.Fatal("WriteSealedFile accepted a blob that does not unseal to the root key")
	}
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Fatal("a failed WriteSealedFile changed the existing file")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want 1 (temporary file left behind?)", len(entries))
	}
}

func BenchmarkReadSealedFile(b *testing.B) {
	s, err := seal.Open(seal.Config{Device: "simulator"})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	path := filepath.Join(b.TempDir(), "root.sealed")
	root, _ := seal.NewRootKey(nil)
	if err := seal.WriteSealedFile(path, s, root, []int{7}, time.Now()); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		k, _, err := seal.ReadSealedFile(path, s)
		if err != nil {
			b.Fatal(err)
		}
		k.Destroy()
	}
}
