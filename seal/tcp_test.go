package seal_test

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/seal"
)

// recorder is a loopback TCP proxy that keeps every byte it forwards.
type recorder struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.Write(p)
}

func (r *recorder) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.buf.Bytes())
}

func startProxy(t *testing.T, target string) (string, *recorder) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	rec := &recorder{}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			go func() { _, _ = io.Copy(io.MultiWriter(u, rec), c); u.Close() }()
			go func() { _, _ = io.Copy(io.MultiWriter(c, rec), u); c.Close() }()
		}
	}()
	return "tcp://" + l.Addr().String(), rec
}

// TestTrafficHasNoKey watches the bytes between accessd and swtpm while a
// root key is sealed and unsealed: parameter encryption must keep the key
// (and the sealed payload) off the wire.
func TestTrafficHasNoKey(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	p, direct := startSwtpm(t, state)
	defer p.Stop()
	direct.Close()

	addr, rec := startProxy(t, strings.TrimPrefix(p.Device, "tcp://"))
	var s *seal.TPM
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if s, err = seal.Open(seal.Config{Device: addr}); err == nil {
			break
		}
	}
	require.NoError(t, err)
	defer s.Close()

	root, _ := seal.NewRootKey(nil)
	dir := t.TempDir()
	for _, pcrs := range [][]int{nil, {7}} {
		path := filepath.Join(dir, "root.sealed")
		require.NoError(t, seal.WriteSealedFile(path, s, root, pcrs, time.Now()))
		got, _, err := seal.ReadSealedFile(path, s)
		require.False(t, err != nil || !got.Equal(root), "round trip: %v", err)
	}
	wire := rec.bytes()
	require.False(t, len(wire) < 1000, "recorded only %d bytes: the proxy is not in the path", len(wire))
	key := root.Bytes()
	for i := 0; i+8 <= len(key); i++ {
		require.False(t, bytes.Contains(wire, key[i:i+8]), "bytes %d-%d of the root key crossed the wire in clear", i, i+8)
	}
	// Sanity: the recorder does see what is not encrypted, e.g. a sealed
	// blob's public area is in root.sealed and on the wire.
	sealed, err := os.ReadFile(filepath.Join(dir, "root.sealed"))
	require.NoError(t, err)
	require.True(t, bytes.Contains(wire, sealed[len(sealed)-40:]), "the recorder did not see the sealed blob: the test proves nothing")
}
