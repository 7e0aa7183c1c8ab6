# shellcheck shell=bash
# Shared settings and helpers for berth's scripts. Sourced, never run.
# Every path and version that a script or test relies on is defined here once.

# Always the checkout these scripts belong to (never inherited: another clone may call us).
BERTH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BERTH_CACHE="${BERTH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth}"

# The Pulumi engine berth runs with (see docs/operations.md, "Versions").
BERTH_PULUMI_VERSION="v3.274.1"
BERTH_LANGHOST_SDK_VERSION="v3.68.0"
BERTH_PULUMI_HOME="$BERTH_CACHE/pulumi-$BERTH_PULUMI_VERSION"

# The local OCI registry (Debian's docker-registry) used by tests and the local stack.
BERTH_REGISTRY_ADDR="${BERTH_REGISTRY_ADDR:-127.0.0.1:5000}"
BERTH_REGISTRY_DIR="$BERTH_CACHE/registry"
# berth's own Docker client config, logged in to the local registry (the user's ~/.docker is untouched).
BERTH_DOCKER_CONFIG="$BERTH_REGISTRY_DIR/docker-config"

# The one setting every base-image consumer reads. On a machine that can reach a public
# registry, BERTH_BASE_IMAGE=debian:trixie-slim works unchanged.
BERTH_BASE_SUITE="${BERTH_BASE_SUITE:-trixie}"
BERTH_BASE_IMAGE="${BERTH_BASE_IMAGE:-$BERTH_REGISTRY_ADDR/berth/debian:$BERTH_BASE_SUITE}"

export PULUMI_SKIP_UPDATE_CHECK=true

say() { printf '\033[1mberth\033[0m %s\n' "$*" >&2; }
# One clear line that says what is missing and what to do, then stop.
die() { printf 'berth: error: %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }
is_root() { [ "$(id -u)" = "0" ]; }

# Starts a daemon in the background with only stdin, stdout and stderr of the caller's open files:
# a lock the caller holds (`flock /tmp/berth-docker.lock scripts/setup.sh`) would otherwise stay
# held for as long as the daemon runs, and every later `flock` on it would wait forever.
# Usage: spawn_daemon LOG CMD ARGS...; prints the daemon's pid.
spawn_daemon() {
  local log="$1"; shift
  (
    for fd in /proc/"$BASHPID"/fd/*; do
      fd="${fd##*/}"
      if [ "$fd" -gt 2 ] 2>/dev/null; then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
    exec nohup "$@" </dev/null >"$log" 2>&1
  ) &
  echo $!
}
