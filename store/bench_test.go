package store_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/accessd/accessd/store"
)

func benchStore(b *testing.B) *store.Store {
	b.Helper()
	st, err := store.Open(b.TempDir(), testRoot, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

// BenchmarkUserCreate measures one fsynced create with its index; run
// with -cpu to see group commit at work.
func BenchmarkUserCreate(b *testing.B) {
	st := benchStore(b)
	var n atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			if _, err := st.Users().Create(store.User{Username: fmt.Sprintf("bench%09d", i), Email: "bench@example.test", PasswordHash: phc}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkUserGet measures lookups by ID and by username in a store of
// 10k users.
func BenchmarkUserGet(b *testing.B) {
	st := benchStore(b)
	const users = 10_000
	ids := make([]string, users)
	for i := range users {
		u, err := st.Users().Create(store.User{Username: fmt.Sprintf("bench%05d", i), Email: "bench@example.test", PasswordHash: phc})
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = u.ID
	}
	b.Run("ByID", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, err := st.Users().Get(ids[i%users]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ByUsername", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, err := st.Users().GetByUsername(fmt.Sprintf("BENCH%05d", i%users)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
