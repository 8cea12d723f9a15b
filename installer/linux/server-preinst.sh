#!/bin/sh
# Tether server: the system user it runs as.
set -e
if ! getent group tether >/dev/null; then
	groupadd --system tether
fi
if ! getent passwd tether >/dev/null; then
	useradd --system --gid tether --home-dir /var/lib/tether --no-create-home \
		--shell /usr/sbin/nologin --comment "Tether server" tether
fi
exit 0
