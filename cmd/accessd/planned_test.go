package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/google/go-tpm/tpm2"
	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/seal"
	"github.com/accessd/accessd/seal/sealtest"
)

// TestPlannedPCRChangeWithSwtpm is issue 10 §1 on a real TPM over TCP with
// the production commands: the root key is sealed to PCRs 7 and 23;
// `reseal --pcr-values` prepares for a change of PCR 23 (the value it will
// hold after the extend, predicted); a restart before the change still
// works; tpm2_pcrextend makes the change; serve starts without the
// recovery key and re-seals to the new values alone. Then a change that
// matches neither branch is refused naming PCR 23 and `accessd recover`,
// and recover keeps the PCRs root.sealed records although the config now
// says otherwise, which serve reports. Every root.sealed written on the
// way is recorded (inotify) and each must carry a PCR policy, in its
// header and in the TPM object's authPolicy.
func TestPlannedPCRChangeWithSwtpm(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("tpm2_pcrextend"); err != nil {
		t.Skip("tpm2_pcrextend is not installed (apt-get install tpm2-tools)")
	}
	port := freePort(t)
	sealtest.StartSwtpm(t, t.TempDir(), port)

	tmp := t.TempDir()
	d := filepath.Join(tmp, "data")
	sealed := filepath.Join(d, "seal", "root.sealed")
	pc := newProdConf(t, tmp, port)
	cfgFile, pool, addr := pc.file, pc.pool, pc.addr
	writeConfig := func(pcrs string) { pc.write(t, pcrs) }
	writeConfig("[7, 23]")

	r := runAccessd(t, "init", "--config", cfgFile)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "sealed to tcp, PCRs [7 23]")
	recovery, _ := secretsIn(t, r.stdout)
	var written [][]byte // every root.sealed, from init on
	snapshot := func() []byte {
		t.Helper()
		b, err := os.ReadFile(sealed)
		require.NoError(t, err)
		written = append(written, b)
		return b
	}
	snapshot()
	watched := watchSealed(t, filepath.Dir(sealed))

	serve := func() *served {
		t.Helper()
		s := startServe(t, 60*time.Second, "--config", cfgFile)
		c, err := tlsGet(pool, "https://"+addr+"/health")
		require.NoError(t, err)
		require.Equal(t, "healthy", c)
		s.stop(t)
		return s
	}
	extend23 := func(measurement string) {
		t.Helper()
		m := sha256.Sum256([]byte(measurement))
		tpmTool(t, port, "tpm2_pcrextend", fmt.Sprintf("23:sha256=%x", m))
	}
	pcr23 := func() []byte {
		t.Helper()
		s, err := seal.Open(seal.Config{Device: fmt.Sprintf("tcp://127.0.0.1:%d", port)})
		require.NoError(t, err)
		defer s.Close()
		v, err := s.ReadPCRs([]int{23})
		require.NoError(t, err)
		return v[0].Digest
	}

	// Prepare: the value PCR 23 will hold after the update is predicted
	// as SHA-256(old || SHA-256(measurement)).
	const update = "firmware update 2.0"
	old := pcr23()
	m := sha256.Sum256([]byte(update))
	predicted := sha256.Sum256(append(bytes.Clone(old), m[:]...))
	r = runAccessd(t, "reseal", "--config", cfgFile, "--pcr-values", "23=sha256:"+hex.EncodeToString(predicted[:]))
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "PCRs [7 23]")
	require.Contains(t, r.stdout, "23=sha256:"+hex.EncodeToString(predicted[:]))
	planned := snapshot()
	info := sealedInfo(t, planned)
	require.Len(t, info.Planned, 2, "root.sealed records the planned values of PCRs 7 and 23")
	require.Equal(t, old, info.PCRs[1].Digest)
	require.Equal(t, predicted[:], info.Planned[1].Digest)
	require.Equal(t, info.PCRs[0].Digest, info.Planned[0].Digest, "PCR 7 keeps its value")

	// A restart before the change works and leaves the file alone.
	s := serve()
	require.Contains(t, s.stderr.String(), "seal.planned_pending")
	require.Equal(t, planned, snapshot())

	// The change; the first start on the new values needs no recovery key
	// and re-seals to the new values alone.
	extend23(update)
	require.Equal(t, predicted[:], pcr23())
	s = serve()
	require.Contains(t, s.stderr.String(), "seal.planned_done")
	info = sealedInfo(t, snapshot())
	require.Empty(t, info.Planned, "after the change root.sealed is bound to the new values alone")
	require.Len(t, info.PCRs, 2)
	require.Equal(t, predicted[:], info.PCRs[1].Digest)
	// The old values no longer open it: PCR 23 is resettable, so put it
	// back to its old value (zero), be refused, and redo the update.
	tpmTool(t, port, "tpm2_pcrreset", "23")
	require.Equal(t, old, pcr23())
	r = runAccessd(t, "serve", "--config", cfgFile)
	require.NotEqual(t, 0, r.code)
	require.Contains(t, r.stderr, "PCR 23 changed since sealing")
	extend23(update)

	// A planned change that does not happen as planned: the PCR then holds
	// neither value, and serve says which PCR and to recover.
	wrong := sha256.Sum256([]byte("not what will happen"))
	r = runAccessd(t, "reseal", "--config", cfgFile, "--pcr-values", "23=sha256:"+hex.EncodeToString(wrong[:]))
	require.Equal(t, 0, r.code, r.stderr)
	snapshot()
	extend23("an unplanned update")
	r = runAccessd(t, "serve", "--config", cfgFile)
	require.NotEqual(t, 0, r.code)
	require.Contains(t, r.stderr, "PCR 23 changed since sealing")
	require.Contains(t, r.stderr, "planned values")
	require.Contains(t, r.stderr, "accessd recover --recovery-key-file")

	// recover keeps the PCRs root.sealed records, not the config's.
	writeConfig("[7]")
	keyFile := filepath.Join(tmp, "recovery.key")
	require.NoError(t, os.WriteFile(keyFile, []byte(recovery), 0o600))
	r = runAccessd(t, "recover", "--config", cfgFile, "--recovery-key-file", keyFile)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "PCRs [7 23]")
	require.Contains(t, r.stderr, "seal.pcr_drift")
	info = sealedInfo(t, snapshot())
	require.Equal(t, []int{7, 23}, indices(info.PCRs))
	require.Empty(t, info.Planned)
	s = serve()
	require.Contains(t, s.stderr.String(), "root key is bound to PCRs [7, 23] but seal.pcrs is [7]; run `accessd reseal --pcrs 7`")

	// reseal without --pcrs keeps the recorded selection too.
	r = runAccessd(t, "reseal", "--config", cfgFile)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "PCRs [7 23]")
	snapshot()

	// Every root.sealed written carried a PCR policy. The watcher saw each
	// write after init: reseal, serve's re-seal, reseal, recover, reseal.
	seen := watched()
	for i, b := range append(written, seen...) {
		requireBound(t, i, b)
	}
	require.Equal(t, 5, len(seen), "root.sealed writes seen by inotify")
}

