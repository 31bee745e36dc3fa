#!/usr/bin/env bash
# Give the docker CLI a Compose v2 plugin (`docker compose ...`) from Debian packages only.
#
# Debian bookworm's `docker-compose` is Compose v1 (1.29, Python) and has no v2
# plugin. Debian trixie's `docker-compose` package is Compose v2 (2.26.x), a
# static Go binary that depends only on libc6 (>= 2.34; bookworm has 2.36). It
# ships the plugin as /usr/libexec/docker/cli-plugins/docker-compose.
#
# This script does NOT add trixie to the host's apt sources and does NOT touch
# dpkg's database: it runs `apt-get update` + `apt-get download` against a
# throw-away sources list, list folder and cache in a temporary directory
# (signatures are checked with the host's debian-archive-keyring), unpacks the
# .deb with `dpkg-deb -x`, and copies only the plugin binary to
#
#   $COMPOSE_PLUGIN_DIR/docker-compose   (default /usr/local/lib/docker/cli-plugins
#                                          as root, else ~/.docker/cli-plugins)
#
# Both default folders are searched by the docker CLI. /usr/local is used rather
# than /usr/libexec so that a later `apt-get install docker-compose-plugin` (or a
# trixie upgrade) never collides with a file dpkg does not know about. The host's
# /usr/bin/docker-compose (v1) is left alone.
#
# Idempotent: exits 0 at once when `docker compose version` already works.
#
# Environment:
#   COMPOSE_PLUGIN_DIR   where to put the plugin (see above)
#   DEBIAN_MIRROR        default http://deb.debian.org/debian
#   COMPOSE_SUITE        default trixie
#   COMPOSE_DEB_VERSION  exact package version to fetch (default: the suite's)
#   DOCKER               the docker CLI to check (default: `docker` on PATH)
set -euo pipefail

say() { printf 'install-compose-v2: %s\n' "$*"; }
die() { printf 'install-compose-v2: ERROR: %s\n' "$*" >&2; exit 1; }

DOCKER=${DOCKER:-docker}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=${COMPOSE_SUITE:-trixie}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
if [[ -n ${COMPOSE_PLUGIN_DIR:-} ]]; then
    PLUGIN_DIR=$COMPOSE_PLUGIN_DIR
elif [[ $(id -u) -eq 0 ]]; then
    PLUGIN_DIR=/usr/local/lib/docker/cli-plugins
else
    PLUGIN_DIR=${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins
fi

command -v "$DOCKER" >/dev/null 2>&1 \
    || die "no docker CLI ('$DOCKER') on PATH; install docker first"

if version=$("$DOCKER" compose version 2>/dev/null); then
    say "already works: $version ($("$DOCKER" info --format '{{range .ClientInfo.Plugins}}{{if eq .Name "compose"}}{{.Path}}{{end}}{{end}}' 2>/dev/null || true))"
    exit 0
fi

for tool in apt-get dpkg-deb; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is missing; this script needs a Debian host"
done
[[ -r $KEYRING ]] || die "$KEYRING is missing (apt-get install debian-archive-keyring)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/compose-v2.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial" "$tmp/sources.list.d" "$tmp/root"
echo "deb [signed-by=$KEYRING] $MIRROR $SUITE main" >"$tmp/sources.list"

# A private apt: only our sources list, our lists, our cache; no installed
# packages (status=/dev/null) and no host pins, so the suite's version is the only one. The snapshot's
# Release files may be past their Valid-Until date, hence Check-Valid-Until=false.
apt_opts=(
    -o "Dir::Etc::SourceList=$tmp/sources.list"
    -o "Dir::Etc::SourceParts=$tmp/sources.list.d"
    -o "Dir::State::Lists=$tmp/lists"
    -o "Dir::Cache=$tmp/cache"
    -o "Dir::Cache::Archives=$tmp/cache/archives"
    -o "Dir::State::status=/dev/null"
    -o "Dir::Etc::Preferences=/dev/null"
    -o "Dir::Etc::PreferencesParts=$tmp/sources.list.d"
    -o "Acquire::Check-Valid-Until=false"
    -o "Acquire::Languages=none"
    -o "APT::Sandbox::User=root"
    -q
)

say "reading the package list of Debian $SUITE from $MIRROR (private apt state in $tmp)"
# --error-on=any: without it a failed fetch is only a warning and exit code 0.
apt-get "${apt_opts[@]}" --error-on=any update >"$tmp/update.log" 2>&1 \
    || { cat "$tmp/update.log" >&2; die "apt-get update for $SUITE from $MIRROR failed (see above)"; }

package=docker-compose
if [[ -n ${COMPOSE_DEB_VERSION:-} ]]; then
    package="docker-compose=$COMPOSE_DEB_VERSION"
fi
candidate=$(apt-cache "${apt_opts[@]}" show "$package" 2>/dev/null \
    | awk '/^Version:/ {print $2; exit}') || true
[[ -n $candidate ]] || die "Debian $SUITE has no package $package"
[[ $candidate == 2.* ]] || die "Debian $SUITE's docker-compose is $candidate, not Compose v2"

say "downloading docker-compose $candidate ($SUITE)"
(cd "$tmp" && apt-get "${apt_opts[@]}" download "docker-compose=$candidate" >"$tmp/download.log" 2>&1) \
    || { cat "$tmp/download.log" >&2; die "apt-get download docker-compose=$candidate failed"; }
deb=$(ls "$tmp"/docker-compose_*.deb 2>/dev/null | head -n1)
[[ -n $deb ]] || die "apt-get download produced no .deb"

dpkg-deb -x "$deb" "$tmp/root"
binary="$tmp/root/usr/libexec/docker/cli-plugins/docker-compose"
[[ -x $binary ]] || die "$(basename "$deb") has no usr/libexec/docker/cli-plugins/docker-compose"
"$binary" version >/dev/null 2>&1 \
    || die "the plugin from $(basename "$deb") does not run on this host: $("$binary" version 2>&1 | head -n3)"

mkdir -p "$PLUGIN_DIR"
install -m 0755 "$binary" "$PLUGIN_DIR/docker-compose.new"
mv -f "$PLUGIN_DIR/docker-compose.new" "$PLUGIN_DIR/docker-compose"
say "installed $PLUGIN_DIR/docker-compose (from $(basename "$deb"))"

if ! version=$("$DOCKER" compose version 2>&1); then
    die "copied the plugin to $PLUGIN_DIR, but '$DOCKER compose version' still fails: $version
  (the docker CLI searches \$DOCKER_CONFIG/cli-plugins or ~/.docker/cli-plugins, then
   /usr/local/lib/docker/cli-plugins, /usr/local/libexec/docker/cli-plugins,
   /usr/lib/docker/cli-plugins and /usr/libexec/docker/cli-plugins;
   set COMPOSE_PLUGIN_DIR to one of them)"
fi
say "now works: $version"
