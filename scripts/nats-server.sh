#!/usr/bin/env bash
# Provides a nats-server >= 2.10 and prints its path on stdout (messages go to stderr).
#
#  1. $LOCKLINE_NATS_SERVER, or a nats-server on PATH, if it is new enough;
#  2. the project's own copy in .tools/nats-server/ (git-ignored), if present;
#  3. on Debian/Ubuntu: Debian 13's package, fetched with `apt-get download` through a private sources
#     list (the machine's apt configuration is not touched) and unpacked with `dpkg-deb -x` into
#     .tools/nats-server/. Debian 12's own 2.9.10 is too old: no sync_interval, broken per-subject
#     checks on replicated streams, a known auth CVE.
#  4. otherwise: how to install one by hand, and exit 1.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
tools="$root/.tools/nats-server"
min_minor=10

say() { echo "nats-server: $*" >&2; }

# new_enough BINARY: true when BINARY reports version 2.10 or later
new_enough() {
  local v
  v="$("$1" --version 2>/dev/null | sed -n 's/.*v\([0-9][0-9]*\)\.\([0-9][0-9]*\).*/\1 \2/p')" || return 1
  [ -n "$v" ] || return 1
  set -- $v
  [ "$1" -gt 2 ] || { [ "$1" -eq 2 ] && [ "$2" -ge "$min_minor" ]; }
}

for candidate in "${LOCKLINE_NATS_SERVER:-}" "$(command -v nats-server 2>/dev/null || true)" "$tools/usr/sbin/nats-server"; do
  if [ -n "$candidate" ] && [ -x "$candidate" ] && new_enough "$candidate"; then
    echo "$candidate"
    exit 0
  fi
done

if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-deb >/dev/null 2>&1; then
  say "no nats-server >= 2.$min_minor found, and this is not a Debian/Ubuntu machine to fetch one on."
  say "Install nats-server 2.10 or later (https://docs.nats.io/running-a-nats-service/introduction/installation),"
  say "then put it on PATH or set LOCKLINE_NATS_SERVER=/path/to/nats-server."
  exit 1
fi

say "fetching Debian 13's nats-server package into $tools (the system's apt setup is not changed)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/archives/partial"
echo "deb http://deb.debian.org/debian trixie main" > "$work/sources.list"
apt_opts=(
  -o "Dir::Etc::sourcelist=$work/sources.list"
  -o "Dir::Etc::sourceparts=-"
  -o "Dir::State::Lists=$work/lists"
  -o "Dir::Cache::archives=$work/archives"
  -o "APT::Sandbox::User=root"
  -o "Debug::NoLocking=1"
)
if ! apt-get "${apt_opts[@]}" update -qq >"$work/update.log" 2>&1; then
  say "apt-get update for the trixie suite failed:"
  sed 's/^/  /' "$work/update.log" >&2
  exit 1
fi
if ! (cd "$work" && apt-get "${apt_opts[@]}" download nats-server >"$work/download.log" 2>&1); then
  say "apt-get download nats-server failed:"
  sed 's/^/  /' "$work/download.log" >&2
  exit 1
fi
deb="$(ls "$work"/nats-server_*.deb)"
rm -rf "$tools"
mkdir -p "$tools"
dpkg-deb -x "$deb" "$tools"
if ! new_enough "$tools/usr/sbin/nats-server"; then
  say "the fetched package ($(basename "$deb")) does not run here or is too old"
  exit 1
fi
say "installed $("$tools/usr/sbin/nats-server" --version) at $tools/usr/sbin/nats-server"
echo "$tools/usr/sbin/nats-server"
