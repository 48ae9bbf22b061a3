package agent

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/walship/walship/throttle"
)

// metrics are the agent's Prometheus collectors, registered on a registry
// of the agent's own (several agents may live in one process, in tests).
type metrics struct {
	reg              *prometheus.Registry
	uploadedBytes    *prometheus.CounterVec
	uploadedObjects  *prometheus.CounterVec
	retries          *prometheus.CounterVec
	reconciles       *prometheus.CounterVec
	gaps             *prometheus.CounterVec
	timelinesStarted *prometheus.CounterVec
	snapshots        *prometheus.CounterVec
	pruned           *prometheus.CounterVec
	compacted        *prometheus.CounterVec
	compactDeleted   *prometheus.CounterVec
}

func newMetrics(a *Agent) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	store := []string{"store"}
	m.uploadedBytes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "walship_store_uploaded_bytes_total",
		Help: "Segment bytes uploaded and verified, per store."}, store)
	m.uploadedObjects = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "walship_store_uploaded_objects_total",
		Help: "Segments uploaded and verified, per store."}, store)
	m.retries = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "walship_store_retries_total",
		Help: "Failed upload attempts that were retried, per store."}, store)
	m.reconciles = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "walship_store_reconciles_total",
		Help: "Reconciliation runs after the retry bound was reached, per store."}, store)
	m.gaps = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "walship_store_gaps_total",
		Help: "Segments dropped for a store that was down while the spool reached its bound."}, store)
	m.timelinesStarted = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "walship_timelines_started_total",
		Help: "New timelines started, by cause."}, []string{"cause"})
	m.snapshots = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "walship_snapshots_total",
		Help: "Base snapshots attempted, by result."}, []string{"result"})
	m.pruned = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "walship_store_pruned_objects_total",
		Help: "Objects deleted by scheduled prunes, per store."}, store)
	m.compacted = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "walship_store_compacted_segments_total",
		Help: "Segments merged into larger ones by compaction, per store."}, store)
	m.compactDeleted = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "walship_store_compaction_deleted_total",
		Help: "Segments deleted by compaction after their entries were found in a larger one, per store."}, store)
	m.reg.MustRegister(m.uploadedBytes, m.uploadedObjects, m.retries, m.reconciles, m.gaps, m.timelinesStarted, m.snapshots, m.pruned,
		m.compacted, m.compactDeleted)
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "walship_sealed_index", Help: "Last entry sealed into the spool."},
			func() float64 { return float64(a.Status().Sealed) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "walship_timeline", Help: "Current timeline."},
			func() float64 { return float64(a.Status().Timeline) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "walship_spool_bytes", Help: "Bytes of sealed segments waiting in the spool."},
			func() float64 { return float64(a.Status().SpoolBytes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "walship_spool_segments", Help: "Sealed segments waiting in the spool."},
			func() float64 { return float64(a.Status().Spooled) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "walship_state_dir_full",
			Help: "1 while the state dir's filesystem is full (ENOSPC, EDQUOT): sealing is paused or state.json lags, both retried."},
			func() float64 {
				if a.sealErr.active() || a.stateErr.active() {
					return 1
				}
				return 0
			}),
	)
	if a.opt.GlobalLimiter != nil {
		m.reg.MustRegister(newThrottleCollector("global", a.opt.GlobalLimiter))
	}
	for _, s := range a.opt.Stores {
		if s.Limiter != nil {
			m.reg.MustRegister(newThrottleCollector(s.Name, s.Limiter))
		}
	}
	for _, s := range a.opt.Stores {
		name := s.Name
		pick := func(f func(StoreStatus) float64) func() float64 {
			return func() float64 {
				for _, ss := range a.Status().Stores {
					if ss.Name == name {
						return f(ss)
					}
				}
				return 0
			}
		}
		labels := prometheus.Labels{"store": name}
		m.reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "walship_store_shipped_index", ConstLabels: labels,
				Help: "Last entry shipped and verified in the store."}, pick(func(s StoreStatus) float64 { return float64(s.Shipped) })),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "walship_store_lag_entries", ConstLabels: labels,
				Help: "Entries read from the source and not yet verified in the store."}, pick(func(s StoreStatus) float64 { return float64(s.LagEntries) })),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "walship_store_lag_seconds", ConstLabels: labels,
				Help: "Age of the oldest entry read from the source and not yet verified in the store."}, pick(func(s StoreStatus) float64 { return s.LagSeconds })),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "walship_store_degraded", ConstLabels: labels,
				Help: "1 while the store is past its retry bound and being reconciled."}, pick(func(s StoreStatus) float64 {
				if s.Degraded {
					return 1
				}
				return 0
			})),
		)
		for _, v := range []*prometheus.CounterVec{m.uploadedBytes, m.uploadedObjects, m.retries, m.reconciles, m.gaps} {
			v.WithLabelValues(name) // export zeros from the start
		}
		// What runs only on a schedule exports zeros from the start when
		// it is on, and nothing when it is off: an alert on "no prune" or
		// "no compaction" then never fires for an agent that does neither.
		if a.opt.Retention.Interval > 0 {
			m.pruned.WithLabelValues(name)
		}
		if a.opt.Compaction.Interval > 0 {
			m.compacted.WithLabelValues(name)
			m.compactDeleted.WithLabelValues(name)
		}
	}
	// Every cause a timeline is started for (fork.go, sealer.go), so a rule
	// on walship_timelines_started_total sees the series before the first.
	for _, cause := range []string{"truncate_back", "truncate_front", "unknown_fork", "store_gap"} {
		m.timelinesStarted.WithLabelValues(cause)
	}
	// Only with a snapshot method: "no base snapshot succeeded for a day"
	// must not fire for an agent that takes none.
	if a.opt.Snapshot.configured() {
		m.snapshots.WithLabelValues("ok")
		m.snapshots.WithLabelValues("failed")
	}
	return m
}

// throttleCollector exports a limiter's queueing time and bytes.
type throttleCollector struct {
	scope  string
	lim    *throttle.Limiter
	wait   *prometheus.Desc
	passed *prometheus.Desc
}

func newThrottleCollector(scope string, lim *throttle.Limiter) *throttleCollector {
	labels := []string{"direction", "priority"}
	cl := prometheus.Labels{"limiter": scope}
	return &throttleCollector{scope: scope, lim: lim,
		wait: prometheus.NewDesc("walship_throttle_wait_seconds_total",
			"Time transfers spent queued on a rate limiter.", labels, cl),
		passed: prometheus.NewDesc("walship_throttle_passed_total",
			"Bytes (requests for direction=requests) a rate limiter let through.", labels, cl),
	}
}

func (c *throttleCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.wait; ch <- c.passed }

func (c *throttleCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.lim.Stats()
	for dir, tr := range map[string]throttle.Traffic{"upload": st.Upload, "download": st.Download, "requests": st.Requests} {
		for prio, ctr := range map[string]throttle.Counter{"high": tr.High, "low": tr.Low} {
			ch <- prometheus.MustNewConstMetric(c.wait, prometheus.CounterValue, ctr.Waited.Seconds(), dir, prio)
			ch <- prometheus.MustNewConstMetric(c.passed, prometheus.CounterValue, float64(ctr.N), dir, prio)
		}
	}
}
