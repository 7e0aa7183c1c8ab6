# shellcheck shell=bash
# The Pulumi engine: the CLI and its Node.js language host, built from Go modules
# (tools/pulumi-cli, tools/pulumi-language-nodejs) into a per-user cache keyed by version,
# plus berth's own launcher for dynamic providers.
setup_pulumi() {
  local bin="$BERTH_PULUMI_HOME/bin"
  if [ ! -x "$bin/pulumi" ] && [ -z "${BERTH_FORCE_BUILD_PULUMI:-}" ] && have pulumi && have pulumi-language-nodejs; then
    say "using the Pulumi CLI on PATH: $(command -v pulumi) ($(pulumi version))"
    mkdir -p "$bin"
  else
    build_pulumi_tools "$bin"
  fi
  write_dynamic_provider_launcher "$bin"
  mkdir -p "$PULUMI_HOME"
}

build_pulumi_tools() {
  local bin="$1"
  if [ -x "$bin/pulumi" ] && [ -x "$bin/pulumi-language-nodejs" ]; then return 0; fi
  have go || die "the Go toolchain is needed to build the Pulumi CLI here: install Go >= 1.24 (https://go.dev/dl) or the official Pulumi CLI, and run again"
  mkdir -p "$bin"
  if [ ! -x "$bin/pulumi-language-nodejs" ]; then
    say "building pulumi-language-nodejs (sdk $BERTH_LANGHOST_SDK_VERSION) with Go"
    (cd "$BERTH_ROOT/tools/pulumi-language-nodejs" \
      && go build -o "$bin/pulumi-language-nodejs.tmp" github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs) \
      || die "building the Pulumi language host failed: check that the Go module proxy is reachable (go env GOPROXY) and run again"
    mv "$bin/pulumi-language-nodejs.tmp" "$bin/pulumi-language-nodejs"
  fi
  if [ ! -x "$bin/pulumi" ]; then
    say "building the Pulumi CLI $BERTH_PULUMI_VERSION with Go (about 4 minutes on 2 cores, once per machine)"
    (cd "$BERTH_ROOT/tools/pulumi-cli" \
      && go build -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$BERTH_PULUMI_VERSION" \
        -o "$bin/pulumi.tmp" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi) \
      || die "building the Pulumi CLI failed: check that the Go module proxy is reachable (go env GOPROXY) and run again"
    mv "$bin/pulumi.tmp" "$bin/pulumi"
  fi
}

# Dynamic providers run through `pulumi-resource-pulumi-nodejs`, which the official install
# ships; this one runs the provider entry of the project's own @pulumi/pulumi, found as Node
# finds it (node_modules in the working directory, the program's, or above) without starting a
# second node to ask (0.1-0.2 s of every program run's provider start); node's own resolution
# is the fallback. When the checkout those node_modules belong to (a test project links them)
# has scripts/dynamic-provider-run.js, the entry runs through it: it defers the SDK's TypeScript
# compiler and @npmcli/arborist, which a process that only runs providers never uses (~0.3 s of
# CPU at each program run). It stays here, beside the CLI: a plugin found on PATH instead makes
# the engine print a warning at every run.
write_dynamic_provider_launcher() {
  local f="$1/pulumi-resource-pulumi-nodejs"
  cat >"$f.tmp" <<'SH'
#!/bin/sh
d="$PWD"
while :; do
  entry="$d/node_modules/@pulumi/pulumi/cmd/dynamic-provider/index.js"
  if [ -f "$entry" ]; then
    run="$(cd -P "$d/node_modules/.." 2>/dev/null && pwd)/scripts/dynamic-provider-run.js"
    [ -f "$run" ] && exec node "$run" "$entry" "$@"
    exec node "$entry" "$@"
  fi
  [ -z "$d" ] || [ "$d" = / ] && break
  d="${d%/*}"
done
exec node "$(node -e "console.log(require.resolve('@pulumi/pulumi/cmd/dynamic-provider'))")" "$@"
SH
  chmod +x "$f.tmp" && mv "$f.tmp" "$f"
}
