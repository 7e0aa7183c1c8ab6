import { describe, expect, it } from "vitest";
import {
  describeResticFailure,
  isMissingRepository,
  newestPerVolume,
  parseBackupSummary,
  parseResticStatus,
  parseSnapshots,
  restic,
  resticEnv,
  retentionFlags,
} from "./restic";

describe("restic calls as data", () => {
  it("backs a volume up from inside its folder, tagged with the volume, under the environment's host", () => {
    expect(restic.backup("us-east-1", "shop", "db", "/mnt/berth-env-shop/volumes/db/data")).toEqual({
      args: [
        "--option",
        "s3.region=us-east-1",
        "--option",
        "s3.bucket-lookup=path",
        "backup",
        "--json",
        "--host",
        "berth-shop",
        "--tag",
        "berth-volume=db",
        ".",
      ],
      cwd: "/mnt/berth-env-shop/volumes/db/data",
    });
  });

  it("forgets per volume with the declared retention, grouped by host and tags", () => {
    expect(restic.forget("auto", "shop", "db", { daily: 7, last: 3, monthly: 6 }).args.slice(4)).toEqual([
      "forget",
      "--prune",
      "--host",
      "berth-shop",
      "--tag",
      "berth-volume=db",
      "--group-by",
      "host,tags",
      "--keep-last",
      "3",
      "--keep-daily",
      "7",
      "--keep-monthly",
      "6",
    ]);
    expect(retentionFlags({ weekly: 4 })).toEqual(["--keep-weekly", "4"]);
  });

  it("restores a volume's newest snapshot of the environment without taking restic's lock", () => {
    expect(restic.restoreLatest("auto", "shop", "db", "/t").args.slice(4)).toEqual([
      "--no-lock",
      "restore",
      "latest",
      "--host",
      "berth-shop",
      "--tag",
      "berth-volume=db",
      "--target",
      "/t",
    ]);
    // A chosen snapshot replaces data: it takes the lock.
    expect(restic.restore("auto", "abc", "/t").args).not.toContain("--no-lock");
  });

  it("puts credentials only in the environment, never in arguments", () => {
    const a = {
      repository: "s3:http://127.0.0.1:9000/b/shop",
      region: "auto",
      password: "pw-secret",
      accessKeyId: "AKID",
      secretAccessKey: "sk-secret",
      cacheDir: "/var/lib/berth/restic-cache",
    };
    expect(resticEnv(a)).toEqual({
      RESTIC_REPOSITORY: a.repository,
      RESTIC_PASSWORD: "pw-secret",
      AWS_ACCESS_KEY_ID: "AKID",
      AWS_SECRET_ACCESS_KEY: "sk-secret",
      RESTIC_CACHE_DIR: a.cacheDir,
    });
    for (const call of [restic.init("auto"), restic.check("auto"), restic.restore("auto", "abc", "/t")])
      expect(call.args.join(" ")).not.toMatch(/secret|AKID/);
  });
});

