// The agent killed at each of the 9 steps of a first release (support/agent-crash.ts): after a
// restart the environment converges to the release, with no container of a half-started one.
import { describe, it } from "vitest";
import { crashSuite, FIRST_RELEASE_STEPS } from "./support/agent-crash";

const s = crashSuite();

describe("the agent killed during a first release", () => {
  it.each(FIRST_RELEASE_STEPS)("converges after a kill at %s of a first release", async (step) => {
    const env = s.newEnv("first");
    await s.crashAndConverge(env, 1, `${env}.test`, step);
  });
});
