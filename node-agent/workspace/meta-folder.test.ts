import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  askSwitch,
  metaFolder,
  noteCommit,
  notedCommit,
  noteFolderRoot,
  restoreFolderRoot,
  takeSwitchRequest,
} from "./meta-folder";

const dirs: string[] = [];
const workspaceDir = () => {
  const d = mkdtempSync(join(tmpdir(), "berth-meta-"));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("a workspace's notes on the node", () => {
  it("keeps the tree's commit, and reads back only a commit id", () => {
    const d = workspaceDir();
    expect(notedCommit(d)).toBeUndefined();
    const commit = "a".repeat(40);
    noteCommit(d, commit);
    expect(notedCommit(d)).toBe(commit);
    expect(statSync(metaFolder(d)).mode & 0o777).toBe(0o700);
    writeFileSync(join(metaFolder(d), "commit"), "--upload-pack=evil\n");
    expect(notedCommit(d)).toBeUndefined();
  });

  it("gives a folder made anew by a restore its noted mode; a broken note changes nothing", () => {
    const d = workspaceDir();
    const home = join(d, "home");
    mkdirSync(home);
    chmodSync(home, 0o750);
    noteFolderRoot(d, "home", home);
    chmodSync(home, 0o700);
    restoreFolderRoot(d, "home", home);
    expect(statSync(home).mode & 0o7777).toBe(0o750);
    writeFileSync(join(metaFolder(d), "tree-root.json"), "{not json");
    const tree = join(d, "repo");
    mkdirSync(tree, { mode: 0o700 });
    restoreFolderRoot(d, "tree", tree);
    expect(statSync(tree).mode & 0o7777).toBe(0o700);
  });

  it("takes a switch request once", () => {
    const d = workspaceDir();
    expect(takeSwitchRequest(d)).toBe(false);
    askSwitch(d);
    expect(takeSwitchRequest(d)).toBe(true);
    expect(takeSwitchRequest(d)).toBe(false);
  });
});
