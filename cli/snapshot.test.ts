import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FALL_BACK, SNAPSHOT_COMMANDS, snapshotDecision } from "./snapshot";

const held = "a".repeat(64);
const sha = (found: string | undefined) => () => found;

describe("what a process started from the CLI's snapshot runs", () => {
  it("runs the command when the bundle at the path is the one the snapshot holds", () => {
    expect(snapshotDecision(["/b/berth.js", "validate", "c.yaml", "--var", "A=1"], held, sha(held))).toEqual({
      run: ["validate", "c.yaml", "--var", "A=1"],
    });
  });

  it("falls back when the bundle changed since the snapshot was made, or is gone", () => {
    expect(snapshotDecision(["/b/berth.js", "validate", "c.yaml"], held, sha("b".repeat(64)))).toHaveProperty(
      "fallBack",
    );
    expect(snapshotDecision(["/b/berth.js", "validate", "c.yaml"], held, sha(undefined))).toHaveProperty(
      "fallBack",
    );
  });

  it("falls back for a command the snapshot does not serve, and without a command or bundle", () => {
    for (const argv of [
      ["/b/berth.js", "render", "c.yaml"],
      ["/b/berth.js", "--help"],
      ["/b/berth.js"],
      [],
    ]) {
      expect(snapshotDecision(argv, held, sha(held))).toHaveProperty("fallBack");
    }
  });

  it("bin/berth starts the snapshot for the same commands, with 14 as the fall-back code", () => {
    const launcher = readFileSync(join(__dirname, "..", "bin", "berth"), "utf8");
    const served = [...launcher.matchAll(/"\$\{1-\}" = ([a-z-]+)/g)].map((m) => m[1]);
    expect(served).toEqual([...SNAPSHOT_COMMANDS]);
    expect(launcher).toContain(`if [ "$code" -ne ${FALL_BACK} ]`);
  });

  it("bin/berth starts Node.js with the V8 flags scripts/build.sh made the blob with", () => {
    const launcher = readFileSync(join(__dirname, "..", "bin", "berth"), "utf8");
    const build = readFileSync(join(__dirname, "..", "scripts", "build.sh"), "utf8");
    const flags = (text: string, what: RegExp) => text.match(what)?.[1]?.trim();
    const atRun = flags(launcher, /node (.*)--snapshot-blob "\$root/);
    expect(atRun).toBeDefined();
    expect(flags(build, /node (.*)--snapshot-blob dist\/berth\.blob --build-snapshot/)).toBe(atRun);
  });
});
