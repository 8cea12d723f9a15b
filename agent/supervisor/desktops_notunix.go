//go:build windows || darwin

package supervisor

// ownDesktop: in `run` mode on Windows and macOS the agent already runs in
// the user's session, so the helper runs there too.
func ownDesktop(getenv func(string) string) (Desktop, bool) {
	return Desktop{Key: "own", UID: -1, GID: -1, User: getenv("USER"), Active: true}, true
}
