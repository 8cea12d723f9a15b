#!/bin/sh
# Tether: before removal of the package of SERVICE (deb: remove; rpm: 0).
# An upgrade restarts the service in postinst instead. With DPKG_ROOT set
# (another root, no chroot) no service of this machine is touched.
set -e
case "$1" in
remove | deconfigure | 0)
	if [ -z "${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ]; then
		systemctl disable --now SERVICE.service >/dev/null 2>&1 || true
	fi
	;;
esac
exit 0
