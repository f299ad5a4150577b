package http

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/prometheus/client_golang/prometheus"
)

// inlineWorkflowLabel is the workflow label of the runs of inline workflows,
// which were never stored: their names are whatever callers send, so as
// labels they would make series without end.
const inlineWorkflowLabel = "inline"

// RunMetrics counts runs and steps from the event stream: each run and
// step change is an event, and its counts are taken as the event is
// sequenced, by the one replica that sequences it (events.Config's
// Sequenced), so the figures of all replicas summed count every change of
// the deployment once; one replica's alone mean nothing. Its series are
// labelled by workflow: the stored workflow's name, or "inline".
//
// Register it on the gateway's registry (Server.Registry) and give its
// Observe to the event hub.
type RunMetrics struct {
	runsStarted   *prometheus.CounterVec
	runsFinished  *prometheus.CounterVec
	runDuration   *prometheus.HistogramVec
	queueWait     *prometheus.HistogramVec
	stepsFinished *prometheus.CounterVec
	stepDuration  *prometheus.HistogramVec
	stepRetries   *prometheus.CounterVec
}

// NewRunMetrics returns run metrics with no count yet.
func NewRunMetrics() *RunMetrics {
	// From a tenth of a second, a run of one quick step, to a day.
	runBuckets := []float64{.1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600}
	return &RunMetrics{
		runsStarted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ossa_runs_started_total",
			Help: "Workflow runs started (taken from the queue for the first time), by workflow. Sum over replicas.",
		}, []string{"workflow"}),
		runsFinished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ossa_runs_finished_total",
			Help: "Workflow runs finished, by workflow and status (succeeded, failed, cancelled, timed_out). Sum over replicas.",
		}, []string{"workflow", "status"}),
		runDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ossa_run_duration_seconds",
			Help:    "Time from a run's start to its end, by workflow and status. Sum over replicas.",
			Buckets: runBuckets,
		}, []string{"workflow", "status"}),
		queueWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ossa_run_queue_wait_seconds",
			Help:    "Time runs waited in the queue, from their creation to their start, by workflow. Sum over replicas.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600},
		}, []string{"workflow"}),
		stepsFinished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ossa_steps_finished_total",
			Help: "Workflow steps finished, by workflow and status (succeeded, failed, skipped, cancelled). Sum over replicas.",
		}, []string{"workflow", "status"}),
		stepDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ossa_step_duration_seconds",
			Help:    "Time from a step's start to its end, all its attempts, by workflow. Sum over replicas.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600},
		}, []string{"workflow"}),
		stepRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ossa_step_retries_total",
			Help: "Failed step attempts that will be tried again (step.retrying events), by workflow. Sum over replicas.",
		}, []string{"workflow"}),
	}
}

func (m *RunMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.runsStarted, m.runsFinished, m.runDuration, m.queueWait,
		m.stepsFinished, m.stepDuration, m.stepRetries}
}

// Describe is part of prometheus.Collector.
func (m *RunMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
}

// Collect is part of prometheus.Collector.
func (m *RunMetrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
}

// Observe counts the run and step changes of a batch of events as it is
// sequenced. Other events, and events whose data it cannot read, are
// passed over.
func (m *RunMetrics) Observe(batch []platform.Event) {
	for i := range batch {
		e := &batch[i]
		switch {
		case strings.HasPrefix(e.Type, "run."):
			m.observeRun(e)
		case strings.HasPrefix(e.Type, "step."):
			m.observeStep(e)
		}
	}
}

func (m *RunMetrics) observeRun(e *platform.Event) {
	var d platform.RunEventData
	if (e.Type != platform.EventRunStarted && !e.Terminal()) || json.Unmarshal(e.Data, &d) != nil {
		return
	}
	wf := workflowLabel(d.Workflow, d.WorkflowID)
	if e.Type == platform.EventRunStarted {
		m.runsStarted.WithLabelValues(wf).Inc()
		if d.QueueWait != nil {
			m.queueWait.WithLabelValues(wf).Observe(*d.QueueWait / 1000)
		}
		return
	}
	status := strings.TrimPrefix(e.Type, "run.") // the type, not the data: a known value
	m.runsFinished.WithLabelValues(wf, status).Inc()
	if d.Duration != nil {
		m.runDuration.WithLabelValues(wf, status).Observe(*d.Duration / 1000)
	}
}

func (m *RunMetrics) observeStep(e *platform.Event) {
	var d platform.StepEventData
	switch e.Type {
	case platform.EventStepRetrying, platform.EventStepSucceeded, platform.EventStepFailed,
		platform.EventStepSkipped, platform.EventStepCancelled:
	default:
		return
	}
	if json.Unmarshal(e.Data, &d) != nil {
		return
	}
	wf := workflowLabel(d.Workflow, d.WorkflowID)
	if e.Type == platform.EventStepRetrying {
		m.stepRetries.WithLabelValues(wf).Inc()
		return
	}
	m.stepsFinished.WithLabelValues(wf, strings.TrimPrefix(e.Type, "step.")).Inc()
	if d.Duration != nil {
		m.stepDuration.WithLabelValues(wf).Observe(*d.Duration / 1000)
	}
}

// workflowLabel is the workflow label of a run: its stored workflow's
// name, or "inline" for a workflow that was never stored (no ID).
func workflowLabel(name, id string) string {
	if id == "" {
		return inlineWorkflowLabel
	}
	return name
}

// runCollector reports the runs waiting and running at scrape time, from
// the store, so every replica reports the same figures.
type runCollector struct{ runs platform.RunStore }

var (
	runsDesc = prometheus.NewDesc("ossa_runs",
		"Unfinished workflow runs now, by status (queued, running), counted in the database: every replica agrees.",
		[]string{"status"}, nil)
	queueAgeDesc = prometheus.NewDesc("ossa_run_queue_oldest_age_seconds",
		"Age of the oldest queued run (0 when none is queued), from the database: every replica agrees.", nil, nil)
)

func (c *runCollector) Describe(ch chan<- *prometheus.Desc) { ch <- runsDesc; ch <- queueAgeDesc }

func (c *runCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts, err := c.runs.CountRuns(ctx, platform.AllNamespaces)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(runsDesc, err)
		ch <- prometheus.NewInvalidMetric(queueAgeDesc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(runsDesc, prometheus.GaugeValue, float64(counts.Queued), string(platform.RunQueued))
	ch <- prometheus.MustNewConstMetric(runsDesc, prometheus.GaugeValue, float64(counts.Running), string(platform.RunRunning))
	var age float64
	if !counts.OldestQueued.IsZero() {
		age = max(time.Since(counts.OldestQueued).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(queueAgeDesc, prometheus.GaugeValue, age)
}
