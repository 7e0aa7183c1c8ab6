# shellcheck shell=bash
# Sourced by every script and test: puts berth's tools first on PATH and points Pulumi
# at the project's file backend. Safe to source more than once.
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

if [ -d "$BERTH_PULUMI_HOME/bin" ]; then
  case ":$PATH:" in *":$BERTH_PULUMI_HOME/bin:"*) ;; *) PATH="$BERTH_PULUMI_HOME/bin:$PATH" ;; esac
fi
case ":$PATH:" in *":$BERTH_CACHE/bin:"*) ;; *) PATH="$BERTH_CACHE/bin:$PATH" ;; esac  # versitygw
case ":$PATH:" in *":$BERTH_ROOT/node_modules/.bin:"*) ;; *) PATH="$BERTH_ROOT/node_modules/.bin:$PATH" ;; esac
export PATH

# Local stacks keep their state inside the project (gitignored). The passphrase protects
# only the local stack's secrets on this machine; set your own to override it.
# A backend set by another checkout's env.sh (a clone called from this one) is not ours to keep.
if [ -z "${PULUMI_BACKEND_URL:-}" ] || { [ -n "${BERTH_BACKEND_SET_BY:-}" ] && [ "$BERTH_BACKEND_SET_BY" != "$BERTH_ROOT" ]; }; then
  export PULUMI_BACKEND_URL="file://$BERTH_ROOT/.pulumi-state"
  export BERTH_BACKEND_SET_BY="$BERTH_ROOT"
fi
export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE-berth-local}"
# Type errors are caught by `npm test` (tsc); the engine only transpiles, which is much faster.
export PULUMI_NODEJS_TRANSPILE_ONLY="${PULUMI_NODEJS_TRANSPILE_ONLY:-true}"
# The language host starts the program through berth's run entry: its TypeScript loader keeps
# esbuild's output between runs and registers no ts-node (scripts/program-run.js; ~0.3 s of CPU
# fewer per program run). This checkout's, like the backend above.
export PULUMI_LANGUAGE_NODEJS_RUN_PATH="$BERTH_ROOT/scripts/program-run.js"
export PULUMI_HOME="${PULUMI_HOME:-$BERTH_PULUMI_HOME/home}"
export BERTH_ROOT BERTH_CACHE BERTH_REGISTRY_ADDR BERTH_BASE_IMAGE BERTH_PULUMI_VERSION BERTH_DOCKER_CONFIG

if [ -r "$BERTH_REGISTRY_DIR/credentials.env" ]; then
  # BERTH_REGISTRY_USER and BERTH_REGISTRY_PASSWORD for the local registry.
  # shellcheck disable=SC1091
  set -a; source "$BERTH_REGISTRY_DIR/credentials.env"; set +a
fi
