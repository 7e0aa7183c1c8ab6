// A first apply's restore into an empty volume, with a fake restic that writes the snapshot's
// files where it is told: the order its crash safety rests on (the data flushed before the folder
// takes the volume's name) and the removal of what a killed restore left beside the volume.
// test/system/backup-restore-crash.test.ts cuts the real agent's restore at these points.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import type { NodeBackup } from "../../contract/backup/schema";
import { createLogger } from "../../lib/log";
import { recordingRunner } from "../testing/recording-runner";
import { Backups, type ResticRunner } from "./backups";

const SECRETS = { pw: "pw-1", kid: "kid-1", sk: "sk-1" };

function setup() {
  const root = mkdtempSync(join(tmpdir(), "berth-restore-order-"));
  const device = join(root, "volumes", "data", "data");
  mkdirSync(device, { recursive: true });
  const b: NodeBackup = {
    repository: "s3:http://s3.test/bucket/shop",
    region: "us-east-1",
    pruneSchedule: "0 3 * * *",
    checkSchedule: "0 4 * * 0",
    restoreOnFirstApply: true,
    secrets: { password: "pw", accessKeyId: "kid", secretAccessKey: "sk" },
    volumes: [{ name: "data", device, schedule: "0 * * * *", retention: { last: 3 }, stop: [] }],
  };
  const seen: string[] = [];
  // restic restore: the snapshot's file under --target.
  const restic: ResticRunner = async (cmd) => {
    const target = cmd.args[cmd.args.indexOf("--target") + 1] as string;
    seen.push(`restic into ${target.slice(dirname(device).length + 1).replace(/-\d+-\d+$/, "-…")}`);
    mkdirSync(join(target, "files"), { recursive: true });
    writeFileSync(join(target, "files", "note"), "from the snapshot");
    return { command: "restic", exitCode: 0, stdout: "", stderr: "" };
  };
  const log = createLogger("restore-order-test");
  log.level = "silent";
  const backups = new Backups({
    stateRoot: join(root, "state"),
    docker: recordingRunner().run,
    restic,
    log,
    onStep: (step) => {
      const note = join(device, "files", "note");
      seen.push(`${step}: volume ${existsSync(note) ? readFileSync(note, "utf8") : "empty"}`);
    },
  });
  return { device, b, backups, seen };
}

describe("a first apply's restore into an empty volume", () => {
  it("flushes the restored data before the folder takes the volume's name", async () => {
    const t = setup();
    const report = await t.backups.restore("shop", t.b, SECRETS, { reason: "first-apply" });
    expect(report.volumes).toMatchObject([{ volume: "data", action: "restored" }]);
    expect(t.seen).toEqual([
      "restic into data.restore-…",
      "restore:downloaded: volume empty",
      "restore:flushed: volume empty",
      "restore:moved: volume from the snapshot",
    ]);
  });

  it("removes the partial restores a killed agent left beside the volume, and nothing else", async () => {
    const t = setup();
    const parent = dirname(t.device);
    mkdirSync(join(parent, "data.restore-4242-1700000000000", "files"), { recursive: true });
    writeFileSync(join(parent, "data.restore-4242-1700000000000", "files", "note"), "half");
    mkdirSync(join(parent, "data.replaced-4242-1700000000000"));
    writeFileSync(join(parent, "other"), "kept");
    await t.backups.restore("shop", t.b, SECRETS, { reason: "first-apply" });
    expect(readdirSync(parent).sort()).toEqual(["data", "data.replaced-4242-1700000000000", "other"]);
    expect(readFileSync(join(t.device, "files", "note"), "utf8")).toBe("from the snapshot");
  });
});
