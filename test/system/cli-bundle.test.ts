// The bundled CLIs (what npm's bin and cloud-init run) answer as their sources do.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
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

  // bin/berth (npm's bin) starts `validate` from the build's V8 startup snapshot (cli/snapshot.ts).
  const launch = (root: string, args: string[], cwd?: string) =>
    run(join(root, "bin", "berth"), args, {
      allowFailure: true,
      env: { NODE_OPTIONS: undefined },
      ...(cwd ? { cwd } : {}),
    });
  /** A copy of the CLI's files in a folder of its own: bin/berth, the bundle and its blob. */
  const copyOf = (withPlainPath: boolean, bundle?: (text: string) => string) => {
    const root = mkdtempSync(join(tmpdir(), "berth-launcher-"));
    mkdirSync(join(root, "bin"));
    mkdirSync(join(root, "dist"));
    copyFileSync(join(REPO_ROOT, "bin", "berth"), join(root, "bin", "berth"));
    if (withPlainPath) copyFileSync(join(REPO_ROOT, "bin", "berth.js"), join(root, "bin", "berth.js"));
    const text = readFileSync(join(REPO_ROOT, "dist", "berth.js"), "utf8");
    writeFileSync(join(root, "dist", "berth.js"), bundle ? bundle(text) : text);
    copyFileSync(join(REPO_ROOT, "dist", "berth.blob"), join(root, "dist", "berth.blob"));
    return root;
  };

  it("bin/berth validate answers as bin/berth.js does: output, problems, warnings, exit code", async () => {
    const dir = mkdtempSync(join(tmpdir(), "berth-bin-"));
    writeFileSync(join(dir, ".env"), "TAG=1.2\n");
    writeFileSync(
      join(dir, "compose.yaml"),
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Compose interpolation in the file
      "services:\n  web:\n    image: nginx:${TAG}\n    pull_policy: always\n    environment:\n      A: ${B:-b}\n",
    );
    writeFileSync(join(dir, "bad.yaml"), "services:\n  web:\n    image: x\n    privileged: true\n  : [\n");
    for (const args of [
      ["validate", "compose.yaml"],
      ["validate", "compose.yaml", "--var", "B=from-var"],
      ["validate", "bad.yaml"],
      ["validate", "missing.yaml"],
      ["validate", "--help"],
      ["validate"],
    ]) {
      const plain = await run("node", [join(REPO_ROOT, "bin", "berth.js"), ...args], {
        allowFailure: true,
        cwd: dir,
      });
      const launched = await launch(REPO_ROOT, args, dir);
      expect({ args, exitCode: launched.exitCode, stdout: launched.stdout, stderr: launched.stderr }).toEqual(
        {
          args,
          exitCode: plain.exitCode,
          stdout: plain.stdout,
          stderr: plain.stderr,
        },
      );
    }
    expect((await launch(REPO_ROOT, ["--version"])).stdout).toMatch(/^berth \d/);
  });

  it("bin/berth validate runs from the snapshot, without loading bin/berth.js", async () => {
    const root = copyOf(false);
    const r = await launch(root, [
      "validate",
      join(REPO_ROOT, "stacks", "local", "app", "compose.yaml"),
      "--var",
      "BASE_IMAGE=base",
    ]);
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout)).toHaveProperty("services");
  });

  it("a blob left from another bundle never runs: bin/berth runs the bundle now in dist/", async () => {
    const root = copyOf(true, (text) => {
      expect(text).toContain("usage: berth validate FILE");
      return text.replace("usage: berth validate FILE", "usage: berth validate (rebuilt) FILE");
    });
    const r = await launch(root, ["validate", "--help"]);
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^usage: berth validate \(rebuilt\) FILE/);
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
