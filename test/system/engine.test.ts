// The real Pulumi engine on a file backend: preview, up, stack output, stack export and
// destroy of a stack with a component resource, a dynamic resource and a secret config value.
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../../lib/process";
import { PulumiProject, REPO_ROOT } from "./support/pulumi-project";

describe("the real Pulumi engine", () => {
  const token = `tok-${randomBytes(12).toString("hex")}`;
  const outDir = mkdtempSync(join(tmpdir(), "berth-engine-out-"));
  const project = new PulumiProject("minimal-stack");
  const file = join(outDir, "hello.txt");

  beforeAll(async () => {
    await project.init({ dir: outDir }, { token });
  });
  afterAll(() => {
    project.remove();
    rmSync(outDir, { recursive: true, force: true });
  });

  it("answers `pulumi version` from the project's tool path", async () => {
    const which = await run("sh", ["-c", "command -v pulumi"]);
    const version = await run("pulumi", ["version"]);
    expect(version.stdout.trim()).toBe(process.env.BERTH_PULUMI_VERSION);
    if (!process.env.BERTH_USING_SYSTEM_PULUMI) expect(which.stdout).toContain("berth/pulumi-");
  });

  it("previews the component and the dynamic resource without creating anything", async () => {
    const r = await project.pulumi(["preview", "--diff"], { redact: [token] });
    expect(r.stdout).toContain("berth:test:Greeter");
    expect(r.stdout).toContain("pulumi-nodejs:dynamic:Resource");
    expect(r.stdout).not.toContain(token);
    expect(existsSync(file)).toBe(false);
  });

  it("creates the resources with `pulumi up`, and the dynamic resource has its effect", async () => {
    const r = await project.pulumi(["up", "--yes"], { redact: [token] });
    expect(r.stdout).not.toContain(token);
    expect(readFileSync(file, "utf8")).toBe(`token=${token}`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it("shows outputs, the secret one only when asked", async () => {
    const plain = JSON.parse((await project.pulumi(["stack", "output", "--json"])).stdout);
    expect(plain.path).toBe(file);
    expect(plain.bytes).toBe(`token=${token}`.length);
    expect(plain.token).toBe("[secret]");
    const shown = JSON.parse((await project.pulumi(["stack", "output", "--json", "--show-secrets"])).stdout);
    expect(shown.token).toBe(token);
  });

  it("keeps no plain secret in the exported state", async () => {
    const state = (await project.pulumi(["stack", "export"])).stdout;
    expect(JSON.parse(state).deployment.resources.length).toBeGreaterThanOrEqual(3);
    expect(state).not.toContain(token);
    const raw = readFileSync(
      join(project.stateDir, ".pulumi", "stacks", "berth-minimal", "test.json"),
      "utf8",
    );
    expect(raw).not.toContain(token);
  });

  it("refuses the stack under the policy pack when a berth dynamic resource is unversioned", async () => {
    await project.pulumi(["config", "set", "versioned", "false"]);
    const r = await project.pulumi(["preview", "--policy-pack", join(REPO_ROOT, "policies", "run-pack")], {
      allowFailure: true,
      redact: [token],
    });
    expect(r.exitCode).not.toBe(0);
    const out = r.stdout + r.stderr;
    expect(out).toContain("berth-dynamic-resources-versioned");
    expect(out).toMatch(/mandatory/);
    expect(out).toContain("test-file 'hello-file' has no berthProviderVersion");
    await project.pulumi(["config", "set", "versioned", "true"]);
    const ok = await project.pulumi(["preview", "--policy-pack", join(REPO_ROOT, "policies", "run-pack")], {
      redact: [token],
    });
    expect(ok.exitCode).toBe(0);
  });

  it("removes everything with `pulumi destroy`, running the dynamic resource's delete", async () => {
    await project.pulumi(["destroy", "--yes"], { redact: [token] });
    expect(existsSync(file)).toBe(false);
    const state = JSON.parse((await project.pulumi(["stack", "export"])).stdout);
    expect(state.deployment.resources ?? []).toHaveLength(0);
  });
});
