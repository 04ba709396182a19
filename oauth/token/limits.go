package token

import (
	"crypto/sha256"
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/accessd/accessd/oauth/api"
	"github.com/accessd/accessd/oauth/login"
)

// ErrRateLimited is wrapped in a refusal by a rate limit; RetryAfter says
// when to come back.
type ErrRateLimited struct{ RetryAfter time.Duration }

func (e *ErrRateLimited) Error() string {
	return fmt.Sprintf("token: too many attempts; retry after %d s", int(math.Ceil(e.RetryAfter.Seconds())))
}

// Unwrap makes the refusal a catalogued 429.
func (e *ErrRateLimited) Unwrap() error { return api.ErrRateLimited }

// keyed is a set of token buckets by key (a username and source, a
// client ID, a source). A key whose bucket is full holds no state a new
// bucket would not, so the set drops such keys when it grows, and stays
// as large as the keys being limited right now. If even those exceed the
// cap (a flood of distinct keys), the least recently used quarter of a
// shard is forgotten, so that a new key is always admitted: the flood
// gets some of its buckets back full, and nobody else is refused for it.
type keyed struct {
	// source makes the keys source addresses, counted by
	// login.SourceKey (an IPv6 /64 is one source).
	source bool
	every  rate.Limit
	burst  int
	now    func() time.Time
	seed   maphash.Seed
	shards [16]keyedShard
}

type keyedShard struct {
	mu sync.Mutex
	m  map[string]*keyedBucket
}

type keyedBucket struct {
	*rate.Limiter
	used time.Time
}

const keyedCap = 4096 // per shard

func newKeyed(perMinute int, now func() time.Time) *keyed {
	return &keyed{every: rate.Limit(float64(perMinute) / 60), burst: perMinute, now: now, seed: maphash.MakeSeed()}
}

// maxKeyLen bounds what a limiter keeps per key: a longer key (a 1 MiB
// "username" of a hostile caller) is kept as its SHA-256, so that
// unauthenticated callers cannot make the limiter hold their bytes.
const maxKeyLen = 64

func (k *keyed) boundKey(key string) string {
	if k.source {
		key = login.SourceKey(key)
	}
	if len(key) <= maxKeyLen {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return "\x00sha256:" + string(sum[:])
}

func (k *keyed) shard(key string) *keyedShard {
	return &k.shards[maphash.String(k.seed, key)%uint64(len(k.shards))]
}

// take spends one token of key's bucket, or says how long to wait.
func (k *keyed) take(key string) error {
	key = k.boundKey(key)
	now := k.now()
	s := k.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.m[key]
	if !ok {
		if s.m == nil {
			s.m = map[string]*keyedBucket{}
		}
		if len(s.m) >= keyedCap {
			k.makeRoom(s, now)
		}
		b = &keyedBucket{Limiter: rate.NewLimiter(k.every, k.burst)}
		s.m[key] = b
	}
	b.used = now
	l := b.Limiter
	r := l.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return &ErrRateLimited{RetryAfter: d}
	}
	return nil
}

// makeRoom drops the full buckets of a full shard and, if that was not
// enough, its least recently used quarter (sorted once for a quarter of
// the shard, so a flood of new keys costs a logarithm per key).
func (k *keyed) makeRoom(s *keyedShard, now time.Time) {
	for key, b := range s.m {
		if b.TokensAt(now) >= float64(k.burst) {
			delete(s.m, key)
		}
	}
	if len(s.m) < keyedCap*3/4 {
		return
	}
	keys := make([]string, 0, len(s.m))
	for key := range s.m {
		keys = append(keys, key)
	}
	slices.SortFunc(keys, func(a, b string) int { return s.m[a].used.Compare(s.m[b].used) })
	for _, key := range keys[:len(keys)-keyedCap*3/4] {
		delete(s.m, key)
	}
}

// check says whether key's bucket has a token, without spending one.
func (k *keyed) check(key string) error {
	key = k.boundKey(key)
	now := k.now()
	s := k.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.m[key]
	if !ok || b.TokensAt(now) >= 1 {
		return nil
	}
	return &ErrRateLimited{RetryAfter: time.Duration((1 - b.TokensAt(now)) / float64(k.every) * float64(time.Second))}
}

// limits are the rate limits of the token endpoint (issue 7 §3).
type limits struct {
	passwordUser, passwordAddr *keyed
	failedClient, failedAddr   *keyed
	clientCredentials          *keyed // nil: unlimited
}

func newLimits(cfg Config, now func() time.Time) *limits {
	l := &limits{
		passwordUser: newKeyed(cfg.PasswordPerMinutePerUser, now),
		passwordAddr: newKeyed(cfg.PasswordPerMinutePerAddress, now),
		failedClient: newKeyed(cfg.FailedAuthPerMinutePerClient, now),
		failedAddr:   newKeyed(cfg.FailedAuthPerMinutePerAddress, now),
	}
	l.passwordAddr.source, l.failedAddr.source = true, true
	if cfg.ClientCredentialsPerSecond > 0 {
		l.clientCredentials = newKeyed(cfg.ClientCredentialsPerSecond*60, now)
	}
	return l
}

// clientAuthFailed spends a failure of the client ID and the source.
func (l *limits) clientAuthFailed(clientID, addr string) {
	_ = l.failedAddr.take(addr)
	_ = l.failedClient.take(clientID)
}

// password spends one password attempt of the source and of the
// (account, source) pair. The account's budget is per source so that
// nobody spends another's: failures across sources are the sign-in
// room's (oauth/login's ledger and lockout).
func (l *limits) password(account, addr string) error {
	if err := l.passwordAddr.take(addr); err != nil {
		return err
	}
	return l.passwordUser.take(account + "\x00" + login.SourceKey(addr))
}