describe("parsing what restic prints", () => {
  it("reads the backup summary", () => {
    const out = `{"message_type":"status","percent_done":1}\n{"message_type":"summary","files_new":2,"files_changed":1,"data_added":1048,"total_bytes_processed":5,"snapshot_id":"34cadbc4"}\n`;
    expect(parseBackupSummary(out)).toEqual({
      snapshotId: "34cadbc4",
      bytesAdded: 1048,
      filesNew: 2,
      filesChanged: 1,
      totalBytes: 5,
    });
    expect(() => parseBackupSummary("")).toThrow(/no summary/);
  });

  it("names the files a backup could not read (exit 3: the snapshot was made)", async () => {
    const { unreadItems } = await import("./restic");
    expect(
      unreadItems(
        '{"message_type":"error","error":{},"during":"archival","item":"app.db-wal"}\n{"message_type":"summary","snapshot_id":"x"}\nnot json "error"\n',
      ),
    ).toEqual(["app.db-wal"]);
  });

  it("lists snapshots oldest first and picks the newest per volume", () => {
    const s = parseSnapshots(
      JSON.stringify([
        { id: "b".repeat(64), short_id: "bbbbbbbb", time: "2026-01-02T00:00:00Z", tags: ["berth-volume=db"] },
        { id: "a".repeat(64), short_id: "aaaaaaaa", time: "2026-01-01T00:00:00Z", tags: ["berth-volume=db"] },
        { id: "c".repeat(64), time: "2026-01-01T12:00:00Z", tags: ["berth-volume=files"] },
      ]),
    );
    expect(s.map((x) => x.shortId)).toEqual(["aaaaaaaa", "cccccccc", "bbbbbbbb"]);
    const newest = newestPerVolume(s);
    expect(newest.get("db")?.shortId).toBe("bbbbbbbb");
    expect(newest.get("files")?.shortId).toBe("cccccccc");
    expect(parseSnapshots("null\n")).toEqual([]);
  });

  it("reads which snapshot a restore of latest picked, and tells when there was none", async () => {
    const { parseRestoring, isNoSnapshot } = await import("./restic");
    expect(
      parseRestoring(
        "restoring <Snapshot b62424be of [/tmp/v] at 2026-11-25 10:33:35.808086296 +0000 UTC by root@berth-e> to /tmp/out\n",
      ),
    ).toEqual({ shortId: "b62424be", time: "2026-11-25T10:33:35.808Z" });
    expect(parseRestoring("nothing")).toBeUndefined();
    expect(
      isNoSnapshot("latest snapshot for criteria not found: no snapshot found Paths:[] Hosts:[berth-e]"),
    ).toBe(true);
  });

  it("tells a missing repository, a wrong password and an unreachable bucket apart", () => {
    const missing =
      "Fatal: unable to open config file: Stat: The specified key does not exist.\nIs there a repository at the following location?";
    expect(isMissingRepository(missing)).toBe(true);
    expect(isMissingRepository("Fatal: wrong password or no key found")).toBe(false);
    expect(describeResticFailure("Fatal: wrong password or no key found\n", "s3:x")).toMatch(
      /^wrong repository password/,
    );
    expect(
      describeResticFailure(
        'Fatal: unable to open config file: Stat: Get "http://127.0.0.1:1/b/?location=": dial tcp 127.0.0.1:1: connect: connection refused',
        "s3:http://127.0.0.1:1/b/shop",
      ),
    ).toMatch(/^the bucket is unreachable at s3:http:\/\/127.0.0.1:1\/b\/shop: .*connection refused/);
  });
});

describe("restic's progress", () => {
  it("reads the status lines of a backup and of a restore (restic 0.17+), nothing else", () => {
    expect(
      parseResticStatus(
        '{"message_type":"status","seconds_elapsed":2,"percent_done":0.25,"total_files":8,"files_done":2,"total_bytes":4000,"bytes_done":1000,"seconds_remaining":6,"current_files":["/a"]}',
      ),
    ).toEqual({
      fraction: 0.25,
      bytesDone: 1000,
      totalBytes: 4000,
      filesDone: 2,
      totalFiles: 8,
      secondsRemaining: 6,
    });
    expect(
      parseResticStatus(
        '{"message_type":"status","seconds_elapsed":1,"percent_done":0.5,"total_files":8,"files_restored":4,"total_bytes":4000,"bytes_restored":2000}',
      ),
    ).toEqual({ fraction: 0.5, bytesDone: 2000, totalBytes: 4000, filesDone: 4, totalFiles: 8 });
    // The first line restic prints has no counts yet.
    expect(
      parseResticStatus('{"message_type":"status","percent_done":0,"total_files":1,"total_bytes":300}'),
    ).toEqual({
      fraction: 0,
      bytesDone: 0,
      totalBytes: 300,
      filesDone: 0,
      totalFiles: 1,
    });
    // The summary that ends a backup is its last progress: 100% of what was processed.
    expect(
      parseResticStatus(
        '{"message_type":"summary","files_new":2,"total_files_processed":2,"total_bytes_processed":20003059,"snapshot_id":"abcdef12"}',
      ),
    ).toEqual({ fraction: 1, bytesDone: 20003059, totalBytes: 20003059, filesDone: 2, totalFiles: 2 });
    expect(parseResticStatus('{"message_type":"summary","snapshot_id":"abcdef12"}')).toBeUndefined();
    expect(parseResticStatus("restoring <Snapshot 1a2b3c4d of [/x] ...> to /t")).toBeUndefined();
    expect(parseResticStatus('{"message_type":"status",')).toBeUndefined();
  });

  it("asks for JSON from a restore only when the progress is shown", () => {
    expect(restic.restore("auto", "abc", "/t").args).not.toContain("--json");
    expect(restic.restore("auto", "abc", "/t", true).args.slice(-5)).toEqual([
      "--json",
      "restore",
      "abc",
      "--target",
      "/t",
    ]);
  });
});
