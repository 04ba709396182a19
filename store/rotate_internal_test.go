package store

import (
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"reflect"
	"strings"
	"testing"
)

// TestEverySealedFieldIsDeclared walks every record type the store keeps
// (the tables of Store) for Sealed fields and checks that each is declared
// to rotation (table.sealed) and its table listed in sealedTables: a new
// secret field that rotation did not know of would stay under a retired
// term and stop opening.
func TestEverySealedFieldIsDeclared(t *testing.T) {
	t.Parallel()
	st, err := Open(t.TempDir(), make([]byte, RootKeySize), Options{})
	require.NoError(t, err)
	defer st.Close()
	listed := map[string]bool{}
	for _, tb := range st.Barrier().sealedTables() {
		listed[tb.kind()] = true
	}
	sealedType := reflect.TypeOf(Sealed(nil))
	v := reflect.ValueOf(st).Elem()
	tables := 0
	for i := range v.NumField() {
		f := v.Field(i)
		if f.Kind() != reflect.Pointer || !strings.HasPrefix(f.Type().Elem().Name(), "table[") {
			continue
		}
		tables++
		tb := f.Elem()
		rec := tb.FieldByName("id").Type().In(0).Elem()
		var found []string
		var walk func(reflect.Type, string)
		walk = func(ty reflect.Type, path string) {
			for j := range ty.NumField() {
				sf := ty.Field(j)
				switch {
				case sf.Type == sealedType:
					found = append(found, path+sf.Name)
				case sf.Type.Kind() == reflect.Struct:
					walk(sf.Type, path+sf.Name+".")
				}
			}
		}
		walk(rec, "")
		declared := tb.FieldByName("sealed").Len()
		name := tb.FieldByName("name").String()
		assert.Len(t, found, declared, "%s has sealed fields %v but declares %d to rotation", name, found, declared)
		if len(found) > 0 {
			assert.True(t, listed[name], "%s has sealed fields %v but is not in sealedTables", name, found)
		}
	}
	require.GreaterOrEqual(t, tables, 7, "found %d tables; the walk no longer sees them", tables)
}
