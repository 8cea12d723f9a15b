package main

import (
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
