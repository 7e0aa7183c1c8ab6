// The agent killed at each of the 10 steps of an upgrade (support/agent-crash.ts), one release
// after another on one environment: after each restart it converges to the new release.
import { describe, expect, it } from "vitest";
import { crashSuite, UPGRADE_STEPS } from "./support/agent-crash";
import { appManifest } from "./support/agent-harness";

const s = crashSuite();

describe("the agent killed during an upgrade", () => {
  it("converges after a kill at each of the 10 steps of an upgrade", async () => {
    const env = s.newEnv("upgrade");
    const host = `${env}.test`;
    const status = await s.h.deploy(env, 1, appManifest({ message: "v1", image: s.image(), host }));
    expect(status.state).toBe("applied");
    let seq = 1;
    for (const step of UPGRADE_STEPS) {
      seq++;
      await s.crashAndConverge(env, seq, host, step);
    }
  });
});
