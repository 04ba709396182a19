package barrier

import (
	"bytes"
	"github.com/stretchr/testify/require"
	"io"
	"testing"
)

var testBackupKey = bytes.Repeat([]byte{0x07}, 32)

func encryptStream(t testing.TB, plain []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := NewBackupWriter(&out, testBackupKey, nil, bytes.NewReader(bytes.Repeat([]byte{9}, backupSaltLen)))
	require.NoError(t, err)
	// Odd-sized writes exercise the chunk boundary logic.
	for len(plain) > 0 {
		n := min(len(plain), 7777)
		_, err := w.Write(plain[:n])
		require.NoError(t, err)
		plain = plain[n:]
	}
	require.NoError(t, w.Close())
	return out.Bytes()
}

func TestBackupStreamRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		size   int
		chunks int
	}{
		{"empty", 0, 1},
		{"one byte", 1, 1},
		{"chunk minus one", backupChunk - 1, 1},
		{"exactly one chunk", backupChunk, 1},
		{"chunk plus one", backupChunk + 1, 2},
		{"three chunks", 3 * backupChunk, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			plain := make([]byte, tc.size)
			for i := range plain {
				plain[i] = byte(i * 31)
			}
			enc := encryptStream(t, plain)
			wantLen := backupHeaderLen() + tc.chunks*(backupFrameHdr+gcmTagLen) + tc.size
			require.Len(t, enc, wantLen, "stream is %d bytes, want %d (%d chunks)", len(enc), wantLen, tc.chunks)
			got, err := io.ReadAll(NewBackupReader(bytes.NewReader(enc), testBackupKey, nil))
			require.NoError(t, err, "read")
			require.True(t, bytes.Equal(got, plain), "round trip changed the data")
			// Every strict prefix is refused as truncated.
			for _, cut := range []int{0, backupHeaderLen() - 1, backupHeaderLen(), len(enc) - 1} {
				if cut < 0 {
					continue
				}
				_, err := io.ReadAll(NewBackupReader(bytes.NewReader(enc[:cut]), testBackupKey, nil))
				require.ErrorIs(t, err, ErrBadBackup, "prefix of %d bytes: %v, want ErrBadBackup", cut, err)
			}
		})
	}
}

func TestBackupStreamDropsFinalChunk(t *testing.T) {
	t.Parallel()
	enc := encryptStream(t, make([]byte, 2*backupChunk+10))
	// Cut exactly after the second full chunk: every remaining chunk is
	// intact, only the final one is missing.
	cut := backupHeaderLen() + 2*(backupFrameHdr+backupChunk+gcmTagLen)
	_, err := io.ReadAll(NewBackupReader(bytes.NewReader(enc[:cut]), testBackupKey, nil))
	require.ErrorIs(t, err, ErrBadBackup, "stream without its final chunk: %v, want ErrBadBackup", err)
	// Relabelling the last non-final chunk as final fails too.
	relabel := bytes.Clone(enc[:cut])
	relabel[backupHeaderLen()+backupFrameHdr+backupChunk+gcmTagLen] = 1
	_, err = io.ReadAll(NewBackupReader(bytes.NewReader(relabel), testBackupKey, nil))
	require.ErrorIs(t, err, ErrBadBackup, "chunk relabelled final: %v, want ErrBadBackup", err)
}

// FuzzBackupReader: the reader of untrusted backup streams never panics,
// never allocates beyond one chunk, and accepts nothing but the streams
// made under its key.
func FuzzBackupReader(f *testing.F) {
	valid := encryptStream(f, []byte("some badger backup bytes"))
	big := encryptStream(f, bytes.Repeat([]byte("x"), backupChunk+100))
	f.Add(valid)
	f.Add(big[:len(big)-1])
	f.Add(valid[:backupHeaderLen()])
	f.Add([]byte(backupMagic))
	f.Add(append(bytes.Clone(valid), 0))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := io.ReadAll(NewBackupReader(bytes.NewReader(data), testBackupKey, nil))
		if err != nil {
			require.ErrorIs(t, err, ErrBadBackup, "error not wrapping ErrBadBackup: %v", err)
			return
		}
		require.True(t, bytes.Equal(data, valid) || bytes.Equal(data, big), "forged stream accepted (%d plaintext bytes)", len(got))
	})
}

// A bound stream opens only with its own binding: not with another, not
// unbound; and an unbound (version-1) stream is refused when a binding
// is claimed.
func TestBackupStreamBinding(t *testing.T) {
	t.Parallel()
	write := func(bind []byte) []byte {
		var out bytes.Buffer
		w, err := NewBackupWriter(&out, testBackupKey, bind, bytes.NewReader(bytes.Repeat([]byte{7}, backupSaltLen)))
		require.NoError(t, err)
		_, err = w.Write([]byte("the store"))
		require.NoError(t, err)
		require.NoError(t, w.Close())
		return out.Bytes()
	}
	a, b := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	bound := write(a)
	// A version-1 stream, as the writer before the binding made it: its
	// own magic, and the header alone as AAD.
	var old bytes.Buffer
	header := append([]byte(backupMagicV1), bytes.Repeat([]byte{7}, backupSaltLen)...)
	aead, err := backupAEAD(testBackupKey, header[len(backupMagicV1):])
	require.NoError(t, err)
	old.Write(header)
	w1 := &BackupWriter{w: &old, aead: aead, aad: header, buf: make([]byte, 0, backupChunk)}
	_, err = w1.Write([]byte("the store"))
	require.NoError(t, err)
	require.NoError(t, w1.Close())
	v1 := old.Bytes()
	for _, tc := range []struct {
		name   string
		stream []byte
		bind   []byte
		ok     bool
	}{
		{"own binding", bound, a, true},
		{"another binding", bound, b, false},
		{"unbound", bound, nil, false},
		{"version 1 read unbound", v1, nil, true},
		{"version 1 under a binding", v1, a, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := io.ReadAll(NewBackupReader(bytes.NewReader(tc.stream), testBackupKey, tc.bind))
			if tc.ok {
				require.NoError(t, err)
				require.Equal(t, "the store", string(got))
				return
			}
			require.ErrorIs(t, err, ErrBadBackup, "err = %v, want ErrBadBackup", err)
		})
	}
}
