import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { chownTree, removeLeftoverDockerConfigs, withDockerConfig } from "./node-files";

const roots: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "berth-node-files-"));
  roots.push(d);
  return d;
};
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

describe("files a workspace leaves on the node", () => {
  it("chownTree changes links themselves, never what they point at", () => {
    const root = tmp();
    const outside = join(root, "outside");
    mkdirSync(outside);
    writeFileSync(join(outside, "secret"), "x");
    const tree = join(root, "tree");
    mkdirSync(join(tree, "sub"), { recursive: true });
    writeFileSync(join(tree, "sub", "f"), "y");
    symlinkSync(outside, join(tree, "link-to-dir"));
    symlinkSync(join(outside, "secret"), join(tree, "sub", "link-to-file"));
    chownTree(tree, 4242, 4243);
    expect(statSync(join(tree, "sub", "f")).uid).toBe(4242);
    expect(lstatSync(join(tree, "link-to-dir")).uid).toBe(4242);
    expect(statSync(outside).uid).toBe(0);
    expect(statSync(join(outside, "secret")).uid).toBe(0);
    // A folder swapped for a link before the walk reaches it is not followed either.
    expect(() => chownTree(join(tree, "link-to-dir"), 4242, 4243)).toThrow(/ELOOP|ENOTDIR/);
    expect(statSync(outside).uid).toBe(0);
  });

  it("a Docker config lives only while its command runs; leftovers of a crash are removed", async () => {
    const ws = tmp();
    mkdirSync(join(ws, "w1"));
    let seen = "";
    await withDockerConfig(
      join(ws, "w1"),
      { "r:5000": { username: "u", password: "p4ssword" } },
      async (env) => {
        seen = env.DOCKER_CONFIG;
        expect(readdirSync(seen)).toEqual(["config.json"]);
        expect(statSync(join(seen, "config.json")).mode & 0o777).toBe(0o600);
      },
    );
    expect(() => statSync(seen)).toThrow();
    await expect(
      withDockerConfig(join(ws, "w1"), {}, async () => {
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(readdirSync(join(ws, "w1"))).toEqual([]);
    mkdirSync(join(ws, "w1", "docker-config-abc"));
    writeFileSync(join(ws, "w1", "docker-config-abc", "config.json"), "{}");
    writeFileSync(join(ws, "w1", "status.json"), "{}");
    expect(removeLeftoverDockerConfigs(ws)).toEqual([join(ws, "w1", "docker-config-abc")]);
    expect(readdirSync(join(ws, "w1"))).toEqual(["status.json"]);
  });
});
