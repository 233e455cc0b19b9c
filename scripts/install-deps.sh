#!/usr/bin/env bash
# Installs what gopp needs on Debian 12, only if something is missing (needs root for apt-get).
set -euo pipefail
need=()
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for p in g++ cmake ninja-build make libboost-context-dev libgtest-dev pkg-config libhiredis-dev redis-server "$@"; do
  have "$p" || need+=("$p")
done
if ((${#need[@]})); then
  echo "gopp: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
