//go:build unix && !darwin

package supervisor

func ownDesktop(getenv func(string) string) (Desktop, bool) {
	display := getenv("DISPLAY")
	if display == "" {
		return Desktop{}, false
	}
	env := []string{"DISPLAY=" + display}
	if xa := getenv("XAUTHORITY"); xa != "" {
		env = append(env, "XAUTHORITY="+xa)
	}
	return Desktop{Key: "own:" + display, UID: -1, GID: -1, User: getenv("USER"), Env: env, Active: true}, true
}
