#!/usr/bin/env bash
# berth's one setup: installs what is missing, does nothing where it is present.
# Called by `npm test` and `npm run up`; safe to run again. Usage: scripts/setup.sh [STEP...]
# Steps: node build pulumi packages docker registry base-image buildkit versitygw stargz (default: all, in that order).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=env.sh
source "$here/env.sh"
for f in "$here"/setup/*.sh; do
  # shellcheck disable=SC1090
  source "$f"
done

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(node build pulumi packages docker registry base-image buildkit versitygw stargz)
start=$SECONDS
for step in "${steps[@]}"; do
  case "$step" in
    node) setup_node ;;
    build) bash "$here/build.sh" ;;
    pulumi) setup_pulumi && source "$here/env.sh" ;;
    packages) setup_packages ;;
    docker) setup_docker ;;
    registry) setup_registry ;;
    base-image) setup_base_image ;;
    buildkit) setup_buildkit ;;
    versitygw) setup_versitygw ;;
    stargz) setup_stargz ;;
    *) die "unknown setup step '$step' (steps: node build pulumi packages docker registry base-image buildkit versitygw stargz)" ;;
  esac
done
say "setup done in $((SECONDS - start)) s (pulumi $(pulumi version 2>/dev/null), $(docker version --format 'engine {{.Server.Version}}' 2>/dev/null))"
