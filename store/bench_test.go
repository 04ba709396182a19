package store_test

import (
	"fmt"
	"sync"
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
			if _, err := st.Users().Create(store.User{Username: fmt.Sprintf("bench%09d", i), Email: fmt.Sprintf("bench%09d@example.test", i)}); err != nil {
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
		u, err := st.Users().Create(store.User{Username: fmt.Sprintf("bench%05d", i), Email: fmt.Sprintf("bench%05d@example.test", i)})
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
			if _, err := st.Users().GetByUsername(fmt.Sprintf("bench%05d", i%users)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkWriters measures st.Update of distinct users (no hashing, as
// `user update` or `group add-member`) by 1 and by 16 concurrent writers.
// Each commit is fsynced; concurrent commits share fsyncs, so 16 writers
// must reach at least 4x the single writer's rate (issue 6 §7). Compare
// the updates/s of the two.
func BenchmarkWriters(b *testing.B) {
	for _, writers := range []int{1, 16} {
		b.Run(fmt.Sprintf("%d", writers), func(b *testing.B) {
			st := benchStore(b)
			ids := make([]string, writers)
			for w := range writers {
				u, err := st.Users().Create(store.User{Username: fmt.Sprintf("writer%02d", w), Groups: []string{"g0"}})
				if err != nil {
					b.Fatal(err)
				}
				ids[w] = u.ID
			}
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for w := range writers {
				wg.Go(func() {
					for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
						err := st.Update(func(tx *store.Tx) error {
							_, err := tx.Users().Update(ids[w], func(u store.User) (store.User, error) {
								u.Groups = []string{fmt.Sprintf("g%d", i%8)}
								return u, nil
							})
							return err
						})
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
		})
	}
}
