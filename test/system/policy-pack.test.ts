// berth's policy pack under the real engine: `pulumi preview --policy-pack policies/run-pack` of a
// small stack whose dynamic resources look like berth's, with one rule broken at a time. Asserts
// the violations the engine reports (policy events of the JSON event stream, and the text
// report) and the exit code. The cloud rules (firewalls, volumes, node sizes) need provider
// plugins that cannot be installed here: their unit tests call the policies directly.
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../../lib/process";
import { PulumiProject, REPO_ROOT } from "./support/pulumi-project";

const PACK = join(REPO_ROOT, "policies", "run-pack");

interface PolicyEvent {
  policyName: string;
  enforcementLevel: string;
  message: string;
  resourceUrn?: string;
}

describe("the policy pack under the real engine", () => {
  const password = `pw-${randomBytes(12).toString("hex")}`;
  const project = new PulumiProject("policy-stack");

  beforeAll(async () => {
    await project.init({}, { registryPassword: password });
  });
  afterAll(() => project.remove());

  /** A preview with the pack: exit code, policy events (streamed JSON), and the text report. */
  async function preview(violate: string[]) {
    await project.pulumi(["config", "set", "violate", violate.join(",")]);
    const json = await run(
      "pulumi",
      ["preview", "--json", "--policy-pack", PACK, "--stack", project.stack, "--non-interactive"],
      {
        cwd: project.dir,
        env: { ...project.env, PULUMI_ENABLE_STREAMING_JSON_PREVIEW: "true" },
        allowFailure: true,
        redact: [password],
        timeoutMs: 240_000,
      },
    );
    const events: PolicyEvent[] = json.stdout
      .split("\n")
      .filter((l) => l.includes('"policyEvent"'))
      .map((l) => JSON.parse(l).policyEvent);
    const text = await project.pulumi(["preview", "--policy-pack", PACK], {
      allowFailure: true,
      redact: [password],
    });
    expect(json.stdout + text.stdout + text.stderr).not.toContain(password);
    return { exitCode: json.exitCode, textExitCode: text.exitCode, events, text: text.stdout + text.stderr };
  }

  const names = (events: PolicyEvent[]) => events.map((e) => `${e.enforcementLevel} ${e.policyName}`).sort();

  it("passes a stack that keeps every rule: exit 0, no violation", async () => {
    const r = await preview([]);
    expect(r.events).toEqual([]);
    expect(r.exitCode).toBe(0);
    expect(r.textExitCode).toBe(0);
  });

  it("refuses a built image given by tag (berth-release-images-pinned, mandatory): exit 1", async () => {
    const r = await preview(["unpinned"]);
    expect(names(r.events)).toEqual(["mandatory berth-release-images-pinned"]);
    expect(r.events[0]?.message).toContain(
      "release of shop: service web: registry.example.com/acme/prod/shop-web:latest is not pinned by digest",
    );
    expect(r.events[0]?.resourceUrn).toMatch(/::shop-release$/);
    expect(r.exitCode).not.toBe(0);
    expect(r.textExitCode).not.toBe(0);
    expect(r.text).toContain("[mandatory]  berth-release-images-pinned");
  });

  it("refuses an image outside the environment's registry namespace: exit 1", async () => {
    const r = await preview(["outside"]);
    expect(names(r.events)).toEqual(["mandatory berth-release-images-pinned"]);
    expect(r.events[0]?.message).toContain("service cache: docker.io/library/redis@sha256:");
    expect(r.events[0]?.message).toContain(
      "outside the environment's registry namespace registry.example.com/acme/prod",
    );
    expect(r.exitCode).not.toBe(0);
  });

  it("refuses registry credentials that are not secret outputs (berth-credentials-secret): exit 1", async () => {
    const r = await preview(["plain-registry"]);
    expect(names(r.events)).toEqual(["mandatory berth-credentials-secret"]);
    expect(r.events[0]?.message).toContain(
      "release 'shop-release' carries credentials in registry without marking them secret",
    );
    expect(r.exitCode).not.toBe(0);
  });

  it("only warns about a service without a health check or a memory limit (advisory): exit 0", async () => {
    const r = await preview(["no-health", "no-memory"]);
    expect(names(r.events)).toEqual([
      "advisory berth-release-health-check",
      "advisory berth-release-memory-limit",
    ]);
    expect(r.events.map((e) => e.message).join("\n")).toContain("service cache has no health check");
    expect(r.events.map((e) => e.message).join("\n")).toContain("service cache has no memory limit");
    expect(r.exitCode).toBe(0);
    expect(r.textExitCode).toBe(0);
    expect(r.text).toContain("[advisory]  berth-release-memory-limit");
  });
});
