package store_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestPowerLoss is TestCrashRecovery with the page cache lost as well: a
// SIGKILL leaves every written page in the kernel, so that test passes
// even when the store never syncs. Here the store lives on an ext4 file
// system on a loop device, mounted with commit=600 so that nothing
// reaches the device in the test's lifetime unless an fsync puts it
// there. After the kill, the device's backing file is copied as it is:
// the image a power cut would have left, holding what the store synced
// and nothing else. That copy is mounted (ext4 replays its journal, as
// after a reboot) and must hold every write the child saw acknowledged.
//
// Why this and not dm-flakey or dm-log-writes: this kernel has no
// device-mapper (no /dev/mapper/control), and a FUSE layer would be a
// new dependency; a loop device is in every kernel the tests run on.
// What it cannot catch: a device that acknowledges a flush it did not do
// (the loop driver flushes its backing file for real), and reordering
// inside one fsync.
func TestPowerLoss(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("mounts loop devices and spawns processes")
	}
	for _, tool := range []string{"losetup", "mkfs.ext4"} {
		_, err := exec.LookPath(tool)
		require.NoError(t, err, "%s is required (util-linux, e2fsprogs)", tool)
	}
	work := t.TempDir()
	img := filepath.Join(work, "disk.img")
	mnt := filepath.Join(work, "mnt")
	require.NoError(t, os.Mkdir(mnt, 0o700))
	f, err := os.Create(img)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(256<<20))
	f.Close()
	out, err := exec.Command("mkfs.ext4", "-q", "-F", img).CombinedOutput()
	require.NoError(t, err, "mkfs.ext4: %s", out)

	// mount attaches img to a free loop device and mounts it; the
	// returned function unmounts and detaches it.
	mount := func() func() {
		t.Helper()
		out, err := exec.Command("losetup", "-f", "--show", img).CombinedOutput()
		if err != nil {
			t.Skipf("no loop device here (%v: %s): the power-loss test needs one (run as root on a kernel with loop support)", err, out)
		}
		dev := strings.TrimSpace(string(out))
		if err := unix.Mount(dev, mnt, "ext4", 0, "commit=600"); err != nil {
			exec.Command("losetup", "-d", dev).Run()
			require.NoError(t, err, "mount %s", dev)
		}
		done := false
		undo := func() {
			if done {
				return
			}
			done = true
			assert.NoError(t, unix.Unmount(mnt, 0), "unmount %s", mnt)
			out, err := exec.Command("losetup", "-d", dev).CombinedOutput()
			assert.NoError(t, err, "losetup -d %s: %s", dev, out)
		}
		t.Cleanup(undo)
		return undo
	}

	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0x90e7))
	dir := filepath.Join(mnt, "db")
	ack := acknowledged{users: map[string]bool{}}
	const rounds = 6
	for round := range rounds {
		unmount := mount()
		if round > 0 {
			verifyAfterCrash(t, dir, round-1, ack.users, ack.maxSeq, ack.maxCounter)
		}
		acked := runUntilKilled(t, dir, "p"+strconv.Itoa(round), true, time.Duration(50+rng.IntN(200))*time.Millisecond)
		// The power cut: the device as it is, before the unmount
		// writes back what nobody synced.
		cut := img + ".cut"
		copyFile(t, img, cut)
		unmount()
		require.NoError(t, os.Rename(cut, img))
		ack.add(t, round, acked)
		t.Logf("round %d: %d writes acknowledged before the cut", round, len(acked))
	}
	mount()
	verifyAfterCrash(t, dir, rounds-1, ack.users, ack.maxSeq, ack.maxCounter)
	ack.requireSome(t)
	t.Logf("REPORT %d power cuts, %d acknowledged users, audit seq %d, counter %d all on the device", rounds, len(ack.users), ack.maxSeq, ack.maxCounter)
}

// runUntilKilled runs TestCrashChild on dir as round tag, SIGKILLs it
// after d (counted from its first acknowledged write when afterFirst,
// else from its start, so it may die while Badger is still opening), and
// returns every write it acknowledged before it died.
func runUntilKilled(t *testing.T, dir, tag string, afterFirst bool, d time.Duration) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashRoundEnv+"="+tag)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	lines := make(chan string, 1024)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var acked []string
	deadline := time.After(d)
	if afterFirst {
		select {
		case l, ok := <-lines:
			require.True(t, ok, "round %s: child exited early: %s", tag, stderr.String())
			acked = append(acked, l)
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			require.FailNow(t, fmt.Sprintf("round %s: no write acknowledged", tag))
		}
		deadline = time.After(d)
	}
collect:
	for {
		select {
		case l, ok := <-lines:
			require.True(t, ok, "round %s: child exited early: %s", tag, stderr.String())
			acked = append(acked, l)
		case <-deadline:
			break collect
		}
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	for l := range lines { // what was printed before death was acknowledged
		acked = append(acked, l)
	}
	// Wait returns once the process is gone, so no fsync of it is still
	// in flight when a device is copied.
	_ = cmd.Wait()
	require.Empty(t, strings.TrimSpace(stderr.String()), "round %s: child reported: %s", tag, stderr.String())
	return acked
}

// copyFile copies src to dst, keeping holes out of the way only by
// writing what it reads (the image is small).
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	require.NoError(t, err)
	defer in.Close()
	out, err := os.Create(dst)
	require.NoError(t, err)
	if _, err := io.Copy(out, in); !errors.Is(err, io.EOF) {
		require.NoError(t, err)
	}
	require.NoError(t, out.Close())
}
