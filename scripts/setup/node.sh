# shellcheck shell=bash
# npm dependencies, installed from the committed lockfile when it changed.
setup_node() {
  have node || die "Node.js >= 20.19 is required: install it (Debian: apt-get install nodejs npm) and run again"
  local v
  v="$(node -p 'process.versions.node')"
  node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' \
    || die "Node.js $v is too old: berth needs >= 20.19 (for require of ES modules)"
  local stamp="$BERTH_ROOT/node_modules/.berth-lock.sha256" sum
  sum="$(sha256sum "$BERTH_ROOT/package-lock.json" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then return 0; fi
  say "installing npm dependencies (npm ci)"
  (cd "$BERTH_ROOT" && npm ci --no-audit --no-fund --loglevel=error) \
    || die "npm ci failed: check that the npm registry is reachable (npm ping) and run again"
  echo "$sum" >"$stamp"
}
