// The follow and switch steps as plans: which git and Docker commands a fetch of the branch, a
// checkout of a fetched commit and a move of the working tree run, in order, each with its time
// limit and whether a failure is an answer rather than an error. Pure; follow-runner.ts runs them.
//
// - fetch:    (git init --bare, the first time) git fetch of the branch into the agent's bare copy
//             (with the workspace's credential helper), then rev-parse of the fetched commit;
// - checkout: git archive of the commit, untarred into `<workspace dir>/next`;
// - advance:  a bundle of the branch since `base`, copied into the container, fetched and merged
//             --ff-only there as the remote user, then removed. git in the tree (whose config the
//             workspace owns) never runs on the node.
import { join } from "node:path";
import type { Command } from "./commands";
import * as cmd from "./commands";
import { type CredentialScope, gitConfigArgs } from "./git-credentials";

export interface PlannedCommand {
  command: Command;
  timeoutMs: number;
  /** A git call in the agent's copy: no prompt for a password, the credential redacted. */
  git: boolean;
  /** A non-zero exit is an answer (read by the runner), not an error. */
  allowFailure?: boolean;
}

/** The workspace's git credential helper: the socket the agent serves it on, and its scope. */
export interface CredentialHelper {
  socketPath: string;
  scope: CredentialScope;
}

/** `c` asking git for the workspace's credential through the agent's helper, when it has one. */
export function withCredentialHelper(c: Command, helper: CredentialHelper | undefined): Command {
  return helper ? { ...c, args: [...gitConfigArgs(helper.socketPath, helper.scope), ...c.args] } : c;
}

/** Where a workspace's follow files live, under its folder. */
export function followPaths(workspaceDir: string) {
  return {
    /** The agent's own bare copy of the branch: fetched as the agent, never seen by a container. */
    copy: join(workspaceDir, "branch.git"),
    /** A fetched commit's files (the agent's, never mounted). */
    next: join(workspaceDir, "next"),
    nextTar: join(workspaceDir, "next.tar"),
    /** The status of the fetched commit's background build (not reported). */
    nextStatus: join(workspaceDir, "next.json"),
    bundle: join(workspaceDir, "follow.bundle"),
  };
}

const git = (command: Command, timeoutMs: number, allowFailure = false): PlannedCommand => ({
  command,
  timeoutMs,
  git: true,
  ...(allowFailure ? { allowFailure } : {}),
});

/** A fetch of the branch; the last command's stdout is the fetched commit. */
export function fetchPlan(i: {
  copy: string;
  /** The copy exists already (its HEAD is there). */
  initialised: boolean;
  repository: string;
  branch: string;
  helper?: CredentialHelper;
  timeoutMs: number;
}): PlannedCommand[] {
  return [
    ...(i.initialised ? [] : [git(cmd.gitInitBare(i.copy), i.timeoutMs)]),
    git(withCredentialHelper(cmd.gitFetchBranch(i.copy, i.repository, i.branch), i.helper), i.timeoutMs),
    git(cmd.gitRevParse(i.copy, `refs/heads/${i.branch}`), i.timeoutMs),
  ];
}

/** Whether `a` is an ancestor of `b` in the copy: exit 0 says yes, anything else no. */
export function ancestorPlan(copy: string, a: string, b: string, timeoutMs: number): PlannedCommand {
  return git(cmd.gitIsAncestor(copy, a, b), timeoutMs, true);
}

/** The commit's files into `next` (an empty folder the runner makes) through `tar`. */
export function checkoutPlan(i: {
  copy: string;
  commit: string;
  tar: string;
  next: string;
  timeoutMs: number;
}): PlannedCommand[] {
  return [
    git(cmd.gitArchive(i.copy, i.commit, i.tar), i.timeoutMs),
    git(cmd.untar(i.tar, i.next), i.timeoutMs),
  ];
}

export interface AdvanceTarget {
  container: string;
  user: string;
  /** The working tree's folder inside the container. */
  folder: string;
  /** The commit the tree moves to. */
  commit: string;
}

/**
 * The move of the tree to `t.commit`: bundle (since `base`, an ancestor of the commit, when
 * known), copy in, fast-forward (its exit code is the answer), remove the bundle (best effort).
 */
export function advancePlan(i: {
  copy: string;
  branch: string;
  bundle: string;
  /** The bundle's path inside the container. */
  inside: string;
  base?: string;
  target: AdvanceTarget;
  timeoutMs: number;
}): { bundle: PlannedCommand; copyIn: PlannedCommand; advance: PlannedCommand; cleanUp: PlannedCommand } {
  const t = i.target;
  return {
    bundle: git(cmd.gitBundle(i.copy, i.branch, i.bundle, i.base), i.timeoutMs),
    copyIn: { command: cmd.copyInto(i.bundle, t.container, i.inside), timeoutMs: 300_000, git: false },
    advance: {
      command: cmd.advanceTreeInContainer(t.container, t.user, t.folder, i.inside, i.branch, t.commit),
      timeoutMs: 300_000,
      git: false,
      allowFailure: true,
    },
    cleanUp: {
      command: cmd.removeInContainer(t.container, i.inside),
      timeoutMs: 60_000,
      git: false,
      allowFailure: true,
    },
  };
}

/** What a refused fast-forward means for the workspace's owner. */
export function advanceRefusal(
  result: { exitCode: number; stdout: string; stderr: string },
  commit: string,
): string {
  const why = `${result.stderr}\n${result.stdout}`.trim() || `exit code ${result.exitCode}`;
  return /not found|No such file/.test(why) && /git/.test(why)
    ? `the workspace's image has no git: ${why.split("\n")[0]}`
    : `the working tree cannot move to ${commit.slice(0, 12)} without touching local work: ${why.split("\n").slice(0, 4).join(" ")}; commit or stash it, then switch again`;
}
