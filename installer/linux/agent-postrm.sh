#!/bin/sh
# Tether agent: after removal. deb purge removes the configuration and the
# agent's identity; rpm has no purge, so its erase (0) does the same.
set -e
case "$1" in
purge | 0)
	rm -rf /var/lib/tether-agent
	rm -f /etc/tether/agent.yaml /etc/tether/agent.yaml.rpmsave /etc/tether/agent.yaml.dpkg-old
	rmdir /etc/tether 2>/dev/null || true
	;;
esac
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
