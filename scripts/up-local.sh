#!/usr/bin/env bash
# The README's main command: set up what is missing, then `pulumi up` of the local stack.
# Extra arguments go to `pulumi up` (for example --diff). It runs with --yes, so a preview
# before the update would only wait (~2 s: the program runs twice); `pulumi preview` shows one.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$here/setup.sh"
# shellcheck source=env.sh
source "$here/env.sh"
cd "$BERTH_ROOT"
mkdir -p "${PULUMI_BACKEND_URL#file://}"
pulumi stack select --create local --non-interactive >/dev/null
pulumi up --stack local --yes --skip-preview --non-interactive "$@"
