#!/bin/sh
# Tether server: before removal (deb: remove; rpm: 0).
set -e
case "$1" in
remove | deconfigure | 0)
	if [ -d /run/systemd/system ]; then
		systemctl disable --now tether-server.service >/dev/null 2>&1 || true
	fi
	;;
esac
exit 0
