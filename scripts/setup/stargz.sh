# shellcheck shell=bash
# Lazy pulling for workspace nodes (contract/node/lazy-pull.ts): berth's two small Go
# programs over the packages of stargz-snapshotter's Go module (tools/stargz):
# - berth-stargz-snapshotter: the stargz snapshotter, a containerd proxy plugin. A workspace
#   node's dockerd uses it as its storage driver (the containerd image store), so an image with
#   eStargz layers starts before its bytes are local. The tests' and bench:devcontainer's "fresh
#   workspace node" engines run one each (test/system/support/second-engine.ts).
# - berth-estargz: rewrites an image's layers as eStargz before the agent pushes a workspace
#   cache image (node-agent/workspace/commands.ts).
# Each is built for linux/amd64 and linux/arm64 (pure Go, no cgo: go-fuse mounts through
# /dev/fuse itself) into $BERTH_CACHE/stargz/<build>/linux-<arch>/, where <build> is the hash of
# tools/stargz's files and `current` links to it: the program publishes these, signed, for cloud
# workspace nodes (components/release-channel/stargz-tools.ts). The builds are reproducible
# (-trimpath, no VCS stamp), so the same sources give the same bytes. This machine's own pair is
# copied into $BERTH_CACHE/bin (on PATH through env.sh). Nothing is done when the build of the
# current sources is there (a few milliseconds).
setup_stargz() {
  local bin="$BERTH_CACHE/bin" src="$BERTH_ROOT/tools/stargz" stamp out arch prog host
  stamp="$(cd "$src" && find . -type f \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' \) -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
  out="$BERTH_CACHE/stargz/$stamp"
  case "$(uname -m)" in x86_64) host=amd64 ;; aarch64) host=arm64 ;; *) host="" ;; esac
  if [ -f "$out/.complete" ] && [ -f "$bin/.stargz-$stamp" ] && [ -x "$bin/berth-stargz-snapshotter" ] && [ -x "$bin/berth-estargz" ]; then return 0; fi
  # Building needs no FUSE; running the snapshotter does (the tests' workspace-node engines say so).
  [ -c /dev/fuse ] || say "note: /dev/fuse is missing: npm run up works, but the stargz snapshotter (tests of workspace nodes, bench:devcontainer) mounts image layers with FUSE (modprobe fuse, or give the container --device /dev/fuse)"
  have go || die "the Go toolchain is needed to build berth's stargz snapshotter (tools/stargz): install Go >= 1.26 (https://go.dev/dl) and run again"
  if [ ! -f "$out/.complete" ]; then
    say "building berth-stargz-snapshotter and berth-estargz with Go for linux/amd64 and linux/arm64 into $out (a few minutes with a warm module cache, once per source)"
    rm -rf "$out"
    for arch in amd64 arm64; do
      mkdir -p "$out/linux-$arch"
      for prog in berth-stargz-snapshotter berth-estargz; do
        (cd "$src" && CGO_ENABLED=0 GOOS=linux GOARCH="$arch" go build -trimpath -buildvcs=false -ldflags='-s -w' \
          -o "$out/linux-$arch/$prog" "./cmd/$prog") \
          || die "building tools/stargz ($prog for $arch) failed: check that the Go module proxy is reachable (go env GOPROXY) and run again"
      done
    done
    touch "$out/.complete"
  fi
  ln -sfn "$stamp" "$BERTH_CACHE/stargz/current"
  find "$BERTH_CACHE/stargz" -mindepth 1 -maxdepth 1 -type d ! -name "$stamp" -exec rm -rf {} +
  [ -n "$host" ] || die "no stargz tools for this machine's CPU ($(uname -m)): berth builds them for x86_64 and aarch64"
  mkdir -p "$bin"
  for prog in berth-stargz-snapshotter berth-estargz; do
    cp "$out/linux-$host/$prog" "$bin/$prog.tmp" && mv "$bin/$prog.tmp" "$bin/$prog"
  done
  rm -f "$bin"/.stargz-*
  touch "$bin/.stargz-$stamp"
}
