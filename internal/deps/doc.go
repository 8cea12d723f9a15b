// Package deps holds the table of every external program Tether's code,
// tests and scripts start, with the Debian package that ships it and the
// scripts/deps.sh profiles that install it. Its test collects the programs
// from the source and fails, with the line to add, when one has no row: a
// fresh machine then has what `make run` and `make test` start.
package deps

// Program is one row: a program, the Debian package that ships it, and
// the deps.sh profiles that install that package ("essential" for
// packages every Debian system has: Essential or of priority required;
// "system" for what a machine that runs the agent as a service has, used
// only where it is there; none for programs that are not Debian's).
type Program struct {
	Name, Package string
	Profiles      []string
	// Why says what starts it, where that is not obvious.
	Why string
}

// Programs is the table. Keep it sorted by name.
var Programs = []Program{
	{"../scripts/pg-test.sh", "", nil, "the repository's own private PostgreSQL cluster, for tests and the two-node benchmark (initdb and pg_ctl have rows)"},
	{"Xvfb", "xvfb", []string{"run", "test", "bench"}, "the virtual display of make run and of the tests"},
	{"Xwayland", "xwayland", []string{"bench"}, "sway starts it for the Wayland screen benchmark's X workloads"},
	{"apt-get", "apt", []string{"essential"}, "deps.sh installs packages"},
	{"awk", "mawk", []string{"essential"}, ""},
	{"chromium", "chromium", []string{"test", "bench"}, "the console and viewer tests (chromedp)"},
	{"curl", "curl", []string{"base"}, "make run waits for the server"},
	{"dbus-daemon", "dbus-daemon", []string{"test"}, "a session bus for the notification tests"},
	{"debootstrap", "debootstrap", []string{"fresh"}, "scripts/fresh-check.sh"},
	{"desktop-file-validate", "desktop-file-utils", []string{"test"}, "the installer tests validate the desktop entry"},
	{"dpkg", "dpkg", []string{"essential"}, "the installer test installs and purges the .deb in a throw-away root"},
	{"dpkg-deb", "dpkg", []string{"essential"}, "the installer tests read the .deb packages back"},
	{"dpkg-query", "dpkg", []string{"essential"}, ""},
	{"ffprobe", "ffmpeg", []string{"test"}, "recording tests read the WebM files as a player would"},
	{"git", "git", []string{"base"}, ""},
	{"go", "", nil, "Go itself, from go.dev (the README asks for it)"},
	{"haproxy", "haproxy", []string{"test"}, "the load balancer in front of two server nodes (e2e TestMultiNode)"},
	{"initdb", "postgresql", []string{"test", "bench"}, "scripts/pg-test.sh's private cluster"},
	{"ip", "iproute2", []string{"test", "bench"}, "e2e's network lab: namespaces, veth pairs, a bridge (ip netns exec runs the server, agent, browser and proxy in them)"},
	{"loginctl", "systemd", []string{"system"}, "the agent asks logind which desktop is in front; without it, it falls back to the virtual terminal"},
	{"make", "make", []string{"base"}, ".ci/run"},
	{"msibuild", "msitools", []string{"run", "test", "installers"}, "presets the MSI's properties (make installers, and the server's installer downloads)"},
	{"msiinfo", "msitools", []string{"run", "test"}, "finds an MSI's signature before stamping it; the installer tests read the MSI's tables back"},
	{"mutter", "mutter", []string{"test"}, "the headless GNOME compositor of the Wayland tests (internal/testenv StartMutter)"},
	{"nft", "nftables", []string{"test"}, "the network lab's firewalls (no UDP, TCP 443 only, proxy only)"},
	{"openssl", "openssl", []string{"test"}, "hashes the lab proxy's password (openssl passwd)"},
	{"osslsigncode", "osslsigncode", []string{"run", "test", "installers"}, "Authenticode signatures on the .exe and .msi (make installers SIGN_CERT=…)"},
	{"pg_ctl", "postgresql", []string{"test", "bench"}, "scripts/pg-test.sh's private cluster"},
	{"pipewire", "pipewire-bin", []string{"test"}, "the screen streams of the GNOME test desktop (with its config and modules from package pipewire)"},
	{"pw-cli", "pipewire-bin", []string{"test"}, "the GNOME test desktop waits for WirePlumber"},
	{"rpm", "rpm", []string{"test"}, "the installer tests read the .rpm packages back"},
	{"runuser", "util-linux", []string{"essential"}, ""},
	{"squid", "squid", []string{"test"}, "the authenticating HTTP proxy of the network lab (e2e TestNetworkPaths)"},
	{"ss", "iproute2", []string{"test", "bench"}, "the screen benchmark reads TCP counters; the network lab resets connections (ss -K)"},
	{"sway", "sway", []string{"test", "bench"}, "the headless wlroots compositor of the Wayland tests and of the Wayland screen benchmark (internal/testenv StartSway)"},
	{"systemctl", "systemd", []string{"system"}, "deps.sh disables coturn's and squid's services where systemd runs"},
	{"systemd-analyze", "systemd", []string{"test"}, "the installer tests verify the packages' systemd units"},
	{"turnutils_peer", "coturn", []string{"test"}, "the echo peer behind the embedded relay"},
	{"turnutils_uclient", "coturn", []string{"test"}, "a real TURN client against the embedded relay"},
	{"unshare", "util-linux", []string{"essential"}, ""},
	{"wayvnc", "wayvnc", []string{"bench"}, "the VNC peer of the Wayland screen benchmark"},
	{"websockify", "python3-websockify", []string{"bench"}, "the noVNC peer of the screen benchmark"},
	{"wine", "wine", []string{"test"}, "runs the Windows tests, agent and MSI under Wine (internal/testenv, internal/wintest)"},
	{"wineserver", "wine64", []string{"test"}, "waits for and stops a test's Wine prefix"},
	{"wireplumber", "wireplumber", []string{"test"}, "links the GNOME test desktop's screen streams to their readers"},
	{"wish", "tk", []string{"run", "test", "bench"}, "the chat window and the test's end user"},
	{"wixl", "wixl", []string{"run", "test", "installers"}, "builds the agent's MSI (make installers)"},
	{"x11vnc", "x11vnc", []string{"bench"}, "the VNC peer of the screen benchmark"},
	{"x86_64-w64-mingw32-gcc", "gcc-mingw-w64-x86-64", []string{"build", "test"}, "cgo for the Windows builds; the Wine prefix's ProcessPrng shim"},
	{"xdg-desktop-portal", "xdg-desktop-portal", []string{"test"}, "the desktop portal of the GNOME test desktop (/usr/libexec; agent/remotedesktop TestPortal)"},
	{"xdg-desktop-portal-gnome", "xdg-desktop-portal-gnome", []string{"test"}, "GNOME's portal backend, whose dialog asks the end user (/usr/libexec)"},
	{"xdg-open", "xdg-utils", []string{"run", "test"}, "opens a link in an end-user notification in the browser"},
	{"xdotool", "xdotool", []string{"test"}, "tests move the pointer and type as an end user would"},
	{"xdpyinfo", "x11-utils", []string{"run", "test", "bench"}, ""},
	{"xhost", "x11-xserver-utils", []string{"bench"}, "sway's config lets the benchmark's X clients into its Xwayland"},
	{"xsetroot", "x11-xserver-utils", []string{"test"}, "tests paint the root window"},
	{"zenity", "zenity", []string{"run", "test", "bench"}, "the acceptance prompt and code entry (github.com/ncruces/zenity starts it)"},
}
