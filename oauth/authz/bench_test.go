package authz

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
)

// The scale of issue 6 §7: a million subjects and ten thousand groups.
const (
	benchSubjects = 1_000_000
	benchGroups   = 10_000
	benchSets     = 2_000 // distinct group combinations subjects share
)

var midazResources = []string{"organizations", "ledgers", "accounts", "assets", "balances",
	"operations", "transactions", "asset-rates", "portfolios", "segments", "operation-routes", "transaction-routes"}

var actions = []string{"get", "post", "patch", "delete", "put", "head"}

// groupPerms is group i's permissions: a handful of (product, resource,
// action) rows, some with wildcards, like Lerian's seeded groups.
func groupPerms(i int) []Permission {
	r := rand.New(rand.NewPCG(uint64(i), 1))
	n := 3 + r.IntN(6)
	ps := make([]Permission, 0, n)
	for range n {
		p := Permission{Product: "midaz", Resource: midazResources[r.IntN(len(midazResources))], Action: actions[r.IntN(len(actions))]}
		switch r.IntN(20) {
		case 0:
			p.Action = "*"
		case 1:
			p.Product = ""
			p.Resource = "midaz/" + p.Resource
		case 2:
			p.Product = fmt.Sprint("plugin-", r.IntN(5))
		}
		ps = append(ps, p)
	}
	return ps
}

// setNames is set i's group names: one to three groups.
func setNames(i int) []string {
	r := rand.New(rand.NewPCG(uint64(i), 2))
	names := make([]string, 1+r.IntN(3))
	for j := range names {
		names[j] = fmt.Sprint("group-", r.IntN(benchGroups))
	}
	return names
}

func fillGroups(x *Index) {
	for i := range benchGroups {
		x.SetGroup(fmt.Sprint("group-", i), groupPerms(i))
	}
}

func fillSubjects(x *Index) {
	sets := make([][]string, benchSets)
	for i := range sets {
		sets[i] = setNames(i)
	}
	for i := range benchSubjects {
		x.SetSubject(uuidN(i), sets[i%benchSets])
	}
}

var (
	bigOnce  sync.Once
	bigIndex *Index
)

// big is the full-scale index, built once per test binary.
func big() *Index {
	bigOnce.Do(func() {
		bigIndex = New()
		fillGroups(bigIndex)
		fillSubjects(bigIndex)
	})
	return bigIndex
}

type query struct{ id, product, resource, action string }

// queries is a fixed mix of requests by known subjects, a tenth of them
// unknown, with and without a product.
func queries() []query {
	r := rand.New(rand.NewPCG(7, 7))
	qs := make([]query, 4096)
	for i := range qs {
		n := r.IntN(benchSubjects)
		if i%10 == 0 {
			n += benchSubjects // unknown
		}
		q := query{uuidN(n), "midaz", midazResources[r.IntN(len(midazResources))], actions[r.IntN(len(actions))]}
		if i%4 == 0 {
			q.product = ""
		}
		qs[i] = q
	}
	return qs
}

// BenchmarkAllowed is one decision against 1M subjects and 10k groups.
func BenchmarkAllowed(b *testing.B) {
	x := big()
	qs := queries()
	b.ReportAllocs()
	b.ResetTimer()
	i, allowed := 0, 0
	for b.Loop() {
		q := &qs[i%len(qs)]
		if x.Allowed(q.id, q.product, q.resource, q.action) {
			allowed++
		}
		i++
	}
	b.ReportMetric(float64(allowed)/float64(i), "allowed/op")
}

// BenchmarkAllowedParallel is decisions from every core at once.
func BenchmarkAllowedParallel(b *testing.B) {
	x := big()
	qs := queries()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(len(qs))
		for pb.Next() {
			q := &qs[i%len(qs)]
			x.Allowed(q.id, q.product, q.resource, q.action)
			i++
		}
	})
}

// BenchmarkSetGroup is a group change in the full index: the time from
// the call to the change being visible to every decision.
func BenchmarkSetGroup(b *testing.B) {
	x := big()
	perms := [][]Permission{groupPerms(1), groupPerms(2)}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		x.SetGroup("group-42", perms[i%2])
		i++
	}
}

// BenchmarkSetSubject is a membership change in the full index.
func BenchmarkSetSubject(b *testing.B) {
	x := big()
	sets := [][]string{setNames(1), setNames(2)}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		x.SetSubject(uuidN(i%benchSubjects), sets[i%2])
		i++
	}
}

// BenchmarkDeleteGroup is deleting a group that is in many sets (and
// creating it again, so every iteration does the same work).
func BenchmarkDeleteGroup(b *testing.B) {
	x := big()
	name := setNames(3)[0]
	perms := groupPerms(3)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		x.DeleteGroup(name)
		x.SetGroup(name, perms)
	}
}

// BenchmarkMemory reports the heap the index holds per subject at 1M
// subjects (10k groups already loaded), the figure the 96 MiB idle RSS
// target depends on. It builds a fresh index, whatever b.N is.
func BenchmarkMemory(b *testing.B) {
	for b.Loop() {
	}
	x := New()
	fillGroups(x)
	before := heapInuse()
	fillSubjects(x)
	after := heapInuse()
	runtime.KeepAlive(x)
	b.ReportMetric(float64(after-before)/benchSubjects, "B/subject")
	b.ReportMetric(float64(before)/(1<<20), "MiB-groups")
}

func heapInuse() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// BenchmarkAllowedSmall is a decision in an index that fits in cache, to
// tell the cost of the code from the cost of memory in BenchmarkAllowed.
func BenchmarkAllowedSmall(b *testing.B) {
	x := New()
	for i := range 100 {
		x.SetGroup(fmt.Sprint("group-", i), groupPerms(i))
	}
	for i := range 1000 {
		x.SetSubject(uuidN(i), []string{fmt.Sprint("group-", i%100), fmt.Sprint("group-", i%7)})
	}
	qs := queries()
	for i := range qs {
		qs[i].id = uuidN(i % 1100)
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		q := &qs[i%len(qs)]
		x.Allowed(q.id, q.product, q.resource, q.action)
		i++
	}
}
