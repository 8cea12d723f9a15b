package main

import (
	"log/slog"
	"time"

	"golang.org/x/sys/windows/svc/mgr"
)

// ensureRecovery gives the service its failure actions (restart after 30 s)
// when it was registered without any: the MSI registers it through the
// ServiceInstall table, which has no place for them, unlike `tether-agent
// install`.
func ensureRecovery(log *slog.Logger) {
	m, err := mgr.Connect()
	if err != nil {
		log.Warn("cannot check the service's recovery actions", "component", "main", "err", err)
		return
	}
	defer m.Disconnect()
	s, err := m.OpenService(serviceName)
	if err != nil {
		log.Warn("cannot check the service's recovery actions", "component", "main", "err", err)
		return
	}
	defer s.Close()
	if acts, err := s.RecoveryActions(); err == nil && len(acts) > 0 {
		return
	}
	restart := mgr.RecoveryAction{Type: mgr.ServiceRestart, Delay: 30 * time.Second}
	if err := s.SetRecoveryActions([]mgr.RecoveryAction{restart, restart, restart}, uint32((24 * time.Hour).Seconds())); err != nil {
		log.Warn("cannot set the service's recovery actions", "component", "main", "err", err)
		return
	}
	log.Info("service recovery set: restart after 30s", "component", "main")
}
