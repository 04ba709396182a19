//go:build cgo

package seal

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/google/go-tpm-tools/simulator"
	"github.com/google/go-tpm/tpm2/transport"
)

// SimulatorBuiltIn reports whether this binary holds the in-process
// simulator (cgo builds only; never the packaged binaries).
const SimulatorBuiltIn = true

// simulatorOpen guards the simulator's global C state. go-tpm-tools blocks a
// second Get until the first simulator is closed; accessd would rather fail
// with a clear error than hang.
var simulatorOpen atomic.Bool

// openSimulator starts the in-process reference TPM with seeds derived from
// the seed file, so that blobs it seals unseal after a restart.
func openSimulator(cfg Config) (*TPM, error) {
	if !simulatorOpen.CompareAndSwap(false, true) {
		return nil, fmt.Errorf("seal: open simulator: %w; close it before opening another", ErrSimulatorInUse)
	}
	seed, err := simulatorSeed(cfg.SimulatorSeedFile, cfg.Rand)
	if err != nil {
		simulatorOpen.Store(false)
		return nil, err
	}
	sim, err := simulator.GetWithFixedSeedInsecure(seed)
	if err != nil {
		simulatorOpen.Store(false)
		return nil, fmt.Errorf("seal: open simulator: %w", err)
	}
	tp := transport.FromReadWriteCloser(sim)
	closeSim := func() error {
		defer simulatorOpen.Store(false)
		return tp.Close()
	}
	return &TPM{kind: KindSimulator, name: "simulator", tpm: tp, closeFn: closeSim}, nil
}

// simulatorSeed reads the seed from path, or creates path with a new random
// seed. An empty path gives a random seed that is not kept.
func simulatorSeed(path string, r io.Reader) (int64, error) {
	if r == nil {
		r = rand.Reader
	}
	if path != "" {
		b, err := os.ReadFile(path)
		switch {
		case err == nil:
			seed, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("seal: simulator seed file %s: not a decimal int64; delete it to start a new simulator (its sealed files become unreadable)", path)
			}
			return seed, nil
		case !errors.Is(err, fs.ErrNotExist):
			return 0, fmt.Errorf("seal: read simulator seed file: %w", err)
		}
	}
	var b [8]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, fmt.Errorf("seal: generate simulator seed: %w", err)
	}
	seed := int64(binary.BigEndian.Uint64(b[:]))
	if path != "" {
		if err := writeFileAtomic(path, []byte(strconv.FormatInt(seed, 10)+"\n"), false); err != nil {
			return 0, fmt.Errorf("seal: write simulator seed file: %w", err)
		}
	}
	return seed, nil
}
