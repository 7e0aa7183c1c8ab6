# shellcheck shell=bash
# The local OCI registry (Debian's docker-registry, distribution 2.8) with htpasswd (bcrypt)
# auth, on a unix socket of its own, behind berth's gate on $BERTH_REGISTRY_ADDR
# (lib/registry-gate.ts: htpasswd has users but no permissions, so the gate refuses writes of any
# user but `berth`). Two logins, made once per machine and kept, mode 0600, in
# $BERTH_CACHE/registry/credentials.env: `berth` pulls and pushes, `berth-pull` only pulls (what
# builds of untrusted workspaces get). The data lives beside them.
setup_registry() {
  local dir="$BERTH_REGISTRY_DIR"
  mkdir -p "$dir/data"
  chmod 700 "$dir"
  umask_was="$(umask)"
  umask 077
  if [ ! -s "$dir/credentials.env" ]; then
    printf 'BERTH_REGISTRY_USER=berth\nBERTH_REGISTRY_PASSWORD=%s\n' "$(random_password)" >"$dir/credentials.env"
  fi
  if ! grep -q '^BERTH_REGISTRY_PULL_USER=' "$dir/credentials.env"; then
    printf 'BERTH_REGISTRY_PULL_USER=berth-pull\nBERTH_REGISTRY_PULL_PASSWORD=%s\n' "$(random_password)" >>"$dir/credentials.env"
  fi
  umask "$umask_was"
  # shellcheck disable=SC1091
  set -a; source "$dir/credentials.env"; set +a
  { htpasswd -Bbn "$BERTH_REGISTRY_USER" "$BERTH_REGISTRY_PASSWORD"
    htpasswd -Bbn "$BERTH_REGISTRY_PULL_USER" "$BERTH_REGISTRY_PULL_PASSWORD"; } | grep -v '^$' >"$dir/htpasswd.tmp"
  mv "$dir/htpasswd.tmp" "$dir/htpasswd"
  cat >"$dir/config.yml" <<YML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  net: unix
  addr: $dir/registry.sock
  relativeurls: true
auth:
  htpasswd:
    realm: berth-local
    path: $dir/htpasswd
YML
  if ! pid_alive "$dir/pid" || [ ! -S "$dir/registry.sock" ]; then
    say "starting the local registry on $dir/registry.sock (log: $dir/registry.log)"
    rm -f "$dir/registry.sock"
    spawn_daemon "$dir/registry.log" docker-registry serve "$dir/config.yml" >"$dir/pid"
    local i
    for i in $(seq 1 40); do [ -S "$dir/registry.sock" ] && break; sleep 0.25; done
  fi
  retire_ungated_registry "$dir"
  if ! pid_alive "$dir/gate.pid" || [ "$(registry_status)" != "401" ]; then
    say "starting the registry gate on $BERTH_REGISTRY_ADDR (log: $dir/gate.log)"
    spawn_daemon "$dir/gate.log" node "$BERTH_ROOT/dist/registry-gate.js" --listen "$BERTH_REGISTRY_ADDR" \
      --upstream "$dir/registry.sock" --push-users "$BERTH_REGISTRY_USER" >"$dir/gate.pid"
    local j
    for j in $(seq 1 40); do [ "$(registry_status)" = "401" ] && break; sleep 0.25; done
  fi
  [ "$(registry_status)" = "401" ] || die "the local registry did not answer on $BERTH_REGISTRY_ADDR: see $dir/registry.log and $dir/gate.log (is the port taken? set BERTH_REGISTRY_ADDR)"
  [ "$(registry_status auth)" = "200" ] \
    || die "the registry on $BERTH_REGISTRY_ADDR refuses berth's credentials: another registry holds the port? set BERTH_REGISTRY_ADDR, or remove $dir and run again"
  registry_docker_login
}

# HTTP status of GET http://$BERTH_REGISTRY_ADDR/PATH, with berth's credentials when asked
# (passed on stdin, so they never show in the process list): registry_status [auth] [PATH] [curl args...]
registry_status() {
  local auth="${1:-}" path="${2:-v2/}"
  shift 2 2>/dev/null || shift $#
  if [ "$auth" = "auth" ]; then
    printf 'user = "%s:%s"\n' "$BERTH_REGISTRY_USER" "$BERTH_REGISTRY_PASSWORD" \
      | curl -s -o /dev/null -w '%{http_code}' --max-time 5 -K - "$@" "http://$BERTH_REGISTRY_ADDR/$path" || true
  else
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" "http://$BERTH_REGISTRY_ADDR/$path" || true
  fi
}

# A Docker client config of berth's own, logged in to the local registry, so the user's
# ~/.docker is never touched. Used as DOCKER_CONFIG for pushes to the local registry.
registry_docker_login() {

  mkdir -p "$BERTH_DOCKER_CONFIG" && chmod 700 "$BERTH_DOCKER_CONFIG"
  if ! grep -q "\"$BERTH_REGISTRY_ADDR\"" "$BERTH_DOCKER_CONFIG/config.json" 2>/dev/null; then
    printf '%s' "$BERTH_REGISTRY_PASSWORD" | DOCKER_CONFIG="$BERTH_DOCKER_CONFIG" \
      docker login "$BERTH_REGISTRY_ADDR" -u "$BERTH_REGISTRY_USER" --password-stdin >/dev/null 2>&1 \
      || die "docker login to $BERTH_REGISTRY_ADDR failed: see $BERTH_REGISTRY_DIR/registry.log"
  fi
}

# An older berth setup ran docker-registry itself on $BERTH_REGISTRY_ADDR, without the gate; it
# would answer in the gate's place (and let the pull login push). Stop it when it is that one: a
# docker-registry serving this folder's config and listening on the address. Anything else on the
# port is left alone (the gate then fails to start and setup says so).
retire_ungated_registry() {
  local dir="$1" port="${BERTH_REGISTRY_ADDR##*:}" pid
  for pid in $(ss -Hltnp "sport = :$port" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); do
    if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "docker-registry" ] \
      && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$dir/config.yml"; then
      say "stopping an older ungated registry on $BERTH_REGISTRY_ADDR (pid $pid)"
      kill "$pid" 2>/dev/null || true
      local i
      for i in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    fi
  done
}

random_password() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# The process whose id a pid file holds is running.
pid_alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
