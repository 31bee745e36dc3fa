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
  echo "error: the Docker engine does not answer (is it running? may this user use it?)" >&2
  exit 1
fi
if [ -x "$here/install-compose-v2.sh" ]; then
  bash "$here/install-compose-v2.sh" >/dev/null
fi
