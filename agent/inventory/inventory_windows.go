package inventory

import (
	"context"
	"fmt"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

func osVersion(context.Context) (string, error) {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, `SOFTWARE\Microsoft\Windows NT\CurrentVersion`, registry.QUERY_VALUE)
	if err != nil {
		return "", fmt.Errorf("opening CurrentVersion key: %w", err)
	}
	defer k.Close()
	product, _, err := k.GetStringValue("ProductName")
	if err != nil {
		return "", fmt.Errorf("reading ProductName: %w", err)
	}
	// The rest is optional: older releases lack DisplayVersion or UBR.
	display, _, _ := k.GetStringValue("DisplayVersion")
	build, _, _ := k.GetStringValue("CurrentBuildNumber")
	ubr, _, _ := k.GetIntegerValue("UBR")
	return formatWindowsVersion(product, display, build, ubr), nil
}

// WTS_INFO_CLASS values; x/sys/windows has no WTSQuerySessionInformation,
// so it is called through wtsapi32 directly.
const (
	wtsUserName   = 5
	wtsDomainName = 7
)

// loggedInUsers lists DOMAIN\user for every active or disconnected session
// (a disconnected RDP session is still logged in).
func loggedInUsers(context.Context) ([]string, error) {
	var sessions *windows.WTS_SESSION_INFO
	var count uint32
	// Handle 0 is WTS_CURRENT_SERVER_HANDLE.
	if err := windows.WTSEnumerateSessions(0, 0, 1, &sessions, &count); err != nil {
		return nil, fmt.Errorf("enumerating sessions: %w", err)
	}
	defer windows.WTSFreeMemory(uintptr(unsafe.Pointer(sessions)))

	query := windows.NewLazySystemDLL("wtsapi32.dll").NewProc("WTSQuerySessionInformationW")
	if err := query.Find(); err != nil {
		return nil, fmt.Errorf("finding WTSQuerySessionInformationW: %w", err)
	}
	var users []string
	for _, s := range unsafe.Slice(sessions, count) {
		if s.State != windows.WTSActive && s.State != windows.WTSDisconnected {
			continue
		}
		user := sessionString(query, s.SessionID, wtsUserName)
		if user == "" {
			continue // services session, or a login screen
		}
		if domain := sessionString(query, s.SessionID, wtsDomainName); domain != "" {
			user = domain + `\` + user
		}
		users = append(users, user)
	}
	return users, nil
}

func sessionString(query *windows.LazyProc, session uint32, class uintptr) string {
	var buf *uint16
	var n uint32
	r, _, _ := query.Call(0, uintptr(session), class, uintptr(unsafe.Pointer(&buf)), uintptr(unsafe.Pointer(&n)))
	if r == 0 || buf == nil {
		return ""
	}
	defer windows.WTSFreeMemory(uintptr(unsafe.Pointer(buf)))
	return windows.UTF16PtrToString(buf)
}
