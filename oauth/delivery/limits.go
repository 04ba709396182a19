package delivery

import (
	"crypto/sha256"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/accessd/accessd/oauth/api"
)

// Send limits (SMS pumping: every message costs the site money).
//
// A test send spends one token of the caller's bucket, of the
// provider's test bucket and of the destination's bucket; a code send
// one of the provider's bucket and of the destination's (the sign-in
// room limits codes per user before it asks). A send goes out only when
// every bucket it needs has a token, and then spends one of each, so a
// refused send costs nothing. Destinations are kept as hashes.
var (
	limitTestCaller   = limit{"caller", 2 * time.Minute, 5}      // 5 at once, then one every 2 minutes
	limitTestProvider = limit{"provider", time.Minute, 10}       // test sends of one provider
	limitDestination  = limit{"destination", 2 * time.Minute, 5} // tests and codes to one address or number
	limitCodeProvider = limit{"provider", time.Second, 120}      // code sends of one provider: 120 at once, then 60 a minute
)

type limit struct {
	name  string
	every time.Duration
	burst int
}

// ErrRateLimited refuses a send over one of its limits (a catalogued
// 429); RetryAfter says when to come back.
type ErrRateLimited struct {
	Limit      string
	RetryAfter time.Duration
}

func (e *ErrRateLimited) Error() string {
	return fmt.Sprintf("delivery: too many sends per %s; retry after %d s", e.Limit, int(math.Ceil(e.RetryAfter.Seconds())))
}

// Unwrap makes the refusal a catalogued 429.
func (e *ErrRateLimited) Unwrap() error { return api.ErrRateLimited }

// sendLimits are token buckets by key. Buckets that are full hold
// nothing a new one would not, so they are dropped when the set grows;
// a key is only made when a send goes out, so the provider's bucket
// bounds how fast the set can grow.
type sendLimits struct {
	mu  sync.Mutex
	now func() time.Time
	m   map[string]*rate.Limiter
	lim map[string]limit
}

const sendLimitsPrune = 4096

type limitKey struct {
	l   limit
	key string
}

func destinationKey(category, to string) string {
	sum := sha256.Sum256([]byte(category + "\x00" + to))
	return fmt.Sprintf("dest:%x", sum[:16])
}

// take spends one token of every key's bucket, or none and says which
// limit refused and for how long.
func (s *sendLimits) take(keys ...limitKey) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m, s.lim = map[string]*rate.Limiter{}, map[string]limit{}
	}
	if len(s.m) >= sendLimitsPrune {
		for k, l := range s.m {
			if l.TokensAt(now) >= float64(s.lim[k].burst) {
				delete(s.m, k)
				delete(s.lim, k)
			}
		}
	}
	for _, k := range keys {
		if l, ok := s.m[k.key]; ok {
			if t := l.TokensAt(now); t < 1 {
				return &ErrRateLimited{Limit: k.l.name, RetryAfter: time.Duration((1 - t) * float64(k.l.every))}
			}
		}
	}
	for _, k := range keys {
		l, ok := s.m[k.key]
		if !ok {
			l = rate.NewLimiter(rate.Every(k.l.every), k.l.burst)
			s.m[k.key], s.lim[k.key] = l, k.l
		}
		l.AllowN(now, 1)
	}
	return nil
}

// Metrics are the delivery counters, served on the admin plane's
// /metrics.
type Metrics struct {
	sends   *prometheus.CounterVec
	limited *prometheus.CounterVec
}

func newMetrics() *Metrics {
	return &Metrics{
		sends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "accessd_delivery_sends_total", Help: "Messages through delivery providers, by kind (code, test), category and result (delivered, failed, limited).",
		}, []string{"kind", "category", "result"}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "accessd_delivery_rate_limited_total", Help: "Sends refused by a delivery limit, by kind and limit (provider, destination, caller).",
		}, []string{"kind", "limit"}),
	}
}

// Register adds the collectors to reg.
func (m *Metrics) Register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.sends, m.limited} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
