package token

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the token layer's counters, served on the admin plane's
// /metrics. Granted decisions are counted here, not audited; denied ones
// are both.
type Metrics struct {
	issued       *prometheus.CounterVec
	decisions    *prometheus.CounterVec
	introspect   *prometheus.CounterVec
	revocations  prometheus.Counter
	lockouts     prometheus.Counter
	limited      *prometheus.CounterVec
	verifyFailed *prometheus.CounterVec
	keyAge       func() time.Duration
}

// NewMetrics makes the collectors; Register adds them to a registry.
func NewMetrics() *Metrics {
	return &Metrics{
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "accessd_tokens_issued_total", Help: "Token requests by grant and result.",
		}, []string{"grant", "result"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "accessd_authorize_decisions_total", Help: "/v1/authorize decisions by result.",
		}, []string{"result"}),
		introspect: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "accessd_introspections_total", Help: "Token introspections by answer.",
		}, []string{"active"}),
		revocations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "accessd_token_revocations_total", Help: "Tokens and refresh families revoked (RFC 7009, logout, replay).",
		}),
		lockouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "accessd_login_lockouts_total", Help: "Password grants refused because the account is locked.",
		}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "accessd_rate_limited_total", Help: "Requests answered 429, by limit.",
		}, []string{"limit"}),
		verifyFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "accessd_token_verify_failures_total", Help: "Access tokens refused, by reason.",
		}, []string{"reason"}),
	}
}

// Register adds the collectors to reg.
func (m *Metrics) Register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.issued, m.decisions, m.introspect, m.revocations, m.lockouts, m.limited, m.verifyFailed,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "accessd_signing_key_age_seconds", Help: "Age of the active token signing key.",
		}, func() float64 {
			if m.keyAge == nil {
				return 0
			}
			return m.keyAge().Seconds()
		})} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// Decision counts one /v1/authorize answer.
func (m *Metrics) Decision(result string) { m.decisions.WithLabelValues(result).Inc() }
