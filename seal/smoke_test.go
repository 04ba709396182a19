package seal_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/accessd/accessd/seal"
)

func TestSmoke(t *testing.T) {
	dir := t.TempDir()
	s, err := seal.Open(seal.Config{Device: "simulator", SimulatorSeedFile: filepath.Join(dir, "seed")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	root, _ := seal.NewRootKey(nil)
	for _, pcrs := range [][]int{nil, {7}, {0, 7, 16}} {
		start := time.Now()
		p := filepath.Join(dir, "root.sealed")
		if err := seal.WriteSealedFile(p, s, root, pcrs, time.Now()); err != nil {
			t.Fatal(err)
		}
		t.Log("write", time.Since(start))
		start = time.Now()
		got, err := seal.ReadSealedFile(p, s)
		if err != nil {
			t.Fatal(err)
		}
		t.Log("read", time.Since(start), got.Equal(root), got)
	}
}
