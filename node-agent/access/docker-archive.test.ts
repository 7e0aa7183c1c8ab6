import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { containerPath, fitsUstar, tarHeader, tarTrailer } from "./docker-archive";

describe("the one-file tar the engine extracts", () => {
  it("is read back by tar: name, bytes and mode", () => {
    const dir = mkdtempSync(join(tmpdir(), "berth-tar-"));
    try {
      for (const size of [0, 1, 511, 512, 513, 70_000]) {
        const data = Buffer.alloc(size, 0x61 + (size % 26));
        const tar = Buffer.concat([
          tarHeader({ name: `f-${size}.bin`, size, mode: 0o640, uid: 1000, gid: 1000 }),
          data,
          tarTrailer(size),
        ]);
        expect(tar.length % 512).toBe(0);
        writeFileSync(join(dir, "a.tar"), tar);
        const r = spawnSync("tar", ["-xf", "a.tar", "--no-same-owner"], { cwd: dir, encoding: "utf8" });
        expect(r.stderr).toBe("");
        expect(readFileSync(join(dir, `f-${size}.bin`)).equals(data)).toBe(true);
        expect(statSync(join(dir, `f-${size}.bin`)).mode & 0o777).toBe(0o640);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("takes names up to 100 bytes and sizes below 8 GiB; paths resolve in the working tree", () => {
    expect(fitsUstar("a".repeat(100), 1)).toBe(true);
    expect(fitsUstar("a".repeat(101), 1)).toBe(false);
    expect(fitsUstar("ok", 8 * 1024 ** 3)).toBe(false);
    expect(() => tarHeader({ name: "x".repeat(101), size: 0, mode: 0o644, uid: 0, gid: 0 })).toThrow();
    expect(containerPath("/workspaces/app", "build/out.bin")).toEqual({
      dir: "/workspaces/app/build",
      name: "out.bin",
    });
    expect(containerPath("/workspaces/app", "/tmp/x.bin")).toEqual({ dir: "/tmp", name: "x.bin" });
    expect(containerPath("/workspaces/app", "../up.txt")).toEqual({ dir: "/workspaces", name: "up.txt" });
  });
});
