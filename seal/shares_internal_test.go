package seal

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Vectors from FIPS-197 (§4.2: {57}·{83} = {c1}, {57}·{13} = {fe}; the
// S-box's inverse of {53} is {ca}) and by hand.
func TestGFVectors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ a, b, want byte }{
		{0x57, 0x83, 0xc1}, {0x57, 0x13, 0xfe}, {0x57, 0x02, 0xae}, {0x57, 0x04, 0x47},
		{0x57, 0x08, 0x8e}, {0x57, 0x10, 0x07}, {0x00, 0xff, 0x00}, {0x01, 0xab, 0xab},
		{0x53, 0xca, 0x01}, {0x07, 0x02, 0x0e},
	} {
		if got := gfMul(c.a, c.b); got != c.want {
			assert.Fail(t, fmt.Sprintf("gfMul(%#02x, %#02x) = %#02x, want %#02x", c.a, c.b, got, c.want))
		}
		if got := gfMul(c.b, c.a); got != c.want {
			assert.Fail(t, fmt.Sprintf("gfMul not commutative at %#02x, %#02x", c.a, c.b))
		}
	}
	if got := gfInv(0x53); got != 0xca {
		assert.Fail(t, fmt.Sprintf("gfInv(0x53) = %#02x, want 0xca", got))
	}
	for a := 1; a < 256; a++ {
		require.EqualValues(t, 1, gfMul(byte(a), gfInv(byte(a))), "a·a⁻¹ != 1 for a = %#02x", a)
		for b := 0; b < 256; b += 17 {
			for c := 0; c < 256; c += 29 {
				// distributive: a(b+c) = ab + ac
				require.EqualValues(t, gfMul(byte(a), byte(b))^gfMul(byte(a), byte(c)), gfMul(byte(a), byte(b)^byte(c)), "not distributive at %d %d %d", a, b, c)
			}
		}
	}
}

// A 2-of-n split of one byte by hand: f(x) = 0x2a + 0x07·x gives
// f(1) = 0x2d and f(2) = 0x2a ^ 0x0e = 0x24; both combine to 0x2a.
func TestShamirHandVector(t *testing.T) {
	t.Parallel()
	mk := func(x, y byte) RecoveryShare {
		b := new([shareLen]byte)
		b[0], b[5], b[6] = shareVersion, 2, x
		for i := range recoveryKeySize {
			b[7+i] = y
		}
		return RecoveryShare{b: b}
	}
	k, err := CombineRecoveryShares([]RecoveryShare{mk(1, 0x2d), mk(2, 0x24)})
	require.NoError(t, err)
	for i, v := range k.k {
		require.EqualValues(t, 0x2a, v, "byte %d = %#02x, want 0x2a", i, v)
	}
	// And the split itself: coefficient 0x07 from the reader, split ID 0.
	rk := RecoveryKey{k: new([recoveryKeySize]byte)}
	for i := range rk.k {
		rk.k[i] = 0x2a
	}
	r := &constReader{prefix: make([]byte, shareSplitLen), fill: 0x07}
	shares, err := SplitRecoveryKey(rk, 3, 2, r)
	require.NoError(t, err)
	for i, want := range []byte{0x2d, 0x24, 0x2a ^ gfMul(0x07, 3)} {
		if got := shares[i].b[7]; got != want {
			assert.Fail(t, fmt.Sprintf("share %d y = %#02x, want %#02x", i+1, got, want))
		}
	}
}

type constReader struct {
	prefix []byte
	fill   byte
}

func (c *constReader) Read(p []byte) (int, error) {
	n := copy(p, c.prefix)
	c.prefix = c.prefix[n:]
	for i := n; i < len(p); i++ {
		p[i] = c.fill
	}
	return len(p), nil
}
