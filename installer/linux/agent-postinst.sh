#!/bin/sh
# Tether agent: after install or upgrade (deb: configure; rpm: 1 or 2).
# DPKG_ROOT is set when dpkg installs into another root without chroot:
# then files are under it, and no service of this machine is touched.
set -e
conf="${DPKG_ROOT:-}/etc/tether/agent.yaml"
[ -z "${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ] || exit 0
systemctl daemon-reload >/dev/null 2>&1 || true
# Enable and start only with a server configured: a package installed
# before its configuration must not start an agent that cannot enroll.
if grep -Eq '^[[:space:]]*server:[[:space:]]*"?[A-Za-z]' "$conf" 2>/dev/null; then
	systemctl enable tether-agent.service >/dev/null 2>&1 || true
	systemctl restart tether-agent.service || echo "tether-agent: the service did not start; see journalctl -u tether-agent" >&2
else
	echo "tether-agent: no server in $conf; run: tether-agent install --server URL --token TOKEN" >&2
fi
exit 0
