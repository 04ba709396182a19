package storetest

import (
	"errors"
	"sync"
	"testing"

	"github.com/accessd/accessd/store"
)

// concurrentUpdates: every increment of every writer lands exactly once.
func (h *harness) concurrentUpdates(t *testing.T) {
	st, _ := h.fresh(t)
	users := st.Users()
	u, err := users.Create(store.User{Username: "counter"})
	must(t, "create", err)
	const writers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for range writers {
		wg.Go(func() {
			for range each {
				_, err := users.Update(u.ID, func(u store.User) (store.User, error) {
					u.FailedLogins++
					return u, nil
				})
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent update: %v", err)
	}
	got, err := users.Get(u.ID)
	must(t, "get", err)
	if got.FailedLogins != writers*each || got.Version != 1+writers*each {
		t.Fatalf("after %d increments: failedLogins=%d version=%d", writers*each, got.FailedLogins, got.Version)
	}
}

// concurrentUniqueCreate: of many racing creates of one username exactly
// one wins and the rest see ErrExists.
func (h *harness) concurrentUniqueCreate(t *testing.T) {
	st, _ := h.fresh(t)
	users := st.Users()
	const racers = 8
	var wg sync.WaitGroup
	results := make(chan error, racers)
	for range racers {
		wg.Go(func() {
			_, err := users.Create(store.User{Username: "Highlander"})
			results <- err
		})
	}
	wg.Wait()
	close(results)
	wins := 0
	for err := range results {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, store.ErrExists):
			t.Errorf("racing create: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d creates of one username succeeded, want 1", wins)
	}
	n, err := users.Count()
	must(t, "count", err)
	if n != 1 {
		t.Fatalf("count = %d, want 1", n)
	}
}

// concurrentAppend: appenders that re-read Last on ErrConflict build one
// gapless log.
func (h *harness) concurrentAppend(t *testing.T) {
	st, _ := h.fresh(t)
	log := st.AuditEntries()
	const writers, each = 4, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for range writers {
		wg.Go(func() {
			for range each {
				for {
					next := uint64(1)
					if last, err := log.Last(); err == nil {
						next = last.Seq + 1
					} else if !errors.Is(err, store.ErrNotFound) {
						errs <- err
						return
					}
					err := log.Append(store.AuditEntry{Seq: next, Type: "test"})
					if err == nil {
						break
					}
					if !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrExists) {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent append: %v", err)
	}
	all, err := log.List(1, 0)
	must(t, "list", err)
	if len(all) != writers*each {
		t.Fatalf("log has %d entries, want %d", len(all), writers*each)
	}
	for i, e := range all {
		if e.Seq != uint64(i+1) {
			t.Fatalf("entry %d has seq %d: gap or fork", i, e.Seq)
		}
	}
}
