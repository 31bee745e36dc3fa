#!/usr/bin/env bash
# Host packages dundi-lab needs, from Debian's packages; idempotent and quiet when done.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

need=()
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v dot >/dev/null || need+=(graphviz)   # lab graph --format svg|png
command -v tshark >/dev/null || need+=(tshark)  # the tests read lab captures with Wireshark's dissectors
command -v docker >/dev/null || { echo "error: docker is not installed; dundi-lab needs a Docker engine" >&2; exit 1; }
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] && sudo="" || sudo="sudo"
  echo "installing host packages: ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
if ! timeout 20 docker info >/dev/null 2>&1; then
  # a machine where the engine is installed but not running (e.g. a CI box started without
  # it): start it, detached, when we may; never a second daemon beside a running one
  if [ "$(id -u)" = 0 ] && ! pgrep -x dockerd >/dev/null && command -v dockerd >/dev/null; then
    echo "starting the Docker engine (log: /var/log/dockerd.log)"
    setsid dockerd >>/var/log/dockerd.log 2>&1 < /dev/null &
    for _ in $(seq 60); do timeout 5 docker info >/dev/null 2>&1 && break; sleep 1; done
  fi
  if ! timeout 20 docker info >/dev/null 2>&1; then
    echo "error: the Docker engine does not answer (is it running? may this user use it?)" >&2
    exit 1
  fi
fi
if [ -x "$here/install-compose-v2.sh" ]; then
  bash "$here/install-compose-v2.sh" >/dev/null
fi
