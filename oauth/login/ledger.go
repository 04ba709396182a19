package login

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/accessd/accessd/oauth/api"
)

// Lockout modes ([identity] lockout).
const (
	// LockoutPerSource counts failures per (account, source): a source
	// that failed lockout_attempts times is refused that account for
	// lockout_duration, others are not; the account locks for everyone
	// only after AccountFailures failures in a row across sources.
	LockoutPerSource = "source"
	// LockoutPerAccount locks the account for everyone after
	// lockout_attempts failures from anywhere (PCI DSS 8.3.4), which
	// lets anyone who knows a username keep its owner out.
	LockoutPerAccount = "account"
)

// AccountFailures is how many failed sign-ins in a row, from any
// sources, lock an account for everyone in per-source mode: NIST SP
// 800-63B §5.2.2's ceiling for consecutive failed attempts.
const AccountFailures = 100

// ledgerCap bounds the entries of the per-source ledger (about 190 bytes
// each with the map's overhead: some 12 MiB at most). When it is full,
// expired entries go first, then the least recently used quarter: a
// flood of sources makes the ledger forget some of them (which the
// account's own budget still bounds), never refuse everyone.
const ledgerCap = 1 << 16

// ErrThrottled is wrapped, beside api.ErrRateLimited, in the refusal of
// an attempt that was not checked because its source failed too often
// on that account (or, for second factors, the account itself did):
// 429 with Retry-After. An unknown username is throttled exactly like a
// known one.
var ErrThrottled = errors.New("too many failed attempts")

// Throttled is the refusal of a throttled attempt; RetryAfter says when
// the source may try that account again.
type Throttled struct{ RetryAfter time.Duration }

func (e *Throttled) Error() string {
	return fmt.Sprintf("identity: %s: too many failed attempts on this account from here; retry after %d s",
		api.ErrRateLimited.Error(), int(math.Ceil(e.RetryAfter.Seconds())))
}

func (e *Throttled) Unwrap() []error { return []error{api.ErrRateLimited, ErrThrottled} }

// SourceKey is the source a client address counts as: the address for
// IPv4, its /64 for IPv6 (one host usually holds a whole /64, so
// counting its addresses apart would give it 2^64 budgets). Anything
// that is not an address (the admin socket's "admin-socket pid N") is
// its own source.
func SourceKey(addr string) string {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	p := SourcePrefix(ip)
	if p.Addr().Is4() {
		return p.Addr().String()
	}
	return p.String()
}

// SourcePrefix is the bucket a client address counts against, here and
// in the daemon's per-address connection limit: the address itself for
// IPv4 (a /32), its /64 for IPv6.
func SourcePrefix(ip netip.Addr) netip.Prefix {
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		return netip.PrefixFrom(ip, 32)
	}
	p, _ := ip.Prefix(64)
	return p
}

// maxKeyLen bounds what the ledger keeps per key: a longer one (an
// unknown "username" of a megabyte) is kept as its SHA-256, so that
// unauthenticated callers cannot make it hold their bytes.
const maxKeyLen = 160

func boundKey(key string) string {
	if len(key) <= maxKeyLen {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return "\x00sha256:" + string(sum[:])
}

// ledger counts failed attempts by key ((account, source), or (account,
// second factor)) in memory: at most limit failures within window per
// key; a key that reached it is refused, without a check, until its
// first failure is window old. A failure is counted when the attempt is
// reserved, before its secret is checked, so that parallel guesses
// never exceed the limit; a passed attempt forgets the key. It holds at
// most ledgerCap keys.
type ledger struct {
	limit  int
	window time.Duration

	mu sync.Mutex
	m  map[string]*ledgerEntry
}

type ledgerEntry struct {
	n           int
	since, used time.Time
}

func newLedger(limit int, window time.Duration) *ledger {
	return &ledger{limit: limit, window: window, m: map[string]*ledgerEntry{}}
}

// expired reports whether e no longer counts at now: its window is
// over, or it refuses and its window starts in the future, which only a
// clock that jumped back makes (a refusal is then treated as over
// rather than as lasting until the clock catches up, as lockedFor does).
func (l *ledger) expired(e *ledgerEntry, now time.Time) bool {
	return now.Sub(e.since) >= l.window || (now.Before(e.since) && e.n >= l.limit)
}

// reserve counts one attempt of key as failed, unless key already
// failed limit times within the window: then it is refused with how
// long until it may try again.
func (l *ledger) reserve(key string, now time.Time) error {
	key = boundKey(key)
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.m[key]
	switch {
	case ok && l.expired(e, now):
		e.n = 0
	case ok && now.Before(e.since):
		e.since = now // failures counted before the clock jumped back still count
	}
	if !ok {
		l.makeRoom(now)
		e = &ledgerEntry{}
		l.m[key] = e
	}
	e.used = now // a refused key in use stays, so a flood cannot make it forgotten
	if e.n >= l.limit {
		return &Throttled{RetryAfter: max(e.since.Add(l.window).Sub(now), time.Second)}
	}
	if e.n == 0 {
		e.since = now
	}
	e.n++
	return nil
}

// settle records how key's reserved attempt ended: a failure stays
// counted, a pass forgets key, a partial pass (a second factor is
// still due) undoes the reservation.
func (l *ledger) settle(key string, o outcome) {
	key = boundKey(key)
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.m[key]
	if !ok {
		return
	}
	switch o {
	case passed:
		delete(l.m, key)
	case partial:
		e.n = max(e.n-1, 0)
	}
}

// makeRoom drops expired keys, and the least recently used quarter if
// that was not enough, once the ledger holds ledgerCap keys. Sorting a
// quarter away at a time keeps the cost per new key logarithmic under a
// flood of new keys.
func (l *ledger) makeRoom(now time.Time) {
	if len(l.m) < ledgerCap {
		return
	}
	for k, e := range l.m {
		if l.expired(e, now) {
			delete(l.m, k)
		}
	}
	if len(l.m) < ledgerCap*3/4 {
		return
	}
	type aged struct {
		key  string
		used time.Time
	}
	all := make([]aged, 0, len(l.m))
	for k, e := range l.m {
		all = append(all, aged{k, e.used})
	}
	slices.SortFunc(all, func(a, b aged) int { return a.used.Compare(b.used) })
	for _, a := range all[:len(all)-ledgerCap*3/4] {
		delete(l.m, a.key)
	}
}

// size is how many keys the ledger holds.
func (l *ledger) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}
