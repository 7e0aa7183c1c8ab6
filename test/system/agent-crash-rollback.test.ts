// A release whose web never becomes healthy and whose store changed: the kill lands inside its
// rollback (support/agent-crash.ts). At restart the agent finishes the rollback (it never tries
// the failed release again): the previous web keeps serving, the store is back on the previous
// release's definition.
import { beforeAll, describe, expect, it } from "vitest";
import { crashSuite, ROLLBACK_STEPS } from "./support/agent-crash";
import { appManifest } from "./support/agent-harness";

const s = crashSuite();
let env = "";
let host = "";

beforeAll(async () => {
  env = s.newEnv("rollback");
  host = `${env}.test`;
  const status = await s.h.deploy(env, 1, appManifest({ message: "v1", image: s.image(), host }));
  expect(status.state).toBe("applied");
}, 300_000);

describe("the agent killed during the rollback of a failed upgrade", () => {
  it.each(ROLLBACK_STEPS)(
    "finishes a rollback killed at %s: the previous release keeps serving",
    async (step) => {
      const current = s.h.agent.store(env).current() as number;
      const seq = s.h.agent.store(env).highestSeen() + 1; // above the failed releases too
      const startsBefore = s.storeStarts(env);
      await s.h.publish(
        env,
        seq,
        appManifest({
          message: "broken",
          image: s.image(),
          host,
          broken: true,
          storeVersion: `broken-${seq}`,
        }),
      );
      const { status, agent } = await s.killThenRestart(env, seq, step);
      try {
        expect(status.state, `${status.error}`).toBe("rolled-back");
        expect(status.appliedSequence).toBe(current);
        expect(status.error).toMatch(
          new RegExp(`release ${seq} failed and was rolled back to release ${current}: .*web`),
        );
        expect(await s.h.get("/", host)).toEqual({ status: 200, body: `v${current}` });
        const cs = await s.h.containers(env);
        expect(cs.map((c) => `${c.project}/${c.service}/${c.state}`).sort()).toEqual([
          `berth_${env}/store/running`,
          // Where the current release's web runs (a first release's: the long-lived project).
          `${s.h.agent.store(env).readMetadata(current).projects?.web}/web/running`,
        ]);
        expect(await s.storeVersion(env)).toBeUndefined();
        // Started once on the failed release's definition and once back on the previous one:
        // the restarted agent did not try the failed release again.
        expect(s.storeStarts(env) - startsBefore).toBe(2);
        expect(s.h.agent.store(env).current()).toBe(current);
      } finally {
        await s.stopAgent(agent);
      }
    },
  );
});
