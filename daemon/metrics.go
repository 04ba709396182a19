package daemon

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are served in Prometheus text format on the admin plane only:
// they describe the appliance, and the data plane's clients need none of it.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	refused  prometheus.Counter
	// dataRefused counts data-plane connections reset at accept because
	// their source held listen.max_conns_per_address already.
	dataRefused prometheus.Counter
	// idleClosed counts keep-alive connections closed early because the
	// data plane was near its connection cap.
	idleClosed prometheus.Counter
}

func newMetrics(storeSize func() (lsm, vlog int64)) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "accessd_http_requests_total",
			Help: "HTTP requests served, by plane and status code.",
		}, []string{"plane", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "accessd_http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by plane.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"plane"}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "accessd_admin_connections_refused_total",
			Help: "Admin socket connections refused by the peer-credential check.",
		}),
	}
	m.dataRefused = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "accessd_data_connections_refused_total",
		Help: "Data-plane connections reset at accept: their source address held listen.max_conns_per_address already.",
	})
	m.idleClosed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "accessd_data_idle_connections_closed_total",
		Help: "Idle keep-alive connections closed early because the data plane was near its connection cap.",
	})
	m.reg.MustRegister(m.requests, m.latency, m.refused, m.dataRefused, m.idleClosed,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if storeSize != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "accessd_store_lsm_bytes", Help: "Size of the store's LSM tree on disk.",
		}, func() float64 { l, _ := storeSize(); return float64(l) }))
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "accessd_store_vlog_bytes", Help: "Size of the store's value log on disk.",
		}, func() float64 { _, v := storeSize(); return float64(v) }))
	}
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
