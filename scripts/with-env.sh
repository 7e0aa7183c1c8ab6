#!/usr/bin/env bash
# Runs a command with berth's environment (tools on PATH, file backend): with-env.sh CMD ARGS...
set -euo pipefail
# shellcheck source=env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
exec "$@"
