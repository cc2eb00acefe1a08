#!/usr/bin/env bash
# Starts a Docker engine for the testkit's containers backend the only way these machines allow
# (NOTES.md, "Docker and testcontainers"): Debian's docker.io, dockerd with NO bridge, no iptables,
# no masquerading (the default bridge would claim 172.17.0.0/16 and rewrite the firewall), its own
# data root, exec root and socket. Containers then use the host's network.
#
# Prints the environment to use it, for `eval "$(bash scripts/docker-engine.sh)"`:
#   DOCKER_HOST, TESTCONTAINERS_RYUK_DISABLED (its reaper image cannot be pulled), and
#   TESTCONTAINERS_HOST_OVERRIDE. Exits non-zero, saying why on stderr, where no engine can run.
set -euo pipefail

root=${LOCKLINE_DOCKER_ROOT:-/tmp/lockline-docker}
sock="$root/docker.sock"
say() { echo "docker-engine: $*" >&2; }

emit() {
  echo "export DOCKER_HOST=unix://$sock"
  echo "export TESTCONTAINERS_RYUK_DISABLED=true"
  echo "export TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1"
}

if [ -S "$sock" ] && DOCKER_HOST="unix://$sock" docker info >/dev/null 2>&1; then
  emit
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    say "no dockerd, and no way to install one (needs root and apt-get)"
    exit 1
  fi
  say "installing Debian's docker.io"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null 2>&1; then
    apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null 2>&1 || { say "apt-get install docker.io failed"; exit 1; }
  fi
fi
if ! command -v docker >/dev/null 2>&1; then
  say "dockerd is installed but there is no docker client"
  exit 1
fi

mkdir -p "$root/data" "$root/exec"
say "starting dockerd (no bridge, no iptables) on $sock"
nohup dockerd --bridge=none --iptables=false --ip-masq=false \
  --data-root "$root/data" --exec-root "$root/exec" -H "unix://$sock" --pidfile "$root/dockerd.pid" \
  >"$root/dockerd.log" 2>&1 &
for _ in $(seq 1 100); do
  if [ -S "$sock" ] && DOCKER_HOST="unix://$sock" docker info >/dev/null 2>&1; then
    emit
    exit 0
  fi
  sleep 0.1
done
say "dockerd did not answer within 10 s; its log ($root/dockerd.log) ends with:"
tail -5 "$root/dockerd.log" >&2 || true
exit 1
