#!/bin/sh
# Tether server: after install or upgrade.
set -e
install -d -m 0700 -o tether -g tether /var/lib/tether
chgrp tether /etc/tether/server.yaml && chmod 0640 /etc/tether/server.yaml
[ -d /run/systemd/system ] || exit 0
systemctl daemon-reload >/dev/null 2>&1 || true
systemctl enable tether-server.service >/dev/null 2>&1 || true
systemctl restart tether-server.service || echo "tether-server: the service did not start; see journalctl -u tether-server" >&2
echo "tether-server: the first administrator's password is in /var/lib/tether (see journalctl -u tether-server)" >&2
exit 0
