package change

import (
	"cmp"
	"context"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/accessd/accessd/store"
)

// Repeats writes refusals that anyone may repeat at will (a denied
// decision, a denied Identity route, a failed sign-in) so that a flood of
// them costs the audit log a bounded number of entries a minute, whatever
// its rate: the first few of each kind in full, durably, before the
// caller is answered, the rest counted in memory and written as one
// summary entry per kind when the minute ends (Start) and at stop
// (Close). A refusal is never lost at a clean stop; a crash loses the
// counts of the minute under way, not the entries written in full.
//
// A kind is (entry type, subject, key). The subject is whom the budget
// is counted against: the caller's actor name, or the source address of
// an unauthenticated sign-in. The key tells the subject's refusals apart
// (a resource, an action and a reason; an attempted username) and may be
// chosen by the caller, so a subject has at most repeatsMaxKeys kinds a
// minute and the refusals of any further key are counted together in one
// overflow summary of the subject. Subjects beyond repeatsMaxSubjects a
// minute are counted together in one overflow summary per entry type,
// and at most repeatsMaxFull entries a minute are written in full across
// all subjects. So a minute writes at most repeatsMaxFull entries in full
// and repeatsMaxSubjects×(repeatsMaxKeys+1) summaries plus one per entry
// type, and memory holds at most that many tallies of bounded strings.
//
// Every refusal is counted in accessd_audit_refusals_total by entry type
// and by how it was written ("full" or "summary").
type Repeats struct {
	rec     Recorder
	log     *slog.Logger
	now     func() time.Time
	written *prometheus.CounterVec

	mu       sync.Mutex
	subjects map[subjectKey]*repeatSubject
	overflow map[string]*tally // entry type -> refusals of subjects beyond the bound
	full     int               // entries written in full in this minute

	stop      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

const (
	repeatsInFull      = 3   // entries of one kind written in full a minute
	repeatsMaxKeys     = 8   // kinds of one subject a minute
	repeatsMaxSubjects = 256 // subjects a minute
	repeatsMaxFull     = 256 // entries written in full a minute, all kinds
	repeatsMaxSources  = 8   // addresses one summary lists
	repeatsMaxLen      = 128 // bytes kept of a key value, a subject or an address
)

type subjectKey struct{ typ, subject string }

// repeatSubject is one subject's kinds in the current minute.
type repeatSubject struct {
	kinds    map[string]*kind
	overflow tally // refusals of keys beyond repeatsMaxKeys
}

// kind is one key of a subject: how many were written in full, and the
// tally of the rest.
type kind struct {
	key    map[string]string
	inFull int
	tally  tally
}

// tally counts refusals that were not written in full, with the entry
// fields of the first of them.
type tally struct {
	count                 int
	first, last           time.Time
	actor, target, result string
	sources               map[string]struct{}
	otherSources          int
}

// NewRepeats returns the summariser of refusals writing to rec. log
// receives write failures (nil: slog.Default()); now stamps the summary
// entries (nil: time.Now). Start it for the per-minute summaries; Close
// writes the last ones.
func NewRepeats(rec Recorder, log *slog.Logger, now func() time.Time) *Repeats {
	if log == nil {
		log = slog.Default()
	}
	if now == nil {
		now = time.Now
	}
	return &Repeats{rec: rec, log: log, now: now, stop: make(chan struct{}),
		written: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "accessd_audit_refusals_total",
			Help: "Refusals (denied decisions and routes, failed sign-ins) by audit entry type and how they were audited: in full, or counted in a per-minute summary.",
		}, []string{"type", "written"})}
}

// Refuse audits e, a refusal of subject whose kind key tells apart:
// durably and in full when it is among the first few of its kind this
// minute, otherwise counted for the minute's summary. The summary entry
// carries e's type, actor, target and result (the first counted one's),
// the key's fields and its own fields (count, inFull, first, last,
// sources, otherSources), so a key should not use those names. e's
// actor, target, source and detail values are cut to 128 bytes each, as
// the key's are: a refusal's fields come from whoever was refused.
func (s *Repeats) Refuse(ctx context.Context, subject string, key map[string]string, e store.AuditEntry) {
	if e.Time.IsZero() {
		e.Time = s.now().UTC()
	}
	e.Actor, e.Target, e.Source = bounded(e.Actor), bounded(e.Target), bounded(e.Source)
	if e.Detail != nil {
		d := make(map[string]string, len(e.Detail))
		for k, v := range e.Detail {
			d[k] = bounded(v)
		}
		e.Detail = d
	}
	if s.count(subject, key, e) {
		s.written.WithLabelValues(e.Type, "full").Inc()
		Record(ctx, s.rec, s.log, e)
		return
	}
	s.written.WithLabelValues(e.Type, "summary").Inc()
}

