#!/bin/sh
# Tether agent: after removal. deb purge removes the configuration and the
# agent's identity; rpm has no purge, so its erase (0) does the same.
# DPKG_ROOT: see postinst.
set -e
root="${DPKG_ROOT:-}"
case "$1" in
purge | 0)
	rm -rf "$root/var/lib/tether-agent"
	rm -f "$root/etc/tether/agent.yaml" "$root/etc/tether/agent.yaml.rpmsave" "$root/etc/tether/agent.yaml.dpkg-old"
	rmdir "$root/etc/tether" 2>/dev/null || true
	;;
esac
if [ -z "$root" ] && [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
