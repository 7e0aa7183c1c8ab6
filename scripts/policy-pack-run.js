// Preloaded by policies/run-pack into the policy pack's process (`node -r`), before the SDK's
// run-policy-pack entry. That entry always registers ts-node with `typeCheck: true`, so every
// `pulumi preview --policy-pack` type-checked the pack and what it imports (contract/, zod) from
// scratch: ~2 s of CPU of the ~3 s the pack cost a preview. Types are checked by `npm run
// typecheck` (tsc), as for the program (scripts/program-run.js). Here the pack's .ts files load
// through the program's cached esbuild loader (scripts/program-loader.js) instead, and ts-node's
// register becomes a no-op so it does not replace that loader. Same pack, same report.
require("./program-loader");
require("ts-node").register = () => undefined;