// tpmTool runs a tpm2-tools command against the swtpm on port.
func tpmTool(t *testing.T, port int, args ...string) {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), fmt.Sprintf("TPM2TOOLS_TCTI=swtpm:host=127.0.0.1,port=%d", port))
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
}

func indices(pcrs []seal.PCR) []int {
	out := make([]int, len(pcrs))
	for i, p := range pcrs {
		out[i] = p.Index
	}
	return out
}

// sealedInfo parses root.sealed bytes with the package's own reader.
func sealedInfo(t *testing.T, b []byte) seal.SealedInfo {
	t.Helper()
	p := filepath.Join(t.TempDir(), "root.sealed")
	require.NoError(t, os.WriteFile(p, b, 0o600))
	info, err := seal.ReadSealedInfo(p)
	require.NoError(t, err)
	return info
}

// requireBound checks that a root.sealed is bound to PCRs twice over: its
// header lists PCRs, and the TPM object inside (whose public area the TPM
// checks at load) has no user auth and a non-empty authPolicy, so only a
// PCR policy session opens it. It reads the blob by the formats documented
// in seal/sealedfile.go and seal/blob.go.
func requireBound(t *testing.T, i int, b []byte) {
	t.Helper()
	info := sealedInfo(t, b)
	require.NotEmpty(t, info.PCRs, "root.sealed #%d has no PCRs in its header", i)
	entry := 33
	if len(info.Planned) > 0 {
		entry = 65
	}
	end := len("ACCESSD-SEALED\n") + 1 + 1 + 8 + 2 + 1 + len(info.PCRs)*entry
	blob := b[end+4:]
	require.Equal(t, int(binary.BigEndian.Uint32(b[end:])), len(blob))
	require.Equal(t, byte(1), blob[0], "blob version")
	n := int(binary.BigEndian.Uint16(blob[1:]))
	rest := blob[3+n:] // past the SRK name
	n = int(binary.BigEndian.Uint16(rest))
	pub, err := tpm2.Unmarshal[tpm2.TPMTPublic](rest[2 : 2+n])
	require.NoError(t, err)
	require.False(t, pub.ObjectAttributes.UserWithAuth, "root.sealed #%d: the sealed object opens with its (empty) auth value, unbound", i)
	require.Len(t, pub.AuthPolicy.Buffer, 32, "root.sealed #%d: the sealed object has no PCR policy", i)
}

// watchSealed records the contents of every file renamed onto root.sealed
// in dir from now on; the function it returns stops watching and returns
// them.
func watchSealed(t *testing.T, dir string) func() [][]byte {
	t.Helper()
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK)
	require.NoError(t, err)
	_, err = syscall.InotifyAddWatch(fd, dir, syscall.IN_MOVED_TO|syscall.IN_CREATE)
	require.NoError(t, err)
	f := os.NewFile(uintptr(fd), "inotify")
	var (
		mu   sync.Mutex
		got  [][]byte
		errs []string
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			n, err := f.Read(buf)
			if err != nil {
				return
			}
			for off := 0; off+syscall.SizeofInotifyEvent <= n; {
				ev := (*syscall.InotifyEvent)(unsafe.Pointer(&buf[off]))
				name := strings.TrimRight(string(buf[off+syscall.SizeofInotifyEvent:off+syscall.SizeofInotifyEvent+int(ev.Len)]), "\x00")
				off += syscall.SizeofInotifyEvent + int(ev.Len)
				if name != "root.sealed" {
					continue
				}
				b, err := os.ReadFile(filepath.Join(dir, name))
				mu.Lock()
				if err != nil {
					errs = append(errs, err.Error())
				} else {
					got = append(got, b)
				}
				mu.Unlock()
			}
		}
	}()
	stopped := false
	stop := func() [][]byte {
		if !stopped {
			stopped = true
			f.Close()
			<-done
		}
		mu.Lock()
		defer mu.Unlock()
		require.Empty(t, errs, "reading root.sealed after a write")
		return got
	}
	t.Cleanup(func() { stop() })
	return stop
}
