// Agents of a node group polling in the background while a test step runs: a leader's apply of a
// release whose volumes other nodes hold waits for those holders' signed word, which they write
// in their own poll passes (node-agent/swarm/volumes-ready.ts).
import type { AgentHarness } from "./agent-harness";

/** Runs `fn` while each of `agents` runs a poll pass every `everyMs`; the passes stop after it. */
export async function whilePolling<T>(
  agents: readonly AgentHarness[],
  fn: () => Promise<T>,
  everyMs = 300,
): Promise<T> {
  let stop = false;
  const loops = agents.map(async (a) => {
    while (!stop) {
      await a.agent.pollOnce().catch(() => undefined);
      for (let i = 0; i < everyMs / 50 && !stop; i++) await new Promise((r) => setTimeout(r, 50));
    }
  });
  try {
    return await fn();
  } finally {
    stop = true;
    await Promise.all(loops);
  }
}
