# shellcheck shell=bash
# The BuildKit image untrusted workspace builds run in (node-agent/workspace/builder.ts: a
# `docker buildx create --driver docker-container` builder per workspace). No image can be pulled
# here, so buildkitd and buildctl are built from BuildKit's Go module at the release the official
# image carries, onto the base image with runc from Debian's archive, and tagged with the official
# image's name ($BERTH_BUILDKIT_IMAGE, the agent's default `workspaces.isolatedBuilder.image`): a
# node with internet access pulls the official image instead.
BERTH_BUILDKIT_VERSION="${BERTH_BUILDKIT_VERSION:-v0.13.2}"
BERTH_BUILDKIT_IMAGE="${BERTH_BUILDKIT_IMAGE:-moby/buildkit:$BERTH_BUILDKIT_VERSION}"

setup_buildkit() {
  if docker image inspect "$BERTH_BUILDKIT_IMAGE" >/dev/null 2>&1; then return 0; fi
  local dir="$BERTH_CACHE/buildkit-$BERTH_BUILDKIT_VERSION"
  mkdir -p "$dir/bin"
  if [ ! -x "$dir/bin/buildkitd" ] || [ ! -x "$dir/bin/buildctl" ]; then
    have go || die "building BuildKit needs Go (the Go toolchain): install it, or load $BERTH_BUILDKIT_IMAGE into Docker yourself"
    say "building buildkitd and buildctl $BERTH_BUILDKIT_VERSION from the Go module (a few minutes on 2 cores; log: $dir/go.log)"
    GOBIN="$dir/bin" CGO_ENABLED=0 go install \
      "github.com/moby/buildkit/cmd/buildkitd@$BERTH_BUILDKIT_VERSION" \
      "github.com/moby/buildkit/cmd/buildctl@$BERTH_BUILDKIT_VERSION" >"$dir/go.log" 2>&1 \
      || die "go install of BuildKit $BERTH_BUILDKIT_VERSION failed: see $dir/go.log"
  fi
  local ctx
  ctx="$(mktemp -d "$BERTH_CACHE/buildkit-image.XXXXXX")"
  cp "$dir/bin/buildkitd" "$dir/bin/buildctl" "$ctx/"
  cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM $BERTH_BASE_IMAGE
RUN apt-get update && apt-get install -y --no-install-recommends runc ca-certificates && rm -rf /var/lib/apt/lists/*
COPY buildkitd buildctl /usr/bin/
VOLUME /var/lib/buildkit
ENTRYPOINT ["buildkitd"]
DOCKERFILE
  say "building the BuildKit image $BERTH_BUILDKIT_IMAGE"
  DOCKER_CONFIG="$BERTH_DOCKER_CONFIG" docker build -q -t "$BERTH_BUILDKIT_IMAGE" "$ctx" >"$dir/image.log" 2>&1 \
    || { rm -rf "$ctx"; die "building $BERTH_BUILDKIT_IMAGE failed: see $dir/image.log"; }
  rm -rf "$ctx"
}
