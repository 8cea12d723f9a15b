//go:build windows

package supervisor

import (
	"errors"
	"fmt"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

// Ctrl+Alt+Del (the secure attention sequence) cannot be injected by the
// session helper (agent/input reports ErrNeedsService): only a service may
// raise it, with SendSAS from sas.dll, and only when the
// SoftwareSASGeneration policy lets services do so.

var (
	modSAS      = windows.NewLazySystemDLL("sas.dll")
	procSendSAS = modSAS.NewProc("SendSAS")
)

// sasPolicyKey and sasPolicyValue hold the SoftwareSASGeneration policy
// ("Disable or enable software Secure Attention Sequence"): 1 services,
// 2 ease of access applications, 3 both; absent or 0: none.
const (
	sasPolicyKey   = `SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System`
	sasPolicyValue = "SoftwareSASGeneration"
)

// ErrSASPolicy: the SoftwareSASGeneration policy does not allow services
// to raise Ctrl+Alt+Del, so SendSAS would do nothing.
var ErrSASPolicy = errors.New("the SoftwareSASGeneration policy does not allow services to send Ctrl+Alt+Del (set it to 1 or 3)")

// SendSAS raises Ctrl+Alt+Del on the active console session, for a helper
// whose viewer asked for it. The service (LocalSystem) calls it; SendSAS
// itself reports nothing, so the policy is checked first.
func SendSAS() error {
	if err := checkSASPolicy(); err != nil {
		return err
	}
	if err := procSendSAS.Find(); err != nil {
		return fmt.Errorf("Ctrl+Alt+Del: %w", err)
	}
	// SendSAS(BOOL AsUser): FALSE, the caller is a service.
	_, _, _ = procSendSAS.Call(0)
	return nil
}

func checkSASPolicy() error {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, sasPolicyKey, registry.QUERY_VALUE)
	if err != nil {
		return ErrSASPolicy
	}
	defer k.Close()
	v, _, err := k.GetIntegerValue(sasPolicyValue)
	if err != nil || !sasPolicyAllowsServices(v) {
		return ErrSASPolicy
	}
	return nil
}

// sasPolicyAllowsServices: values 1 (services) and 3 (services and ease of
// access applications).
func sasPolicyAllowsServices(v uint64) bool { return v == 1 || v == 3 }

// sendSAS is what the supervisor calls when a helper asks for Ctrl+Alt+Del.
func sendSAS() error { return SendSAS() }
