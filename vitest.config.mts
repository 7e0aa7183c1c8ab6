import { availableParallelism } from "node:os";
import { relative } from "node:path";
import { defineConfig } from "vitest/config";
import { BaseSequencer, type TestSpecification } from "vitest/node";

// Two tiers, one after the other:
// - `unit`: pure logic, Pulumi mocks, small local servers; no Docker. `npm run test:unit`. Its files
//   share their worker's modules (isolate: false): importing the program, Pulumi and zod once per
//   worker instead of once per file takes the tier from ~90 s of CPU to ~25 s. So a unit test file
//   leaves no global state behind (process.env set in a try/finally, Pulumi mocks set by each file
//   that declares resources; stacks/testdata/program.ts imports the program afresh).
// - `system`: the real Pulumi engine, Docker, the registry, HAProxy, restic; two files at a time
//   unless BERTH_SYSTEM_WORKERS says how many at once (1: one after the other). Each file keeps to its own names (random
//   environment, stack and project ids, HAProxy and the local stack on free ports, its own Pulumi
//   backend, state and volume folders, second engines, networks and netns), so files can run side
//   by side; what they share on purpose is the registry on 127.0.0.1:5000 (content-addressed
//   pushes, repositories unique per run) and the DOCKER-USER rule every agent installs at start
//   (workspace-node-isolation removes it and checks again with that in mind). Two at once is the
//   default: the whole tier green with two workers in session 9 (925 s against 1,544 s summed one
//   at a time) and a fresh clone's `.ci/run` green with two workers in session 10 (20 min 36 s
//   while five engineers loaded the machine, against 27 min one at a time on a quiet one). Three
//   at once made each file 2.5-4.5 times slower on 2 cores. The bundles are built once before them
//   (test/system/support/build-once.ts).
// `npm test` writes per-file times to .berth-test/vitest.json and prints them at the end.
const unitWorkers = Math.max(2, availableParallelism() - 1);
const systemWorkers = Math.max(1, Math.floor(Number(process.env.BERTH_SYSTEM_WORKERS ?? "2")) || 1);

// Seconds the slowest system files took, with their hooks (.berth-test/file-times.json), in a
// fresh-clone run at 58b73b2 with two files at once (BERTH_SYSTEM_WORKERS=2, 22:53-23:13, session
// 10): the estimate of a file vitest has no duration of. Vitest runs the files it knows longest
// first (their durations are kept in node_modules/.vite/vitest); on a fresh clone it knows none and
// starts the largest files first, which can leave a long one for the end (swarm-agents, 126 s
// there, had no estimate; cloud-init-install's was 35 s, 158 s there). A stale estimate costs
// time, never correctness. swarm-volumes (session 11): 64 s alone at load 1.2. workspace-lazy-pull
// (session 13): 147 s in a whole system tier with two workers at load 5-14. cloud-init-install
// (session 13, now a workspace node with the stargz tools and the channel's attacks): 195 s alone
// at load 2-4.
const ESTIMATED_SECONDS: Record<string, number> = {
  "node-protocol": 283,
  "cloud-init-install": 240,
  "swarm-bed": 185,
  "workspace-cache": 181,
  "workspace-lazy-pull": 147,
  "swarm-agents": 126,
  "swarm-backup": 100,
  "agent-crash-first": 97,
  "policy-pack": 73,
  "local-stack": 68,
  "swarm-volumes": 65,
  "swarm-local-stack": 63,
  "agent-crash-upgrade": 62,
  "workspace-private-repo": 59,
  "agent-apply": 57,
  "agent-crash-rollback": 55,
  "workspace-snapshots": 54,
  "workspace-node-isolation": 52,
  "backup-restore": 51,
  "agent-replicas": 49,
  "backup-stack": 48,
  "workspace-idle-restart": 47,
  "workspace-agent": 39,
  "workspace-lifecycle": 37,
  "preview-summary": 37,
};

/** The base order (tiers by groupOrder, then projects), and in each project: failed, then longest first. */
class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const root = this.ctx.config.root;
    const facts = new Map(
      files.map((f) => {
        const file = relative(root, f.moduleId);
        const known = this.ctx.cache.getFileTestResults(`${f.project.name}:${file}`);
        const name = file.replace(/^test\/system\//, "").replace(/\.test\.ts$/, "");
        const estimate = (ESTIMATED_SECONDS[name] ?? 0) * 1000;
        const size = this.ctx.cache.getFileStats(`${f.project.name}:${file}`)?.size ?? 0;
        return [f, { failed: known?.failed ?? false, ms: known?.duration ?? estimate, size }];
      }),
    );
    const fact = (f: TestSpecification) => facts.get(f) ?? { failed: false, ms: 0, size: 0 };
    return [...files].sort((a, b) => {
      const order = a.project.config.sequence.groupOrder - b.project.config.sequence.groupOrder;
      if (order !== 0) return order;
      if (a.project.name !== b.project.name) return a.project.name < b.project.name ? -1 : 1;
      const fa = fact(a);
      const fb = fact(b);
      if (fa.failed !== fb.failed) return fa.failed ? -1 : 1;
      return fb.ms - fa.ms || fb.size - fa.size;
    });
  }
}

export default defineConfig({
  test: {
    sequence: { sequencer: LongestFirst },
    projects: [
      {
        test: {
          name: "unit",
          include: [
            "{components,contract,node-agent,policies,cli,lib,stacks}/**/*.test.ts",
            "test/unit/**/*.test.ts",
            "scripts/**/*.test.ts",
            "bench/**/*.test.ts",
          ],
          environment: "node",
          sequence: { groupOrder: 0 },
          // Some unit files start processes (git, the CLI's launcher, tiny node scripts; the files
          // that start node with the whole Pulumi SDK loaded are system files):
          // 1-2 s on a quiet machine, past vitest's default 5 s at a load of 10 on 2 cores. A
          // bound that load cannot reach, still far short of a hang.
          testTimeout: 60_000,
          isolate: false,
          // Two workers at least (vitest's default is one fewer than the cores: one on 2 cores).
          // Some files wait on processes they start, and a second worker fills that core; on a
          // busy machine two workers also get twice the CPU share of one.
          maxWorkers: unitWorkers,
          // ESM-only, and imports its JSON schemas without import attributes, which Node refuses:
          // let Vite transform it (test/unit/workflows.test.ts).
          server: { deps: { inline: ["@actions/workflow-parser"] } },
        },
      },
      {
        test: {
          name: "system",
          include: ["test/system/**/*.test.ts"],
          environment: "node",
          sequence: { groupOrder: 1 },
          globalSetup: ["test/system/support/build-once.ts"],
          // Every program run's language host names the provider plugins of package.json's
          // dependencies (hcloud, cloudflare, scaleway), and the engine tries to download the
          // missing ones before it runs anything: with no route to their hosts, 5 attempts each
          // with backoff, ~2.4 s of every `pulumi preview`, `up`, `refresh` and `destroy`
          // (policy-pack's preview: 8.5-9.0 s with it, 6.2-6.6 s without). No system test declares
          // a cloud provider's resource, so the tier fetches none (a test that did would fail
          // naming the missing plugin).
          env: { PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true", PULUMI_SKIP_UPDATE_CHECK: "true" },
          fileParallelism: systemWorkers > 1,
          maxWorkers: systemWorkers,
          testTimeout: 300_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
