import { describe, expect, it } from "vitest";
import { decideFollow, type FetchedBranch, followDue, switchNow } from "./follow";

const A = "a".repeat(40);
const B = "b".repeat(40);
const ahead: FetchedBranch = { head: A, fetched: B, fastForward: true, contained: false };
const base = {
  branch: ahead,
  runningKey: "k1",
  fetched: { key: "k2" },
  previous: undefined,
  building: false,
};

describe("following a branch", () => {
  it("fetches every followSeconds, never with 0", () => {
    expect(followDue(undefined, 1_000, 60)).toBe(true);
    expect(followDue(1_000, 60_999, 60)).toBe(false);
    expect(followDue(1_000, 61_000, 60)).toBe(true);
    expect(followDue(undefined, 1_000, 0)).toBe(false);
  });

  it("builds the fetched commit's image when its key differs from the running one", () => {
    expect(decideFollow(base)).toEqual({ build: true, state: "preparing", key: "k2" });
  });

  it("is ready at once when the key is the running one, or the commit has no usable config", () => {
    expect(decideFollow({ ...base, fetched: { key: "k1" } })).toEqual({ build: false, state: "ready" });
    expect(decideFollow({ ...base, fetched: { key: undefined } })).toEqual({ build: false, state: "ready" });
  });

  it("asks for the fetched commit's key only when it decides", () => {
    const { fetched: _, ...noKey } = base;
    expect(decideFollow(noKey)).toEqual({ needsKey: true });
    expect(decideFollow({ ...noKey, branch: { ...ahead, fastForward: false } })).toMatchObject({
      state: "held",
    });
    expect(decideFollow({ ...noKey, previous: { commit: B, fetchedAt: "t", state: "ready" } })).toMatchObject(
      { state: "ready" },
    );
  });

  it("is current when the tree already holds the commit (the same, or local commits on top)", () => {
    expect(decideFollow({ ...base, branch: { ...ahead, fetched: A } })).toMatchObject({ state: "current" });
    expect(
      decideFollow({ ...base, branch: { ...ahead, fastForward: false, contained: true } }),
    ).toMatchObject({ state: "current" });
  });

  it("holds, saying what to do, when the tree's HEAD is not behind the branch", () => {
    const d = decideFollow({ ...base, branch: { ...ahead, fastForward: false } });
    expect(d).toMatchObject({ build: false, state: "held" });
    expect("reason" in d && d.reason).toMatch(
      /does not contain the working tree's HEAD aaaaaaaaaaaa.*by hand/,
    );
  });

  it("keeps what it made of a commit already seen; a build the agent no longer runs starts again", () => {
    const prev = (state: "ready" | "failed" | "held" | "preparing") => ({
      commit: B,
      fetchedAt: "t",
      state,
      reason: "why",
    });
    expect(decideFollow({ ...base, previous: prev("failed") })).toEqual({
      build: false,
      state: "failed",
      reason: "why",
    });
    expect(decideFollow({ ...base, previous: prev("ready") })).toMatchObject({ state: "ready" });
    expect(decideFollow({ ...base, previous: prev("preparing"), building: true })).toMatchObject({
      build: false,
      state: "preparing",
    });
    expect(decideFollow({ ...base, previous: prev("preparing") })).toMatchObject({ build: true });
    // Another commit: decided afresh.
    expect(decideFollow({ ...base, previous: { ...prev("failed"), commit: A } })).toMatchObject({
      build: true,
    });
  });

  it("switches a ready (or held) branch at the next start or when asked, never on its own", () => {
    const f = (state: "ready" | "held" | "preparing") => ({ commit: B, fetchedAt: "t", state });
    expect(switchNow(f("ready"), { starting: true, asked: false })).toBe(true);
    expect(switchNow(f("ready"), { starting: false, asked: true })).toBe(true);
    expect(switchNow(f("held"), { starting: false, asked: true })).toBe(true);
    expect(switchNow(f("ready"), { starting: false, asked: false })).toBe(false);
    expect(switchNow(f("preparing"), { starting: true, asked: true })).toBe(false);
    expect(switchNow(undefined, { starting: true, asked: true })).toBe(false);
  });
});
