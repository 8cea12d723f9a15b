package app

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics live in the default registry: they describe the process, of which
// there is one Service per server.
var (
	actionsQueued = promauto.NewCounter(prometheus.CounterOpts{
		Name: "tether_actions_queued_total", Help: "Actions queued for agents.",
	})
	actionsCompleted = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "tether_actions_completed_total", Help: "Action results reported by agents.",
	}, []string{"ok"})
	pollsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "tether_agent_polls_total", Help: "Agent polls answered, by outcome.",
	}, []string{"outcome"})
	pollsHeld = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "tether_agent_polls_held", Help: "Agent polls currently held open.",
	})
	auditLost = promauto.NewCounter(prometheus.CounterOpts{
		Name: "tether_audit_lost_total", Help: "Audit records that could not be written.",
	})
	sessionsStarted = promauto.NewCounter(prometheus.CounterOpts{
		Name: "tether_sessions_started_total", Help: "Screen-share sessions created.",
	})
	sessionsEnded = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "tether_sessions_ended_total", Help: "Screen-share sessions ended, by reason.",
	}, []string{"reason"})
	recordingsStored = promauto.NewCounter(prometheus.CounterOpts{
		Name: "tether_recordings_stored_total", Help: "Session recordings uploaded and stored.",
	})
	recordingsDeleted = promauto.NewCounter(prometheus.CounterOpts{
		Name: "tether_recordings_deleted_total", Help: "Session recordings deleted at the end of their retention.",
	})
)
