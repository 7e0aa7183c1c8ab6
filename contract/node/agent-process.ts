// How a node starts its agent's daemon: the Node.js flags before the bundle and the environment
// it runs in. One list for every place that starts `berth-agent run`: the systemd unit of a cloud
// node (components/deployment-node/cloud-init.ts), the local node (components/runtime/
// local-node.ts) and an upgrade's handover to the new bundle (node-agent/upgrade/handover.ts).
//
// Both are about the idle agent's resident memory (docs/benchmarks.md, bench:local's
// agent-idle-rss). The agent waits on Docker, not on its own CPU:
// - `--max-semi-space-size=1`: V8's young generation stays at 1 MB per semi-space. V8 otherwise
//   grows it up to 16 MB each during an apply's bursts of garbage and keeps it resident. The
//   bundle also sets `--optimize-for-size` at start (node-agent/cli/v8-flags.ts), for an agent
//   started without these flags (a unit written before them), but set at run time that flag no
//   longer bounds the young generation, which V8 sizes when it starts.
// - `--no-opt`: no optimizing compiler (TurboFan) in the daemon. It runs no apply (each runs in a
//   child process with V8's defaults, node-agent/converge/apply-child.ts), and its polls,
//   heartbeats and access sessions wait on I/O; the compiler's code in node's binary, which an
//   optimization touches, stays out of its resident pages (3.6 MB of file pages idle: 39.4
//   against 43.1 MB, docs/benchmarks.md).
// - glibc's malloc: the default dynamic thresholds keep what V8's compiler and the child
//   processes' output freed at the top of the heap (up to 64 MB, raised each time a large block
//   is freed), and every thread that allocates gets an arena of its own. Fixed thresholds hand
//   freed memory back to the kernel; two arenas for the agent's few threads.
export const AGENT_NODE_FLAGS: readonly string[] = ["--max-semi-space-size=1", "--no-opt"];

export const AGENT_ENVIRONMENT: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: "2",
  MALLOC_TRIM_THRESHOLD_: "131072",
  MALLOC_TOP_PAD_: "65536",
};

/** `node`'s arguments for the daemon: the flags, the bundle, `run --config FILE`. */
export function agentRunArgs(bundle: string, configFile: string): string[] {
  return [...AGENT_NODE_FLAGS, bundle, "run", "--config", configFile];
}
