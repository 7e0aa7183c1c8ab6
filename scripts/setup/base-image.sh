# shellcheck shell=bash
# The Debian base image every berth image builds FROM ($BERTH_BASE_IMAGE). No public
# registry can be reached here, so it is made from Debian's archive (debootstrap minbase,
# docker import) and pushed to the local registry. Where BERTH_BASE_IMAGE names an image
# outside the local registry, it is used as it is.
setup_base_image() {
  case "$BERTH_BASE_IMAGE" in
    "$BERTH_REGISTRY_ADDR"/*) ;;
    *) say "using base image $BERTH_BASE_IMAGE as configured"; return 0 ;;
  esac
  local repo="${BERTH_BASE_IMAGE#"$BERTH_REGISTRY_ADDR"/}" tag
  tag="${repo##*:}" repo="${repo%:*}"
  if [ "$(registry_status auth "v2/$repo/manifests/$tag" -H 'Accept: application/vnd.docker.distribution.manifest.v2+json')" = "200" ]; then
    return 0
  fi
  if ! docker image inspect "$BERTH_BASE_IMAGE" >/dev/null 2>&1; then
    is_root || die "building the base image needs root (debootstrap): run as root or set BERTH_BASE_IMAGE to an image you can pull"
    local rootfs
    rootfs="$(mktemp -d "$BERTH_CACHE/rootfs.XXXXXX")"
    say "building base image $BERTH_BASE_IMAGE from Debian's archive (debootstrap $BERTH_BASE_SUITE, about 30 s)"
    debootstrap --variant=minbase "$BERTH_BASE_SUITE" "$rootfs" "$(debian_mirror)" >"$BERTH_CACHE/debootstrap.log" 2>&1 \
      || { rm -rf "$rootfs"; die "debootstrap $BERTH_BASE_SUITE failed: see $BERTH_CACHE/debootstrap.log"; }
    # Keep apt's lists out of the image and its sources pointed at the same mirror.
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin
    tar -C "$rootfs" -c . | docker import -c 'CMD ["bash"]' - "$BERTH_BASE_IMAGE" >/dev/null \
      || { rm -rf "$rootfs"; die "docker import of the base image failed"; }
    rm -rf "$rootfs"
  fi
  DOCKER_CONFIG="$BERTH_DOCKER_CONFIG" docker push -q "$BERTH_BASE_IMAGE" >/dev/null \
    || die "pushing $BERTH_BASE_IMAGE to the local registry failed: see $BERTH_REGISTRY_DIR/registry.log"
}
