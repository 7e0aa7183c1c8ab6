// The follow and switch plans as data: which commands, in which order, with which limits.
import { describe, expect, it } from "vitest";
import {
  advancePlan,
  advanceRefusal,
  ancestorPlan,
  checkoutPlan,
  fetchPlan,
  followPaths,
  withCredentialHelper,
} from "./follow-plan";

const line = (p: { command: { file: string; args: string[] } }) =>
  [p.command.file, ...p.command.args].join(" ");
const helper = { socketPath: "/s/ws1/git.sock", scope: { protocol: "https" as const, host: "git.example" } };
const C = "c".repeat(40);
const B = "b".repeat(40);

describe("the follow plans", () => {
  it("keeps the agent's files under the workspace's folder", () => {
    expect(followPaths("/st/workspaces/ws1")).toEqual({
      copy: "/st/workspaces/ws1/branch.git",
      next: "/st/workspaces/ws1/next",
      nextTar: "/st/workspaces/ws1/next.tar",
      nextStatus: "/st/workspaces/ws1/next.json",
      bundle: "/st/workspaces/ws1/follow.bundle",
    });
  });

  it("fetches into a bare copy made the first time, then reads the fetched commit", () => {
    const first = fetchPlan({
      copy: "/w/branch.git",
      initialised: false,
      repository: "https://git.example/r.git",
      branch: "feat",
      timeoutMs: 5_000,
    });
    expect(first.map(line)).toEqual([
      "git init --quiet --bare /w/branch.git",
      "git --git-dir /w/branch.git fetch --quiet --no-tags -- https://git.example/r.git +refs/heads/feat:refs/heads/feat",
      "git --git-dir /w/branch.git rev-parse --verify --quiet refs/heads/feat^{commit}",
    ]);
    expect(first.every((p) => p.git && p.timeoutMs === 5_000 && !p.allowFailure)).toBe(true);
    const again = fetchPlan({
      copy: "/w/branch.git",
      initialised: true,
      repository: "https://git.example/r.git",
      branch: "feat",
      timeoutMs: 5_000,
    });
    expect(again.map(line)).toEqual(first.slice(1).map(line));
  });

  it("asks the agent's credential helper only in the fetch, before git's own arguments", () => {
    const plan = fetchPlan({
      copy: "/w/branch.git",
      initialised: true,
      repository: "https://git.example/r.git",
      branch: "feat",
      helper,
      timeoutMs: 5_000,
    });
    const [fetch, revParse] = plan;
    expect(fetch!.command.args.slice(0, 4)).toEqual([
      "-c",
      "credential.https://git.example.helper=",
      "-c",
      expect.stringContaining("credential.https://git.example.helper="),
    ]);
    expect(fetch!.command.args[3]).toContain("/s/ws1/git.sock");
    expect(fetch!.command.args.slice(4, 7)).toEqual(["--git-dir", "/w/branch.git", "fetch"]);
    expect(line(revParse!)).not.toContain("credential");
    expect(withCredentialHelper({ file: "git", args: ["clone"] }, undefined)).toEqual({
      file: "git",
      args: ["clone"],
    });
  });

  it("asks ancestry with an exit code as the answer", () => {
    const p = ancestorPlan("/w/branch.git", B, C, 1_000);
    expect(line(p)).toBe(`git --git-dir /w/branch.git merge-base --is-ancestor ${B} ${C}`);
    expect(p.allowFailure).toBe(true);
  });

  it("checks a commit out through an archive, never in the working tree", () => {
    const plan = checkoutPlan({
      copy: "/w/branch.git",
      commit: C,
      tar: "/w/next.tar",
      next: "/w/next",
      timeoutMs: 9,
    });
    expect(plan.map(line)).toEqual([
      `git --git-dir /w/branch.git archive --format=tar -o /w/next.tar ${C}`,
      "tar -x --no-same-owner -f /w/next.tar -C /w/next",
    ]);
  });

  it("moves the tree inside the container: bundle since the base, copy in, fast-forward, clean up", () => {
    const target = { container: "c0ffee", user: "dev", folder: "/workspaces/r", commit: C };
    const p = advancePlan({
      copy: "/w/branch.git",
      branch: "feat",
      bundle: "/w/follow.bundle",
      inside: "/tmp/b.bundle",
      base: B,
      target,
      timeoutMs: 7,
    });
    expect(line(p.bundle)).toBe(
      `git --git-dir /w/branch.git bundle create --quiet /w/follow.bundle refs/heads/feat ^${B}`,
    );
    expect(p.bundle.git).toBe(true);
    expect(line(p.copyIn)).toBe("docker cp /w/follow.bundle c0ffee:/tmp/b.bundle");
    expect(p.advance.command.args.slice(0, 6)).toEqual([
      "exec",
      "-u",
      "dev",
      "-w",
      "/workspaces/r",
      "c0ffee",
    ]);
    expect(p.advance.command.args.slice(-3)).toEqual(["/tmp/b.bundle", "feat", C]);
    expect(p.advance.command.args.join(" ")).toContain("git merge --ff-only");
    expect(p.advance.allowFailure).toBe(true);
    expect(line(p.cleanUp)).toBe("docker exec -u root c0ffee rm -f -- /tmp/b.bundle");
    expect(p.cleanUp.allowFailure).toBe(true);
    // Docker calls in the container get no git prompt settings or redaction of their own.
    expect([p.copyIn, p.advance, p.cleanUp].every((s) => !s.git)).toBe(true);
    // Without a known base, the whole branch.
    const whole = advancePlan({
      copy: "/w/branch.git",
      branch: "feat",
      bundle: "/w/follow.bundle",
      inside: "/tmp/b.bundle",
      target,
      timeoutMs: 7,
    });
    expect(whole.bundle.command.args.at(-1)).toBe("refs/heads/feat");
  });

  it("says why the tree did not move", () => {
    const local = advanceRefusal(
      {
        exitCode: 1,
        stdout: "",
        stderr:
          "error: Your local changes to the following files would be overwritten by merge:\n\tsrc/new.txt\nAborting",
      },
      C,
    );
    expect(local).toMatch(
      /cannot move to c{12} without touching local work: .*src\/new\.txt.*commit or stash/s,
    );
    expect(advanceRefusal({ exitCode: 127, stdout: "", stderr: "sh: 1: git: not found" }, C)).toBe(
      "the workspace's image has no git: sh: 1: git: not found",
    );
    expect(advanceRefusal({ exitCode: 3, stdout: "", stderr: "" }, C)).toMatch(/exit code 3/);
  });
});
