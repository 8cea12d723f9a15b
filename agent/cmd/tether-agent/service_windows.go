package main

import (
	"log/slog"
	"strings"
	"unsafe"

	"github.com/kardianos/service"
	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
)

// A Windows service's stderr goes nowhere: log to the Event Log.
const useSystemLog = true

// Windows dependencies are service names; the agent needs none beyond the
// network stack, which DelayedAutoStart waits for.
func serviceDependencies() []string { return nil }

// startedBySCM reports whether this process's parent is services.exe, in
// any session. x/sys's svc.IsWindowsService (and so kardianos) also wants
// services.exe in session 0, which Wine does not give it (Wine 8 runs it in
// session 1): there the service would run as a console program, never
// answer the service manager, and fail to start.
func startedBySCM() bool {
	var self windows.PROCESS_BASIC_INFORMATION
	size := uint32(unsafe.Sizeof(self))
	if err := windows.NtQueryInformationProcess(windows.CurrentProcess(), windows.ProcessBasicInformation, unsafe.Pointer(&self), size, &size); err != nil {
		return false
	}
	var buf []byte
	for size = 1 << 18; ; size *= 2 {
		buf = make([]byte, size)
		err := windows.NtQuerySystemInformation(windows.SystemProcessInformation, unsafe.Pointer(&buf[0]), size, &size)
		if err == nil {
			break
		}
		if err != windows.STATUS_INFO_LENGTH_MISMATCH || size > 64<<20 {
			return false
		}
	}
	for off := uintptr(0); ; {
		p := (*windows.SYSTEM_PROCESS_INFORMATION)(unsafe.Pointer(&buf[off]))
		if p.UniqueProcessID == self.InheritedFromUniqueProcessId {
			return strings.EqualFold(p.ImageName.String(), "services.exe")
		}
		if p.NextEntryOffset == 0 {
			return false
		}
		off += uintptr(p.NextEntryOffset)
	}
}

// runUnderSCM serves the service manager directly when kardianos took the
// process for a console one (startedBySCM's case); false when it did not.
func runUnderSCM(prg *program) (bool, error) {
	if !service.Interactive() || !startedBySCM() {
		return false, nil
	}
	return true, svc.Run(serviceName, scmHandler{prg})
}

type scmHandler struct{ prg *program }

func (h scmHandler) Execute(_ []string, req <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	status <- svc.Status{State: svc.StartPending}
	if err := h.prg.Start(nil); err != nil {
		return true, 1
	}
	status <- svc.Status{State: svc.Running, Accepts: svc.AcceptStop | svc.AcceptShutdown}
	for {
		select {
		case c := <-req:
			switch c.Cmd {
			case svc.Interrogate:
				status <- c.CurrentStatus
			case svc.Stop, svc.Shutdown:
				status <- svc.Status{State: svc.StopPending}
				_ = h.prg.Stop(nil)
				return false, 0
			}
		case <-h.prg.done:
			return false, 0
		}
	}
}

// dpiAware makes the session helper per-monitor DPI aware before it opens
// a window or reads a coordinate: desktop duplication captures physical
// pixels, and an unaware process would inject and draw in scaled ones
// (clicks and Guidance marks off by 25–50 % on a scaled display), with
// blurred dialogs. Windows 10 1703 has the per-monitor v2 context; older
// ones get system awareness.
func dpiAware(log *slog.Logger) {
	user32 := windows.NewLazySystemDLL("user32.dll")
	if p := user32.NewProc("SetProcessDpiAwarenessContext"); p.Find() == nil {
		const perMonitorAwareV2 = ^uintptr(3) // DPI_AWARENESS_CONTEXT_PER_MONITOR_AWARE_V2, (HANDLE)-4
		r, _, err := p.Call(perMonitorAwareV2)
		if r != 0 {
			return
		}
		log.Debug("per-monitor DPI awareness refused", "error", err)
	}
	if r, _, err := user32.NewProc("SetProcessDPIAware").Call(); r == 0 {
		log.Warn("cannot make the helper DPI aware: on scaled displays, input and marks may land off", "error", err)
	}
}
