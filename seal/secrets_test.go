package seal_test

import (
	"bytes"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accessd/accessd/seal"
)

// TestSecretsHaveNoPrintedForm checks that keys formatted, logged or
// marshalled by mistake show nothing of themselves.
func TestSecretsHaveNoPrintedForm(t *testing.T) {
	t.Parallel()
	root := goldenRootKey(t)
	rk := goldenRecoveryKey(t)
	forbidden := []string{
		hex.EncodeToString(root.Bytes()),
		strings.ToUpper(hex.EncodeToString(root.Bytes())),
		base32.StdEncoding.EncodeToString(root.Bytes())[:20],
		fmt.Sprint(root.Bytes()),
		strings.Split(rk.Reveal(), "-")[0],
		hex.EncodeToString(goldenBytes("recovery key")),
		fmt.Sprint(goldenBytes("recovery key")),
	}
	var outputs []string
	for _, v := range []any{root, rk, &root, &rk, []any{root, rk}, struct{ K seal.RootKey }{root}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
			outputs = append(outputs, fmt.Sprintf(verb, v))
		}
		j, err := json.Marshal(v)
		require.NoError(t, err)
		outputs = append(outputs, string(j))
		var buf bytes.Buffer
		slog.New(slog.NewTextHandler(&buf, nil)).Info("oops", "key", v)
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("oops", "key", v)
		outputs = append(outputs, buf.String())
	}
	for _, out := range outputs {
		for _, f := range forbidden {
			require.NotContains(t, out, f, "output %q reveals key material", out)
		}
	}
	assert.False(t, !strings.Contains(fmt.Sprint(root), "redacted") || !strings.Contains(fmt.Sprint(rk), "redacted"), "formatted keys should say redacted: %v %v", root, rk)
	for _, typ := range []reflect.Type{reflect.TypeOf(root), reflect.TypeOf(rk)} {
		for _, m := range []string{"String", "GoString", "MarshalJSON", "MarshalText", "MarshalBinary"} {
			if _, ok := typ.MethodByName(m); ok {
				assert.Fail(t, fmt.Sprintf("%v has a %s method", typ, m))
			}
			if _, ok := reflect.PointerTo(typ).MethodByName(m); ok {
				assert.Fail(t, fmt.Sprintf("*%v has a %s method", typ, m))
			}
		}
		assert.False(t, typ.Comparable(), "%v is comparable with ==", typ)
	}
}

func TestRootKeyDestroy(t *testing.T) {
	t.Parallel()
	k, err := seal.NewRootKey(nil)
	require.NoError(t, err)
	cp := k
	b := k.Bytes()
	require.False(t, len(b) != seal.RootKeySize || bytes.Equal(b, make([]byte, seal.RootKeySize)), "Bytes() = %d bytes, all zero: %v", len(b), bytes.Equal(b, make([]byte, seal.RootKeySize)))
	k.Destroy()
	require.Equal(t, make([]byte, seal.RootKeySize), cp.Bytes(), "Destroy did not zero the key shared by copies")
	var zero seal.RootKey
	require.False(t, zero.Bytes() != nil || zero.Equal(zero), "the zero RootKey should have no bytes and equal nothing")
	if err := seal.WriteRecoveryFile(t.TempDir()+"/r", seal.RecoveryKey{}, k, nil); err == nil {
		require.Fail(t, "WriteRecoveryFile accepted a zero recovery key")
	}
	if _, err := seal.ReadRecoveryFile(t.TempDir()+"/r", seal.RecoveryKey{}); err == nil {
		require.Fail(t, "ReadRecoveryFile accepted a zero recovery key")
	}
}
