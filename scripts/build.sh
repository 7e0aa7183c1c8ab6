#!/usr/bin/env bash
# Bundles the two CLIs to one file each (dist/berth.js, dist/berth-agent.js; the agent's bundle
# is what cloud-init installs on a node) and the dynamic providers' runtime (dist/provider-runtime.js).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=env.sh
source "$here/env.sh"
cd "$BERTH_ROOT"
# jsonc-parser's `main` is a UMD build whose requires esbuild cannot follow: bundle its ESM build.
# The devcontainer CLI is not bundled: workspace nodes install it beside the agent (or name it
# in the agent config, workspaces.devcontainerCli).
common=(--bundle --platform=node --target=node20 --format=cjs --log-level=warning --legal-comments=none
  --alias:jsonc-parser=./node_modules/jsonc-parser/lib/esm/main.js
  --external:@devcontainers/cli)
# The agent's bundle drops comments (--minify-whitespace): one non-ASCII character in a kept
# comment made V8 hold the whole source as UTF-16, 5 MB more resident on a node for nothing.
esbuild node-agent/cli/bin.ts "${common[@]}" --minify-whitespace --outfile=dist/berth-agent.js
esbuild cli/bin.ts "${common[@]}" --outfile=dist/berth.js
# V8's code cache of the CLI's bundle, made after one `berth validate` of the sample app, which
# bin/berth.js loads with the bundle (docs/benchmarks.md, bench:contract).
rm -f dist/berth.js.cache
node scripts/code-cache.js dist/berth.js validate stacks/local/app/compose.yaml --var BASE_IMAGE=base >/dev/null
# The CLI's V8 startup snapshot, which bin/berth starts the local commands from (cli/snapshot.ts):
# the bundle loaded and one `validate` of the sample app run inside it; the same V8 flags as
# bin/berth's. It holds the bundle's SHA-256, so a blob left from other code is never used.
rm -f dist/berth.blob
node --no-opt --snapshot-blob dist/berth.blob --build-snapshot dist/berth.js \
  validate stacks/local/app/compose.yaml --var BASE_IMAGE=base
# What the dynamic providers run inside Pulumi's provider process.
esbuild components/runtime/index.ts "${common[@]}" --outfile=dist/provider-runtime.js
# The local registry's authorising proxy (setup starts it in front of docker-registry).
esbuild lib/registry-gate.ts "${common[@]}" --outfile=dist/registry-gate.js
