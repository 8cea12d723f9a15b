#!/bin/sh
# Tether server: deb purge removes the store, the certificate and the
# user. rpm erase (0) keeps /var/lib/tether: a server's store is not
# something to lose to a package command without purge.
set -e
if [ "$1" = purge ]; then
	rm -rf /var/lib/tether
	rm -f /etc/tether/server.yaml /etc/tether/server.yaml.dpkg-old
	rmdir /etc/tether 2>/dev/null || true
	userdel tether >/dev/null 2>&1 || true
	groupdel tether >/dev/null 2>&1 || true
fi
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
