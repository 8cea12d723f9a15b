#!/usr/bin/env bash
# Installs what a make target needs on Debian, saying so as it goes.
# Usage: scripts/deps.sh run|test|build|bench|fresh ...
# As root it runs apt-get; otherwise it prints the exact command and fails.
set -euo pipefail

declare -A PKGS=(
  [base]="ca-certificates git make gcc curl"
  [run]="xvfb x11-utils zenity tk xdg-utils wixl msitools osslsigncode libx11-dev libxtst-dev libpng-dev libxkbcommon-dev libxinerama-dev libxrandr-dev libpipewire-0.3-dev libvpx-dev"
  [test]="haproxy sway mutter pipewire pipewire-bin wireplumber xdg-desktop-portal xdg-desktop-portal-gnome postgresql coturn iproute2 nftables squid openssl xvfb wine wine64 gcc-mingw-w64-x86-64 x11-utils x11-xserver-utils zenity xdotool tk xdg-utils chromium dbus-daemon wixl msitools rpm systemd osslsigncode desktop-file-utils libx11-dev libxtst-dev libpng-dev libxkbcommon-dev libxinerama-dev libxrandr-dev libpipewire-0.3-dev libvpx-dev ffmpeg"
  [build]="gcc-mingw-w64-x86-64 libx11-dev libxtst-dev libpng-dev libxkbcommon-dev libxinerama-dev libxrandr-dev libpipewire-0.3-dev libvpx-dev"
  [installers]="wixl msitools osslsigncode"
  [fresh]="debootstrap"
  [bench]="sway xwayland wayvnc x11-xserver-utils postgresql xvfb x11-utils zenity tk chromium x11vnc python3-websockify novnc iproute2 libx11-dev libxtst-dev libpng-dev libxkbcommon-dev libxinerama-dev libxrandr-dev libpipewire-0.3-dev libvpx-dev"
)

want=(${PKGS[base]})
for profile in "$@"; do
  [[ -n "${PKGS[$profile]+x}" ]] || { echo "deps: unknown profile $profile" >&2; exit 2; }
  want+=(${PKGS[$profile]})
done

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  cmd="apt-get install -y --no-install-recommends ${missing[*]}"
  if [[ $(id -u) -eq 0 ]]; then
    echo "deps: installing ${missing[*]} (Debian packages)" >&2
    if [[ ! -f /var/lib/apt/.tether-updated ]] || [[ -n $(find /var/lib/apt/.tether-updated -mmin +1440 2>/dev/null) ]]; then
      DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 && touch /var/lib/apt/.tether-updated
    fi
    DEBIAN_FRONTEND=noninteractive $cmd >&2
    # Debian's coturn enables coturn.service, which would hold 3478, Tether's
    # TURN port; the tests need only its client.
    if [[ " ${missing[*]} " == *" coturn "* ]] && command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
      systemctl disable --now coturn >&2
      echo "deps: coturn is installed for its test client (turnutils_uclient); its server is disabled" >&2
    fi
    # Likewise squid.service would open a proxy on 3128 to the network; the
    # tests start their own squid inside a network namespace.
    if [[ " ${missing[*]} " == *" squid "* ]] && command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
      systemctl disable --now squid >&2
      echo "deps: squid is installed for the proxy tests; its service is disabled" >&2
    fi
    # haproxy.service would run Debian's sample configuration; the
    # multi-node test starts its own load balancer on loopback.
    if [[ " ${missing[*]} " == *" haproxy "* ]] && command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
      systemctl disable --now haproxy >&2
      echo "deps: haproxy is installed for the multi-node test; its service is disabled" >&2
    fi
  else
    echo "deps: missing Debian packages. Run as root:" >&2
    echo "  sudo apt-get update && sudo $cmd" >&2
    exit 1
  fi
else
  echo "deps: Debian packages present (${want[*]})" >&2
fi

if ! command -v go >/dev/null 2>&1; then
  if [[ -x /usr/local/go/bin/go ]]; then
    echo "deps: Go is at /usr/local/go/bin; add it to PATH" >&2
  else
    echo "deps: Go 1.26 or newer is needed (https://go.dev/dl/ or Debian's golang-go if new enough)" >&2
    exit 1
  fi
fi
