package daemon

import (
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// logLimiter bounds the lines of one kind of log event that an outsider
// can trigger (a refused admin peer, a refused data-plane connection), so
// nobody can flood the journal through accessd: a burst passes, then one
// line per interval, and the lines held back are counted and reported on
// the next line that passes. Metrics still count every event.
type logLimiter struct {
	lim     *rate.Limiter
	now     func() time.Time
	dropped atomic.Int64
}

// Refusal log bounds: ten lines at once, then one a second.
const (
	logBurst = 10
	logEvery = time.Second
)

func newLogLimiter(burst int, every time.Duration) *logLimiter {
	return &logLimiter{lim: rate.NewLimiter(rate.Every(every), burst), now: time.Now}
}

// allow reports whether a line may be written now and, if so, how many
// were dropped since the last one written (to be logged with it).
func (l *logLimiter) allow() (ok bool, dropped int64) {
	if !l.lim.AllowN(l.now(), 1) {
		l.dropped.Add(1)
		return false, 0
	}
	return true, l.dropped.Swap(0)
}
