// A workspace follows its branch: the agent fetches it every `followSeconds` (never touching the
// working tree), and this file decides what a fetched commit means. Pure; the sync runs it.
//
// - nothing new (the same commit, or one the tree's HEAD already contains): `current`;
// - the tree's HEAD is not behind it (local commits, or the branch was rewritten): `held`, the
//   tree is never moved over local work; the reason says what to do;
// - the devcontainer's key is the one running: `ready` at once (only the tree moves at the switch);
// - another key: `preparing`, its image is built in the background from the fetched commit, then
//   `ready` (or `failed`, with the build's reason; the workspace runs on).
// The switch (the tree fast-forwarded, then the new image started when the key changed) happens at
// the workspace's next start (a wake from idle) or when asked; a fast-forward that would touch
// uncommitted work is refused by git itself and leaves the workspace `held`, its work untouched.
import type { WorkspaceStatus } from "../../contract/workspace/declaration";

export type FollowState = NonNullable<WorkspaceStatus["follow"]>;

export interface FetchedBranch {
  /** The working tree's HEAD. */
  head: string;
  /** The branch's commit the fetch found. */
  fetched: string;
  /** HEAD is an ancestor of the fetched commit: a fast-forward takes the tree there. */
  fastForward: boolean;
  /** The fetched commit is an ancestor of HEAD: the tree already holds it. */
  contained: boolean;
}

/** Whether a fetch is due: `followSeconds` since the last one (0: never). */
export function followDue(lastFetchMs: number | undefined, nowMs: number, followSeconds: number): boolean {
  if (followSeconds <= 0) return false;
  return lastFetchMs === undefined || nowMs - lastFetchMs >= followSeconds * 1000;
}

export type FollowDecision =
  /** Record `state`; nothing to build. */
  | { build: false; state: FollowState["state"]; reason?: string }
  /** Build the fetched commit's image (key `key`) in the background. */
  | { build: true; state: "preparing"; key: string }
  /** The fetched commit's key decides: compute it (from a copy of the commit) and ask again. */
  | { needsKey: true };

const short = (c: string) => c.slice(0, 12);

/**
 * What a fetched commit asks for. `runningKey`: the cache key the workspace runs (undefined: the
 * default image or a Compose config); `fetched.key`: the fetched commit's, once computed (undefined
 * when it has no usable config); `previous`: what an earlier pass made of the branch.
 */
export function decideFollow(i: {
  branch: FetchedBranch;
  runningKey: string | undefined;
  fetched?: { key: string | undefined };
  previous: FollowState | undefined;
  /** A background build of the branch is under way in this agent. */
  building: boolean;
}): FollowDecision {
  const b = i.branch;
  if (b.fetched === b.head || b.contained) return { build: false, state: "current" };
  if (!b.fastForward)
    return {
      build: false,
      state: "held",
      reason: `the branch moved to ${short(b.fetched)}, which does not contain the working tree's HEAD ${short(b.head)} (local commits, or a rewritten branch): merge or rebase in the workspace by hand`,
    };
  // The same commit again: what was made of it stands (a failed build is not retried every pass);
  // a build the agent no longer runs (it restarted) is started again.
  const p = i.previous;
  if (p && p.commit === b.fetched && p.state !== "current" && (p.state !== "preparing" || i.building))
    return { build: false, state: p.state, ...(p.reason ? { reason: p.reason } : {}) };
  if (!i.fetched) return { needsKey: true };
  const key = i.fetched.key;
  if (key === undefined || key === i.runningKey) return { build: false, state: "ready" };
  return { build: true, state: "preparing", key };
}

/**
 * When the tree moves: a wake takes the switch along; otherwise only when asked. A `held` branch is
 * tried again then too (the work in the way may have been committed since); git refuses again if not.
 */
export function switchNow(
  follow: FollowState | undefined,
  o: { starting: boolean; asked: boolean },
): boolean {
  return (follow?.state === "ready" || follow?.state === "held") && (o.starting || o.asked);
}
