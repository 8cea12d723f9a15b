//go:build cgo

package input

// Windows reserves Ctrl+Alt+Del (the secure attention sequence): only
// SendSAS from a service (with the SoftwareSASGeneration policy) can raise
// it. The session helper cannot; the service must do it on request
// (supervisor.SendSAS on Windows).
var errCtrlAltDel = ErrNeedsService
