#!/usr/bin/env bash
# `make run`: builds the binaries, starts the server on its embedded SQLite
# store and one local agent (on this desktop, or on a virtual X display it
# starts), prints the console address and the administrator's credentials,
# and stops everything on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

STATE=${TETHER_RUN_DIR:-.run}
LISTEN=${TETHER_RUN_LISTEN:-127.0.0.1:8080}
URL="http://$LISTEN"
mkdir -p "$STATE" bin

echo "run: building tether-server and tether-agent"
go build -o bin/tether-server ./server/cmd/tether-server
# The agent trusts this run's release key, so that releases added to this
# server can update it.
[[ -f "$STATE/release-keys/release.key" ]] || bin/tether-server release keygen --out "$STATE/release-keys" >/dev/null
go build -ldflags "-X github.com/tetherdesk/tether/shared/version.Version=dev -X github.com/tetherdesk/tether/shared/release.PublicKey=$(cat "$STATE/release-keys/release.pub")" \
  -o bin/tether-agent ./agent/cmd/tether-agent

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

if [[ -z "${DISPLAY:-}" ]]; then
  for n in $(seq 99 -1 50); do [[ -e /tmp/.X11-unix/X$n || -e /tmp/.X$n-lock ]] || break; done
  echo "run: no desktop found; starting a virtual X display :$n (Xvfb 1920x1080)"
  Xvfb ":$n" -screen 0 1920x1080x24 -nolisten tcp >"$STATE/xvfb.log" 2>&1 &
  pids+=($!)
  export DISPLAY=":$n"
  for _ in $(seq 100); do xdpyinfo >/dev/null 2>&1 && break; sleep 0.1; done
else
  echo "run: using the desktop on DISPLAY=$DISPLAY"
fi

echo "run: starting the server on $URL (data in $STATE/server, log in $STATE/server.log)"
bin/tether-server serve --data "$STATE/server" --listen "$LISTEN" --insecure-http >"$STATE/server.out" 2>"$STATE/server.log" &
pids+=($!)
for _ in $(seq 200); do curl -fsS "$URL/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "$URL/readyz" >/dev/null || { echo "run: server did not become ready; see $STATE/server.log" >&2; cat "$STATE/server.log" >&2; exit 1; }

# The agent just built becomes a release, so that the console's "Download
# installer" has something to package; the release key stays in $STATE.
REL="dev-$(sha256sum bin/tether-agent | cut -c1-12)"
if [[ ! -d "$STATE/server/releases/$REL" ]]; then
  echo "run: adding agent release $REL (the console's installer downloads package it)"
  bin/tether-server release add --data "$STATE/server" --version "$REL" --key "$STATE/release-keys/release.key" \
    --file "linux/$(go env GOARCH)=bin/tether-agent" >/dev/null
fi

if [[ ! -f "$STATE/agent/identity.json" ]]; then
  TOKEN=$(bin/tether-server token create --data "$STATE/server")
else
  TOKEN=unused-already-enrolled
fi
echo "run: starting the agent (state in $STATE/agent, log in $STATE/agent.log)"
bin/tether-agent run --server "$URL" --token "$TOKEN" --state "$STATE/agent" >"$STATE/agent.log" 2>&1 &
pids+=($!)

cat <<MSG

  Tether is running.
    Console:        $URL/
    Administrator:  admin
    Password:       $(cat "$STATE/server/initial-admin-password")
    Agent display:  $DISPLAY

  Press Ctrl-C to stop.
MSG
wait -n "${pids[@]}" || true
echo "run: a component stopped; see $STATE/*.log" >&2
