import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { WorkspaceStatus } from "../../contract/workspace/declaration";
import { cliResult, dockerArchitecture, ranEveryStep, readableCliLog } from "./cli-output";
import { formatStatus, readStatusFile, StatusRecorder } from "./status-recorder";

describe("workspace status", () => {
  it("records each phase with its timing and outcome, in the file and to the reporter, in order", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "berth-status-")), "status.json");
    const seen: WorkspaceStatus[] = [];
    const rec = new StatusRecorder(file, { workspaceId: "w" }, async (s) => {
      await new Promise((r) => setTimeout(r, 5));
      seen.push(s);
    });
    await rec.phase("cloning", async () => new Promise((r) => setTimeout(r, 30)));
    await expect(
      rec.phase("building", async () => {
        throw new Error("devcontainer build: exited with 1\nlast line");
      }),
    ).rejects.toThrow();
    await rec.flush();
    const s = readStatusFile(file)!;
    expect(s.phases.map((p) => [p.phase, p.outcome])).toEqual([
      ["cloning", "ok"],
      ["building", "failed"],
    ]);
    expect(s.phases[0]!.seconds).toBeGreaterThanOrEqual(0.02);
    expect(s.phases[1]!.detail).toBe("devcontainer build: exited with 1");
    expect(s.phase).toBeUndefined();
    expect(seen.map((x) => x.phase)).toEqual(["cloning", undefined, "building", undefined]);
    expect(formatStatus(s)).toMatch(/cloning\s+0\.\d\d s ok/);
  });

  it("a reporter that fails does not fail the workspace", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "berth-status-")), "status.json");
    const errors: unknown[] = [];
    const rec = new StatusRecorder(
      file,
      { workspaceId: "w" },
      () => {
        throw new Error("channel down");
      },
      (e) => errors.push(e),
    );
    await rec.phase("starting", async () => 1);
    await rec.flush();
    expect(errors.length).toBe(2);
    expect(readStatusFile(file)?.phases[0]?.outcome).toBe("ok");
  });

  it("tells a build that ran every step from one that took steps from a cache", () => {
    const ran =
      "#5 [stage 1/3] FROM base\n#5 CACHED\n#6 [stage 2/3] RUN apt-get\n#6 DONE 3.1s\n#7 [stage 3/3] COPY x /x\n#7 DONE 0.0s\n#8 exporting\n#8 CACHED";
    expect(ranEveryStep(ran)).toBe(true);
    expect(ranEveryStep(ran.replace("#6 DONE 3.1s", "#6 CACHED"))).toBe(false);
    expect(ranEveryStep("no steps")).toBe(false);
  });

  it("reads the CLI's result line among its log lines", () => {
    const out =
      '{"type":"text","level":2,"text":"x"}\nnot json\n{"outcome":"success","containerId":"abc","remoteUser":"dev"}\n';
    expect(cliResult(out)).toMatchObject({ containerId: "abc", remoteUser: "dev" });
    expect(cliResult("nothing")).toBeUndefined();
    expect(dockerArchitecture("x64")).toBe("amd64");
    expect(
      readableCliLog(
        '{"type":"text","text":"\\u001b[1m#7 CACHED\\u001b[22m\\r"}\nplain line\n{"outcome":"error"}',
        "stderr text",
      ),
    ).toBe('#7 CACHED\nplain line\nresult: {"outcome":"error"}\nstderr text\n');
    expect(dockerArchitecture("arm64")).toBe("arm64");
  });
});
