# shellcheck shell=bash
# A running Docker Engine. Where no daemon answers, start dockerd in the background
# (there is no systemd on these machines); its log is in the berth cache.
setup_docker() {
  if docker info >/dev/null 2>&1; then check_docker_plugins; return 0; fi
  is_root || die "no Docker daemon answers and only root can start one: start Docker (sudo systemctl start docker) or add yourself to the docker group, and run again"
  if have systemctl && systemctl is-system-running >/dev/null 2>&1; then
    systemctl start docker || die "systemctl start docker failed: see journalctl -u docker"
  else
    say "starting dockerd (log: $BERTH_CACHE/dockerd.log)"
    mkdir -p "$BERTH_CACHE"
    # A node's settings (contract/node/docker-daemon.ts; cloud-init writes them as daemon.json).
    spawn_daemon "$BERTH_CACHE/dockerd.log" dockerd --max-concurrent-downloads 8 >/dev/null
  fi
  local i
  for i in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || die "dockerd did not answer within 30 s: see $BERTH_CACHE/dockerd.log"
  check_docker_plugins
}

check_docker_plugins() {
  docker compose version >/dev/null 2>&1 || die "docker compose (v2) is missing: apt-get install docker-compose/trixie"
  docker buildx version >/dev/null 2>&1 || die "docker buildx is missing: apt-get install docker-buildx/trixie"
}
