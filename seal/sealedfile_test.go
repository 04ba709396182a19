package seal_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/seal"
	"github.com/accessd/accessd/store/storetest/testkit"
)

func goldenInfo() seal.SealedInfo {
	return seal.SealedInfo{
		Kind: seal.KindTCP,
		PCRs: []seal.PCR{
			{Index: 0, Digest: bytes.Repeat([]byte{0x00}, 32)},
			{Index: 7, Digest: bytes.Repeat([]byte{0x07}, 32)},
		},
		Created: goldenTime,
	}
}

func TestSealedHeaderGolden(t *testing.T) {
	t.Parallel()
	h, err := seal.EncodeSealedHeader(goldenInfo())
	require.NoError(t, err)
	testkit.Golden(t, "sealed-header.golden", h)
	assert.True(t, strings.HasPrefix(string(h), "ACCESSD-SEALED\n"), "header does not start with the magic")
}

func TestParseSealed(t *testing.T) {
	t.Parallel()
	h, err := seal.EncodeSealedHeader(goldenInfo())
	require.NoError(t, err)
	blob := []byte{1, 0, 1, 'n', 0, 1, 'p', 0, 1, 's'}
	good := seal.EncodeSealed(h, blob)
	header, gotBlob, info, err := seal.SealedParts(good)
	require.NoError(t, err, "parse a well-formed file: %v", err)
	if !bytes.Equal(header, h) || !bytes.Equal(gotBlob, blob) || info.Kind != seal.KindTCP ||
		len(info.PCRs) != 2 || info.PCRs[1].Index != 7 || !info.Created.Equal(goldenTime) {
		require.Fail(t, fmt.Sprintf("parsed %+v", info))
	}

	const pcrCount = len("ACCESSD-SEALED\n") + 1 + 1 + 8 + 2
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"magic only", []byte("ACCESSD-SEALED\n")},
		{"wrong magic", mutate(func(b []byte) []byte { b[0] = 'X'; return b })},
		{"version 3", mutate(func(b []byte) []byte { b[15] = 3; return b })},
		{"version 2 without planned values", mutate(func(b []byte) []byte { b[15] = 2; return b })},
		{"kind 0", mutate(func(b []byte) []byte { b[16] = 0; return b })},
		{"kind 9", mutate(func(b []byte) []byte { b[16] = 9; return b })},
		{"SHA-1 bank", mutate(func(b []byte) []byte { b[pcrCount-1] = 0x04; return b })},
		{"25 PCRs", mutate(func(b []byte) []byte { b[pcrCount] = 25; return b })},
		{"PCR count beyond the file", mutate(func(b []byte) []byte { b[pcrCount] = 24; return b })},
		{"PCR 24", mutate(func(b []byte) []byte { b[pcrCount+1+33] = 24; return b })},
		{"PCRs out of order", mutate(func(b []byte) []byte { b[pcrCount+1] = 8; return b })},
		{"PCR listed twice", mutate(func(b []byte) []byte { b[pcrCount+1+33] = 0; return b })},
		{"blob length short", mutate(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[len(h):], uint32(len(blob)-1))
			return b
		})},
		{"blob length zero", seal.EncodeSealed(h, nil)},
		{"trailing byte", append(bytes.Clone(good), 0)},
		{"truncated", good[:len(good)-1]},
		{"header only", h},
		{"too large", append(bytes.Clone(good), make([]byte, 64<<10)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, _, err := seal.SealedParts(tt.data); err == nil {
				require.Fail(t, "parsed")
			}
		})
	}
}

// plannedInfo is goldenInfo with a planned change of PCR 7 pending.
func plannedInfo() seal.SealedInfo {
	info := goldenInfo()
	info.Planned = []seal.PCR{info.PCRs[0], {Index: 7, Digest: bytes.Repeat([]byte{0x77}, 32)}}
	return info
}

func TestSealedHeaderPlannedGolden(t *testing.T) {
	t.Parallel()
	h, err := seal.EncodeSealedHeader(plannedInfo())
	require.NoError(t, err)
	testkit.Golden(t, "sealed-header-planned.golden", h)
	assert.EqualValues(t, 2, h[15], "a header with planned values has version %d, want 2", h[15])
}

