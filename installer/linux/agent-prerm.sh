#!/bin/sh
# Tether agent: before removal (deb: remove; rpm: 0). An upgrade restarts
# the service in postinst instead.
set -e
case "$1" in
remove | deconfigure | 0)
	if [ -d /run/systemd/system ]; then
		systemctl disable --now tether-agent.service >/dev/null 2>&1 || true
	fi
	;;
esac
exit 0
