# shellcheck shell=bash
# The local OCI registry (Debian's docker-registry, distribution 2.8) on 127.0.0.1 with
# htpasswd (bcrypt) auth. Its password is made once per machine and kept, mode 0600, in
# $BERTH_CACHE/registry/credentials.env; its data lives beside it.
setup_registry() {
  local dir="$BERTH_REGISTRY_DIR"
  mkdir -p "$dir/data"
  chmod 700 "$dir"
  if [ ! -s "$dir/credentials.env" ]; then
    local password
    password="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    htpasswd -Bbn berth "$password" >"$dir/htpasswd.tmp" && mv "$dir/htpasswd.tmp" "$dir/htpasswd"
    umask 077
    printf 'BERTH_REGISTRY_USER=berth\nBERTH_REGISTRY_PASSWORD=%s\n' "$password" >"$dir/credentials.env"
  fi
  # shellcheck disable=SC1091
  set -a; source "$dir/credentials.env"; set +a
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
  addr: $BERTH_REGISTRY_ADDR
auth:
  htpasswd:
    realm: berth-local
    path: $dir/htpasswd
YML
  if [ "$(registry_status)" != "401" ]; then
    say "starting the local registry on $BERTH_REGISTRY_ADDR (log: $dir/registry.log)"
    nohup docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
    echo $! >"$dir/pid"
    local i
    for i in $(seq 1 40); do [ "$(registry_status)" = "401" ] && break; sleep 0.25; done
  fi
  [ "$(registry_status)" = "401" ] || die "the local registry did not answer on $BERTH_REGISTRY_ADDR: see $dir/registry.log (is the port taken? set BERTH_REGISTRY_ADDR)"
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
