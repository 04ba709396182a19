package daemon

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chunked hands out data n bytes per read, as a slow client's body
// arrives, so sequences are cut at every place.
type chunked struct {
	data []byte
	n    int
}

func (c *chunked) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	k := copy(p[:min(len(p), c.n)], c.data)
	c.data = c.data[k:]
	return k, nil
}

func readUTF8Body(data []byte, chunk int) error {
	b := &utf8Body{ReadCloser: io.NopCloser(&chunked{data: data, n: chunk})}
	_, err := io.ReadAll(b)
	return err
}

func TestUTF8Body(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		ok   bool
	}{
		{"empty", "", true},
		{"ascii JSON", `{"username":"ana"}`, true},
		{"multi-byte", `{"name":"Zoë 日本 🔑"}`, true},
		{"encoded U+FFFD is fine", "{\"a\":\"\uFFFD\"}", true},
		{"lone continuation byte", "{\"a\":\"\x80\"}", false},
		{"0xff", "{\"a\":\"\xff\"}", false},
		{"overlong slash", "{\"a\":\"\xc0\xaf\"}", false},
		{"surrogate half", "{\"a\":\"\xed\xa0\x80\"}", false},
		{"cut at the end", "{\"a\":\"\xe6\x97", false},
		{"cut then ascii", "\xe6\x97a", false},
	}
	for _, tt := range tests {
		for _, chunk := range []int{1, 2, 3, 5, 4096} {
			err := readUTF8Body([]byte(tt.body), chunk)
			assert.False(t, tt.ok && err != nil || !tt.ok && !errors.Is(err, errNotUTF8), "%s, %d-byte reads: err %v, want ok=%v", tt.name, chunk, err, tt.ok)
		}
	}
	// The wrapper passes a valid body through unchanged.
	assert.NoError(t, iotest.TestReader(&utf8Body{ReadCloser: io.NopCloser(strings.NewReader("héllo wörld 日本"))}, []byte("héllo wörld 日本")))
}

// FuzzUTF8Body: however the body is cut into reads, it is refused exactly
// when it is not UTF-8.
func FuzzUTF8Body(f *testing.F) {
	for _, s := range []string{"", "a", "日本", "\xe6\x97", "\xff", "🔑x", "\xed\xa0\x80"} {
		f.Add([]byte(s), uint8(1))
	}
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		err := readUTF8Body(data, int(chunk%8)+1)
		require.EqualValues(t, (err == nil), utf8.Valid(data), "valid=%v, err=%v", utf8.Valid(data), err)
	})
}
