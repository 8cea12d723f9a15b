package main

import (
	"fmt"
	"log/slog"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
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

// setDelayedStart has the service manager start the service after the
// others at boot, when the network is up. Not every service manager has
// that setting (Wine's answers ERROR_INVALID_LEVEL); there the service
// starts with the others and the runner's back-off waits for the network.
func setDelayedStart() error {
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("delayed start: %w", err)
	}
	defer m.Disconnect()
	s, err := m.OpenService(serviceName)
	if err != nil {
		return fmt.Errorf("delayed start: %w", err)
	}
	defer s.Close()
	info := windows.SERVICE_DELAYED_AUTO_START_INFO{IsDelayedAutoStartUp: 1}
	if err := windows.ChangeServiceConfig2(s.Handle, windows.SERVICE_CONFIG_DELAYED_AUTO_START_INFO, (*byte)(unsafe.Pointer(&info))); err != nil {
		return fmt.Errorf("delayed start: %w", err)
	}
	return nil
}