// count takes e into the minute's tallies and reports whether it is to
// be written in full.
func (s *Repeats) count(subject string, key map[string]string, e store.AuditEntry) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.subjects == nil {
		s.subjects = map[subjectKey]*repeatSubject{}
		s.overflow = map[string]*tally{}
	}
	sk := subjectKey{typ: e.Type, subject: bounded(subject)}
	sub := s.subjects[sk]
	if sub == nil {
		if len(s.subjects) >= repeatsMaxSubjects {
			t := s.overflow[e.Type]
			if t == nil {
				t = &tally{}
				s.overflow[e.Type] = t
			}
			t.add(e)
			return false
		}
		sub = &repeatSubject{kinds: map[string]*kind{}}
		s.subjects[sk] = sub
	}
	k, kb := keyOf(key)
	kd := sub.kinds[k]
	if kd == nil {
		if len(sub.kinds) >= repeatsMaxKeys {
			sub.overflow.add(e)
			return false
		}
		kd = &kind{key: kb}
		sub.kinds[k] = kd
	}
	if kd.inFull < repeatsInFull && s.full < repeatsMaxFull {
		kd.inFull++
		s.full++
		return true
	}
	kd.tally.add(e)
	return false
}

// Flush writes the summaries of the minute that ends now and starts a
// new one.
func (s *Repeats) Flush(ctx context.Context) {
	s.mu.Lock()
	subjects, overflow := s.subjects, s.overflow
	s.subjects, s.overflow, s.full = nil, nil, 0
	s.mu.Unlock()
	now := s.now().UTC()
	for _, sk := range slices.SortedFunc(maps.Keys(subjects), func(a, b subjectKey) int {
		return cmp.Or(cmp.Compare(a.typ, b.typ), cmp.Compare(a.subject, b.subject))
	}) {
		sub := subjects[sk]
		for _, k := range slices.Sorted(maps.Keys(sub.kinds)) {
			kd := sub.kinds[k]
			if kd.tally.count == 0 {
				continue
			}
			d := kd.tally.detail(kd.key)
			d["inFull"] = strconv.Itoa(kd.inFull)
			s.write(ctx, now, sk.typ, kd.tally, d)
		}
		if sub.overflow.count > 0 {
			d := sub.overflow.detail(nil)
			d["overflow"] = "keys beyond the first " + strconv.Itoa(repeatsMaxKeys)
			s.write(ctx, now, sk.typ, sub.overflow, d)
		}
	}
	for _, typ := range slices.Sorted(maps.Keys(overflow)) {
		t := *overflow[typ]
		t.actor, t.target = System.Name, "*"
		d := t.detail(nil)
		d["overflow"] = "subjects beyond the first " + strconv.Itoa(repeatsMaxSubjects)
		s.write(ctx, now, typ, t, d)
	}
}

func (s *Repeats) write(ctx context.Context, now time.Time, typ string, t tally, detail map[string]string) {
	Record(ctx, s.rec, s.log, store.AuditEntry{Time: now, Type: typ, Actor: t.actor, Target: t.target, Result: t.result,
		Source: "summary", Detail: detail})
}

// Start writes the summaries every minute until Close.
func (s *Repeats) Start() {
	s.wg.Go(func() {
		tick := time.NewTicker(time.Minute)
		defer tick.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-tick.C:
				s.Flush(context.Background())
			}
		}
	})
}

// Close stops the minute's writer and writes the last summaries, before
// the audit log closes. It may be called more than once.
func (s *Repeats) Close() {
	s.closeOnce.Do(func() { close(s.stop) })
	s.wg.Wait()
	s.Flush(context.Background())
}

// Collector is the counter of refusals, for the admin plane's registry.
func (s *Repeats) Collector() prometheus.Collector { return s.written }

func (t *tally) add(e store.AuditEntry) {
	if t.count == 0 {
		t.first, t.actor, t.target, t.result = e.Time, e.Actor, e.Target, e.Result
		t.sources = map[string]struct{}{}
	}
	t.count++
	t.last = e.Time
	if _, ok := t.sources[e.Source]; !ok {
		if len(t.sources) < repeatsMaxSources {
			t.sources[e.Source] = struct{}{}
		} else {
			t.otherSources++
		}
	}
}

// detail is the summary entry's detail: key's fields and the tally's.
func (t tally) detail(key map[string]string) map[string]string {
	d := maps.Clone(key)
	if d == nil {
		d = map[string]string{}
	}
	d["count"] = strconv.Itoa(t.count)
	d["first"] = t.first.UTC().Format(time.RFC3339)
	d["last"] = t.last.UTC().Format(time.RFC3339)
	d["sources"] = strings.Join(slices.Sorted(maps.Keys(t.sources)), " ")
	if t.otherSources > 0 {
		d["otherSources"] = strconv.Itoa(t.otherSources)
	}
	return d
}

// keyOf returns key as one map key, and a copy of key with every value
// bounded (the summary's fields). Values cut to the same prefix count as
// one key.
func keyOf(key map[string]string) (string, map[string]string) {
	kb := make(map[string]string, len(key))
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(key)) {
		v := bounded(key[name])
		kb[name] = v
		b.WriteString(name)
		b.WriteByte(0)
		b.WriteString(v)
		b.WriteByte(0)
	}
	return b.String(), kb
}

// bounded cuts s to repeatsMaxLen bytes at a rune boundary, marking the
// cut with "…", so that a caller's long name costs no more memory than a
// short one.
func bounded(s string) string {
	if len(s) <= repeatsMaxLen {
		return s
	}
	n := repeatsMaxLen
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
