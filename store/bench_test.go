package store_test

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/accessd/accessd/store"
	"github.com/accessd/accessd/store/audit"
)

func benchStore(b *testing.B) *store.Store {
	b.Helper()
	st, err := store.Open(b.TempDir(), testRoot, store.Options{Audit: audit.NewQueue()})
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

// bareBadger opens a Badger database with SyncWrites in a temporary
// directory (the file system of the store's) and returns one durable
// commit of a small transaction: the floor of a durable write.
func bareBadger(b *testing.B) func(i int) error {
	b.Helper()
	db, err := badger.Open(badger.DefaultOptions(b.TempDir()).WithSyncWrites(true).WithLogger(nil))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	val := make([]byte, 200) // about a group with one permission
	return func(i int) error {
		return db.Update(func(txn *badger.Txn) error {
			return txn.Set(fmt.Appendf(nil, "bench/%09d", i%1000), val)
		})
	}
}

// BenchmarkBareBadgerSyncCommit measures one small Badger transaction
// committed with SyncWrites, one after another: the floor that
// BenchmarkSequentialRecordWrite is compared to. It reports the p50.
func BenchmarkBareBadgerSyncCommit(b *testing.B) {
	commit := bareBadger(b)
	var took []time.Duration
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		if err := commit(i); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	b.ReportMetric(float64(median(took).Nanoseconds()), "p50-ns")
}

// BenchmarkSequentialRecordWrite measures one store write of one record
// at a time, as the admin socket does a permission grant: the group
// updated through its repository and its audit entry staged, in one
// durable transaction. A lone writer must not wait for other commits to
// gather (the engine's group sync), so its p50 is reported next to the
// p50 of a bare Badger commit with SyncWrites measured in the same run
// on the same file system, and the ratio of the two ("x-bare").
func BenchmarkSequentialRecordWrite(b *testing.B) {
	st := benchStore(b)
	if _, err := st.Groups().Create(store.Group{Name: "bench"}); err != nil {
		b.Fatal(err)
	}
	grant := func(i int) error {
		return st.Update(func(tx *store.Tx) error {
			perm := store.Permission{Resource: fmt.Sprintf("doc%d", i%16), Action: "read"}
			if _, err := tx.Groups().Update("bench", func(g store.Group) (store.Group, error) {
				g.Permissions = []store.Permission{perm}
				return g, nil
			}); err != nil {
				return err
			}
			return tx.Audit().Stage(store.AuditEntry{
				Time: time.Now(), Type: "group.grant", Actor: "uid:0", Target: "group:bench", Result: "ok",
				Source: "admin-socket", Detail: map[string]string{"permission": perm.Resource + ":" + perm.Action},
			})
		})
	}
	commit := bareBadger(b)
	var took, bare []time.Duration
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		if err := grant(i); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
		// One bare commit after each write, outside the timing, so that
		// both p50s see the same load on the disk.
		b.StopTimer()
		start = time.Now()
		if err := commit(i); err != nil {
			b.Fatal(err)
		}
		bare = append(bare, time.Since(start))
		b.StartTimer()
	}
	mid, floor := median(took), median(bare)
	b.ReportMetric(float64(mid.Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(floor.Nanoseconds()), "bare-p50-ns")
	b.ReportMetric(float64(mid)/float64(floor), "x-bare")
}

// median returns the p50 of d, sorting it.
func median(d []time.Duration) time.Duration {
	slices.Sort(d)
	return d[len(d)/2]
}
