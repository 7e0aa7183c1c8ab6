// The bundled CLIs (what npm's bin and cloud-init run) answer as their sources do.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { run } from "../../lib/process";
import { REPO_ROOT } from "./support/pulumi-project";

describe("bin/berth.js and bin/berth-agent.js", () => {
  it("validates: exit 2 and one line per problem for a broken file, never a stack trace", async () => {
    const dir = mkdtempSync(join(tmpdir(), "berth-bin-"));
    const bad = join(dir, "compose.yaml");
    writeFileSync(bad, "services:\n  web:\n    image: x\n    privileged: true\n  : [\n");
    const r = await run("node", [join(REPO_ROOT, "bin", "berth.js"), "validate", bad], {
      allowFailure: true,
    });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^${bad}:\\d+:\\d+ `, "m"));
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it("berth-agent answers --help and refuses a missing config with one line", async () => {
    const help = await run("node", [join(REPO_ROOT, "bin", "berth-agent.js"), "--help"]);
    expect(help.stdout).toMatch(/^usage: berth-agent COMMAND/);
    const r = await run(
      "node",
      [join(REPO_ROOT, "bin", "berth-agent.js"), "status", "--config", "/nonexistent/agent.json"],
      {
        allowFailure: true,
      },
    );
    expect(r.exitCode).toBe(2);
    expect(r.stderr.trim()).toBe(
      "berth-agent: /nonexistent/agent.json: cannot read the agent's config (ENOENT)",
    );
  });
});
