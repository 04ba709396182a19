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

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
			require.NoError(t, err)
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
	require.NoError(t, err)
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
		require.ErrorIs(t, err, seal.ErrSimulatorInUse, "second Open = %v, want ErrSimulatorInUse", err)
	case <-time.After(10 * time.Second):
		require.Fail(t, "second Open blocked instead of failing")
	}
	require.NoError(t, s.Close())
	if err := s.Close(); err != nil {
		require.Fail(t, fmt.Sprintf("second Close = %v, want nil", err))
	}
	if _, err := s.ReadPCRs([]int{7}); err == nil {
		require.Fail(t, "ReadPCRs on a closed TPM succeeded")
	}
	// Closed, it can be opened again.
	openSim(t, "")
}

func TestSimulatorSeedFile(t *testing.T) {
	dir := t.TempDir()
	seedFile := filepath.Join(dir, "simulator.seed")
	root, err := seal.NewRootKey(nil)
	require.NoError(t, err)
	sealed := filepath.Join(dir, "root.sealed")

	s := openSim(t, seedFile)
	require.NoError(t, seal.WriteSealedFile(sealed, s, root, []int{7}, time.Now()))
	require.NoError(t, s.Close())
	fi, err := os.Stat(seedFile)
	require.NoError(t, err, "seed file not created: %v", err)
	assert.EqualValues(t, 0o600, fi.Mode().Perm(), "seed file mode = %v, want 0600", fi.Mode().Perm())
	b, _ := os.ReadFile(seedFile)
	if _, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err != nil {
		assert.Fail(t, fmt.Sprintf("seed file holds %q, want a decimal int64", b))
	}

	// A restart with the same seed file unseals (what --dev relies on).
	s = openSim(t, seedFile)
	got, _, err := seal.ReadSealedFile(sealed, s)
	require.NoError(t, err, "unseal after restart: %v", err)
	require.True(t, got.Equal(root), "unseal after restart returned a different key")
	_ = s.Close()

	// Without the seed file it is another TPM.
	s = openSim(t, "")
	if _, _, err := seal.ReadSealedFile(sealed, s); !errors.Is(err, seal.ErrWrongTPM) {
		require.Fail(t, fmt.Sprintf("unseal on a simulator with another seed = %v, want ErrWrongTPM", err))
	}
	_ = s.Close()

	require.NoError(t, os.WriteFile(seedFile, []byte("not a number\n"), 0o600))
	if s, err := seal.Open(seal.Config{Device: "simulator", SimulatorSeedFile: seedFile}); err == nil {
		_ = s.Close()
		require.Fail(t, "Open with a malformed seed file succeeded")
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
		require.NoError(t, os.WriteFile(tmpSeed, []byte("20250301\n"), 0o600))
		s := openSim(t, tmpSeed)
		require.NoError(t, seal.WriteSealedFile(filepath.Join(dir, "root.sealed"), s, root, []int{7}, goldenTime))
		_ = s.Close()
		copyFile(t, filepath.Join(dir, "root.sealed"), sealedPath)
		copyFile(t, tmpSeed, seedPath)
	}
	// Work on copies: the simulator must not write to testdata.
	dir := t.TempDir()
	copyFile(t, seedPath, filepath.Join(dir, "seed"))
	s := openSim(t, filepath.Join(dir, "seed"))
	got, _, err := seal.ReadSealedFile(sealedPath, s)
	require.NoError(t, err, "unseal testdata/root.sealed: %v", err)
	require.True(t, got.Equal(root), "testdata/root.sealed unsealed to a different key")
}

// TestKindMismatch reads a simulator-sealed file with swtpm.
func TestKindMismatch(t *testing.T) {
	dir := t.TempDir()
	root, _ := seal.NewRootKey(nil)
	sealed := filepath.Join(dir, "root.sealed")
	s := openSim(t, "")
	require.NoError(t, seal.WriteSealedFile(sealed, s, root, nil, time.Now()))
	_ = s.Close()
	state := filepath.Join(dir, "tpm")
	require.NoError(t, os.Mkdir(state, 0o700))
	p, tcp := startSwtpm(t, state)
	defer p.Stop()
	defer tcp.Close()
	_, _, err := seal.ReadSealedFile(sealed, tcp)
	require.False(t, !errors.Is(err, seal.ErrWrongTPM) || !strings.Contains(err.Error(), "simulator") || !strings.Contains(err.Error(), "tcp"), "error = %v, want ErrWrongTPM naming both kinds", err)
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
		require.NoError(t, <-errs)
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
	require.NoError(t, seal.WriteSealedFile(path, s, root, nil, time.Now()))
	before, _ := os.ReadFile(path)
	other, _ := seal.NewRootKey(nil)
	if err := seal.WriteSealedFile(path, corruptingSealer{s}, other, nil, time.Now()); err == nil {
		require.Fail(t, "WriteSealedFile accepted a blob that does not unseal to the root key")
	}
	after, _ := os.ReadFile(path)
	require.EqualValues(t, string(after), string(before), "a failed WriteSealedFile changed the existing file")
	entries, _ := os.ReadDir(dir)
	require.Len(t, entries, 1, "directory holds %d entries, want 1 (temporary file left behind?)", len(entries))
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