func TestParseSealedPlanned(t *testing.T) {
	t.Parallel()
	h, err := seal.EncodeSealedHeader(plannedInfo())
	require.NoError(t, err)
	blob := []byte{1, 0, 1, 'n', 0, 1, 'p', 0, 1, 's'}
	good := seal.EncodeSealed(h, blob)
	_, _, info, err := seal.SealedParts(good)
	require.NoError(t, err, "parse a well-formed file: %v", err)
	want := plannedInfo()
	if len(info.Planned) != 2 || !bytes.Equal(info.Planned[1].Digest, want.Planned[1].Digest) ||
		info.Planned[1].Index != 7 || !bytes.Equal(info.PCRs[1].Digest, want.PCRs[1].Digest) {
		require.Fail(t, fmt.Sprintf("parsed %+v", info))
	}

	const entries = len("ACCESSD-SEALED\n") + 1 + 1 + 8 + 2 + 1
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	tests := []struct {
		name string
		data []byte
	}{
		{"version 1", mutate(func(b []byte) []byte { b[15] = 1; return b })},
		{"no PCRs", seal.EncodeSealed(append(bytes.Clone(h[:entries-1]), 0), blob)},
		{"planned values all equal to the sealed ones", mutate(func(b []byte) []byte {
			copy(b[entries+65+33:], b[entries+65+1:entries+65+33])
			return b
		})},
		{"truncated planned value", seal.EncodeSealed(h[:len(h)-1], blob)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, _, err := seal.SealedParts(tt.data); err == nil {
				require.Fail(t, "parsed")
			}
		})
	}
	for name, info := range map[string]seal.SealedInfo{
		"planned without PCRs": {Kind: seal.KindTCP, Planned: want.Planned},
		"planned other PCRs":   {Kind: seal.KindTCP, PCRs: want.PCRs, Planned: want.Planned[1:]},
		"planned same values":  {Kind: seal.KindTCP, PCRs: want.PCRs, Planned: want.PCRs},
	} {
		if _, err := seal.EncodeSealedHeader(info); err == nil {
			assert.Fail(t, fmt.Sprintf("%s: EncodeSealedHeader succeeded", name))
		}
	}
}

func TestParsePCRValues(t *testing.T) {
	t.Parallel()
	v0, v7 := strings.Repeat("00", 32), strings.Repeat("7f", 32)
	tests := []struct {
		in   string
		want string // FormatPCRValues of the result; "" = refused
	}{
		{"7=sha256:" + v7, "7=sha256:" + v7},
		{"23=SHA256:" + strings.ToUpper(v7) + ", 0=sha256:" + v0, "0=sha256:" + v0 + ",23=sha256:" + v7},
		{"", ""},
		{"7", ""},
		{"7=" + v7, ""},
		{"7=sha1:" + v7, ""},
		{"24=sha256:" + v7, ""},
		{"-1=sha256:" + v7, ""},
		{"x=sha256:" + v7, ""},
		{"7=sha256:" + v7[:62], ""},
		{"7=sha256:" + v7 + "00", ""},
		{"7=sha256:" + v7[:62] + "zz", ""},
		{"7=sha256:" + v7 + ",7=sha256:" + v0, ""},
	}
	for _, tt := range tests {
		got, err := seal.ParsePCRValues(tt.in)
		switch {
		case tt.want == "" && err == nil:
			assert.Fail(t, fmt.Sprintf("ParsePCRValues(%q) = %v, want an error", tt.in, got))
		case tt.want != "" && err != nil:
			assert.Fail(t, fmt.Sprintf("ParsePCRValues(%q): %v", tt.in, err))
		case tt.want != "" && seal.FormatPCRValues(got) != tt.want:
			assert.Fail(t, fmt.Sprintf("ParsePCRValues(%q) = %s, want %s", tt.in, seal.FormatPCRValues(got), tt.want))
		case err != nil && !strings.Contains(err.Error(), "sha256"):
			assert.Fail(t, fmt.Sprintf("ParsePCRValues(%q) error %q should show the form INDEX=sha256:HEX", tt.in, err))
		}
	}
}

func TestParseBlob(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"well formed", []byte{1, 0, 1, 'n', 0, 2, 'p', 'p', 0, 1, 's'}, true},
		{"empty", nil, false},
		{"version 2", []byte{2, 0, 1, 'n', 0, 1, 'p', 0, 1, 's'}, false},
		{"empty field", []byte{1, 0, 0, 0, 1, 'p', 0, 1, 's'}, false},
		{"field past the end", []byte{1, 0, 1, 'n', 0, 1, 'p', 0, 2, 's'}, false},
		{"missing field", []byte{1, 0, 1, 'n', 0, 1, 'p'}, false},
		{"trailing byte", []byte{1, 0, 1, 'n', 0, 1, 'p', 0, 1, 's', 0}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := seal.ParseBlob(tt.in); (err == nil) != tt.ok {
				require.Fail(t, fmt.Sprintf("ParseBlob error = %v, want ok %v", err, tt.ok))
			}
		})
	}
}

func FuzzParseSealed(f *testing.F) {
	real, err := os.ReadFile("testdata/root.sealed")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(real)
	h, _ := seal.EncodeSealedHeader(goldenInfo())
	f.Add(seal.EncodeSealed(h, []byte{1, 0, 1, 'n', 0, 1, 'p', 0, 1, 's'}))
	f.Add(real[:40])
	hp, _ := seal.EncodeSealedHeader(plannedInfo())
	f.Add(seal.EncodeSealed(hp, []byte{1, 0, 1, 'n', 0, 1, 'p', 0, 1, 's'}))
	f.Fuzz(func(t *testing.T, data []byte) {
		header, blob, _, err := seal.SealedParts(data)
		if err != nil {
			return
		}
		require.Equal(t, data, seal.EncodeSealed(header, blob), "parse/encode does not round-trip")
		_, _ = seal.ParseBlob(blob)
	})
}
