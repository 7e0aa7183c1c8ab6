#!/usr/bin/env bash
# Removes everything the local stack made (containers, folders); keeps the state backend.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=env.sh
source "$here/env.sh"
cd "$BERTH_ROOT"
if ! pulumi stack select local --non-interactive >/dev/null 2>&1; then
  say "no local stack: nothing to destroy"
  exit 0
fi
pulumi destroy --stack local --yes --non-interactive "$@"
# The LocalNode's delete removes .berth-local/local; the parent goes too once nothing else is in it.
rmdir "$BERTH_ROOT/.berth-local" 2>/dev/null || true
