package token

import (
	"crypto/sha256"
	"fmt"
	"hash/maphash"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/accessd/accessd/oauth/api"
)

// ErrRateLimited is wrapped in a refusal by a rate limit; RetryAfter says
// when to come back.
type ErrRateLimited struct{ RetryAfter time.Duration }

func (e *ErrRateLimited) Error() string {
	return fmt.Sprintf("token: too many attempts; retry after %d s", int(math.Ceil(e.RetryAfter.Seconds())))
}

// Unwrap makes the refusal a catalogued 429.
func (e *ErrRateLimited) Unwrap() error { return api.ErrRateLimited }

// keyed is a set of token buckets by key (a username, a client ID, an
// address). A key whose bucket is full holds no state a new bucket would
// not, so the set drops such keys when it grows, and stays as large as
// the keys being limited right now. If even those exceed the cap (a flood
// of distinct keys), new keys are refused until buckets refill: the
// limit fails closed.
type keyed struct {
	every  rate.Limit
	burst  int
	now    func() time.Time
	seed   maphash.Seed
	shards [16]keyedShard
}

type keyedShard struct {
	mu sync.Mutex
	m  map[string]*rate.Limiter
}

const keyedCap = 4096 // per shard

func newKeyed(perMinute int, now func() time.Time) *keyed {
	return &keyed{every: rate.Limit(float64(perMinute) / 60), burst: perMinute, now: now, seed: maphash.MakeSeed()}
}

// maxKeyLen bounds what a limiter keeps per key: a longer key (a 1 MiB
// "username" of a hostile caller) is kept as its SHA-256, so that
// unauthenticated callers cannot make the limiter hold their bytes.
const maxKeyLen = 64

func boundKey(key string) string {
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
	key = boundKey(key)
	now := k.now()
	s := k.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.m[key]
	if !ok {
		if s.m == nil {
			s.m = map[string]*rate.Limiter{}
		}
		if len(s.m) >= keyedCap {
			for key, l := range s.m {
				if l.TokensAt(now) >= float64(k.burst) {
					delete(s.m, key)
				}
			}
			if len(s.m) >= keyedCap {
				return &ErrRateLimited{RetryAfter: time.Minute}
			}
		}
		l = rate.NewLimiter(k.every, k.burst)
		s.m[key] = l
	}
	r := l.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return &ErrRateLimited{RetryAfter: d}
	}
	return nil
}

// check says whether key's bucket has a token, without spending one.
func (k *keyed) check(key string) error {
	key = boundKey(key)
	now := k.now()
	s := k.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.m[key]
	if !ok || l.TokensAt(now) >= 1 {
		return nil
	}
	return &ErrRateLimited{RetryAfter: time.Duration((1 - l.TokensAt(now)) / float64(k.every) * float64(time.Second))}
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
	if cfg.ClientCredentialsPerSecond > 0 {
		l.clientCredentials = newKeyed(cfg.ClientCredentialsPerSecond*60, now)
	}
	return l
}

// clientAuthFailed spends a failure of the client ID and the address.
func (l *limits) clientAuthFailed(clientID, addr string) {
	_ = l.failedAddr.take(addr)
	_ = l.failedClient.take(clientID)
}

// password spends one password attempt of the username and the address.
func (l *limits) password(username, addr string) error {
	if err := l.passwordAddr.take(addr); err != nil {
		return err
	}
	return l.passwordUser.take(username)
}
