# shellcheck shell=bash
# Lazy pulling for workspace nodes (contract/node/docker-daemon.ts): berth's two small Go
# programs over the packages of stargz-snapshotter's Go module (tools/stargz), installed into
# $BERTH_CACHE/bin (on PATH through env.sh):
# - berth-stargz-snapshotter: the stargz snapshotter, a containerd proxy plugin. A workspace
#   node's dockerd uses it as its storage driver (the containerd image store), so an image with
#   eStargz layers starts before its bytes are local. The tests' and bench:devcontainer's "fresh
#   workspace node" engines run one each (test/system/support/second-engine.ts).
# - berth-estargz: rewrites an image's layers as eStargz before the agent pushes a workspace
#   cache image (node-agent/workspace/commands.ts).
# Built once per source: the stamp is the hash of tools/stargz's files; nothing is done when it
# matches (a few milliseconds).
setup_stargz() {
  local bin="$BERTH_CACHE/bin" src="$BERTH_ROOT/tools/stargz" stamp
  stamp="$(cd "$src" && find . -type f \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' \) -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
  if [ -x "$bin/berth-stargz-snapshotter" ] && [ -x "$bin/berth-estargz" ] && [ -f "$bin/.stargz-$stamp" ]; then return 0; fi
  # Building needs no FUSE; running the snapshotter does (the tests' workspace-node engines say so).
  [ -c /dev/fuse ] || say "note: /dev/fuse is missing: npm run up works, but the stargz snapshotter (tests of workspace nodes, bench:devcontainer) mounts image layers with FUSE (modprobe fuse, or give the container --device /dev/fuse)"
  have go || die "the Go toolchain is needed to build berth's stargz snapshotter (tools/stargz): install Go >= 1.26 (https://go.dev/dl) and run again"
  mkdir -p "$bin"
  say "building berth-stargz-snapshotter and berth-estargz with Go into $bin (about 1 minute with a warm module cache, once per source)"
  (cd "$src" \
    && CGO_ENABLED=0 go build -trimpath -o "$bin/berth-stargz-snapshotter.tmp" ./cmd/berth-stargz-snapshotter \
    && CGO_ENABLED=0 go build -trimpath -o "$bin/berth-estargz.tmp" ./cmd/berth-estargz) \
    || die "building tools/stargz failed: check that the Go module proxy is reachable (go env GOPROXY) and run again"
  mv "$bin/berth-stargz-snapshotter.tmp" "$bin/berth-stargz-snapshotter"
  mv "$bin/berth-estargz.tmp" "$bin/berth-estargz"
  rm -f "$bin"/.stargz-*
  touch "$bin/.stargz-$stamp"
}
