// Untrusted workspaces are contained (issue 19), with real parts: the Docker Engine, the real
// devcontainer CLI, the registry, git, and the agent's workspace executor. One untrusted branch
// per escape, each refused with its reason before anything of it runs on the node; a trusted
// workspace keeps its freedom.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ISOLATED_BUILDER_DEFAULTS } from "../../contract/node/agent-config";
import { createLogger } from "../../lib/log";
import { run } from "../../lib/process";
import { WorkspaceExecutor, type WorkspaceSpec } from "../../node-agent/workspace/executor";
import { BASE_IMAGE, commit, git, removeImagesNamed, removeStateVolumes } from "./support/devcontainer-repo";
import { REGISTRY } from "./support/test-app-image";

const RUN = Math.random().toString(36).slice(2, 8);
const NAMESPACE = `${REGISTRY}/berth-wsc-${RUN}`;
const login = {
  username: process.env.BERTH_REGISTRY_USER ?? "",
  password: process.env.BERTH_REGISTRY_PASSWORD ?? "",
};
const log = createLogger("workspace-containment-test");
log.level = "warn";
const stateRoot = mkdtempSync(join(tmpdir(), "berth-wsc-state-"));
// Untrusted builds run in a builder per workspace, on this run's own builders' network.
const BUILDERS = { image: ISOLATED_BUILDER_DEFAULTS.image, network: `berth-builder-test-${RUN}` };
const ex = new WorkspaceExecutor({
  stateRoot,
  log,
  stepTimeoutSeconds: 600,
  pushTimeoutSeconds: 300,
  isolatedBuilder: BUILDERS,
});
const roots: string[] = [stateRoot];
const ids: string[] = [];

const SMALL_DOCKERFILE = `FROM ${BASE_IMAGE}\nRUN echo small > /etc/berth-small\n`;

/** A repository whose `main` is harmless and whose `contrib` branch carries `files`. */
async function branchRepo(files: Record<string, string>): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "berth-wsc-repo-"));
  roots.push(dir);
  await git(dir, "init", "--quiet", "--initial-branch", "main");
  await commit(
    dir,
    {
      ".devcontainer/devcontainer.json": JSON.stringify({ build: { dockerfile: "Dockerfile" } }),
      ".devcontainer/Dockerfile": SMALL_DOCKERFILE,
    },
    "main",
  );
  await git(dir, "checkout", "--quiet", "-b", "contrib");
  await commit(dir, files, "contrib");
  return dir;
}

function spec(repo: string, name: string, o: Partial<WorkspaceSpec> = {}): WorkspaceSpec {
  const id = `wsc-${RUN}-${name}`;
  ids.push(id);
  return {
    id,
    repository: repo,
    repositoryName: `acme/contain-${RUN}`,
    branch: "contrib",
    defaultBranch: "main",
    trusted: false,
    allowInitializeCommand: false,
    defaultImage: BASE_IMAGE,
    registry: { namespace: NAMESPACE, login },
    ...o,
  };
}

const containers = async (id: string) =>
  (await run("docker", ["ps", "-aq", "--filter", `label=berth.workspace=${id}`])).stdout.trim();

/** Brings an untrusted branch up and expects it refused for `property`, found in `source`. */
async function expectRefused(s: WorkspaceSpec, property: string, source: RegExp) {
  const r = await ex.up(s);
  await r.background;
  expect(r.status.state, JSON.stringify(r.status)).toBe("failed");
  expect(r.status.refusals?.map((x) => x.property)).toContain(property);
  const refusal = r.status.refusals!.find((x) => x.property === property)!;
  expect(refusal.source).toMatch(source);
  expect(r.status.error).toMatch(/mark the workspace trusted in the stack/);
  expect(r.status.push).toBe("none");
  // Nothing of it runs: no container of the workspace.
  expect(await containers(s.id)).toBe("");
  return r.status;
}

afterAll(async () => {
  for (const id of ids) await ex.down(id).catch(() => undefined);
  await removeImagesNamed([`berth-wsc-${RUN}`, `contain-${RUN}`]);
  await removeStateVolumes(RUN);
  await run("docker", ["network", "rm", BUILDERS.network], { allowFailure: true });
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

describe("an untrusted branch cannot reach the node", () => {
  it("runArgs with --privileged and a mount of /: refused before the build", async () => {
    const repo = await branchRepo({
      ".devcontainer/devcontainer.json": JSON.stringify({
        build: { dockerfile: "Dockerfile" },
        runArgs: ["--privileged", "--pid=host", "-v", "/:/host"],
      }),
    });
    const s = await expectRefused(spec(repo, "runargs"), "runArgs", /^\.devcontainer\/devcontainer\.json$/);
    expect(s.phases.map((p) => p.phase)).toEqual(["cloning"]);
    expect(s.error).toMatch(/"runArgs" in \.devcontainer\/devcontainer\.json is passed to `docker run`/);
  });

  it("mounts with a bind of /: refused", async () => {
    const repo = await branchRepo({
      ".devcontainer/devcontainer.json": JSON.stringify({
        build: { dockerfile: "Dockerfile" },
        mounts: ["source=/,target=/host,type=bind"],
      }),
    });
    const s = await expectRefused(spec(repo, "mounts"), "mounts", /devcontainer\.json/);
    expect(s.refusals![0]!.problem).toMatch(/bind mount of "\/"/);
  });

  it("build.options with --build-context to a node folder: refused, nothing built", async () => {
    const repo = await branchRepo({
      ".devcontainer/devcontainer.json": JSON.stringify({
        build: { dockerfile: "Dockerfile", options: ["--build-context", "host=/etc"] },
      }),
      ".devcontainer/Dockerfile": `${SMALL_DOCKERFILE}COPY --from=host shadow /stolen-shadow\n`,
    });
    const s = await expectRefused(spec(repo, "options"), "build", /devcontainer\.json/);
    expect(s.refusals![0]!.problem).toMatch(/options/);
    expect(s.phases.map((p) => p.phase)).not.toContain("building");
  });

  it("a Compose-based config: refused", async () => {
    const repo = await branchRepo({
      ".devcontainer/devcontainer.json": JSON.stringify({
        dockerComposeFile: "compose.yaml",
        service: "dev",
        workspaceFolder: "/w",
      }),
      ".devcontainer/compose.yaml": `services:\n  dev:\n    image: ${BASE_IMAGE}\n    privileged: true\n    volumes: ["/:/host"]\n    command: sleep infinity\n`,
    });
    await expectRefused(spec(repo, "compose"), "dockerComposeFile", /devcontainer\.json/);
  });

  it("privileged set through the image label by the branch's Dockerfile: refused after the build, before it starts", async () => {
    // The branch's Dockerfile builds FROM an image whose devcontainer.metadata label asks for a
    // privileged container (one it pushed before, or a trusted workspace's image); the CLI
    // merges that label into the image it starts.
    const evilBase = `${NAMESPACE}/evil-base:${RUN}`;
    const ctx = mkdtempSync(join(tmpdir(), "berth-wsc-evil-"));
    roots.push(ctx);
    writeFileSync(
      join(ctx, "Dockerfile"),
      `FROM ${BASE_IMAGE}\nLABEL devcontainer.metadata='[{"privileged":true,"capAdd":["SYS_ADMIN"]}]'\n`,
    );
    // (berth's Docker config: the base image is pulled when this engine lacks it. Pushed: the
    // branch's build runs in its own builder, which pulls what it builds FROM.)
    const asBerth = { env: { DOCKER_CONFIG: process.env.BERTH_DOCKER_CONFIG ?? "" } };
    await run("docker", ["build", "--quiet", "-t", evilBase, ctx], asBerth);
    await run("docker", ["push", "--quiet", evilBase], asBerth);
    const repo = await branchRepo({
      ".devcontainer/Dockerfile": `FROM ${evilBase}\nLABEL devcontainer.metadata='[{"privileged":true}]'\nRUN echo label > /etc/berth-label\n`,
    });
    const s = await expectRefused(spec(repo, "label"), "privileged", /^the label devcontainer\.metadata of /);
    expect(s.phases.map((p) => [p.phase, p.outcome])).toEqual([
      ["cloning", "ok"],
      ["building", "ok"],
      ["checking", "failed"],
    ]);
  });

  it("a Dockerfile RUN cannot reach the Docker socket or the node's files", async () => {
    // A file of the node, which the branch's RUN looks for.
    const marker = `/tmp/berth-node-marker-${RUN}`;
    writeFileSync(marker, "node\n");
    roots.push(marker);
    const repo = await branchRepo({
      ".devcontainer/Dockerfile": [
        `FROM ${BASE_IMAGE}`,
        `RUN (test -S /var/run/docker.sock && echo SOCKET-REACHED || echo no-docker-socket) && (test -e ${marker} && echo NODE-FILES-REACHED || echo no-node-files)`,
        "",
      ].join("\n"),
    });
    const r = await ex.up(spec(repo, "run"));
    await r.background;
    expect(r.status.state, r.status.error).toBe("running");
    const buildLog = readFileSync(r.status.buildLog!, "utf8");
    // (The log repeats the RUN line itself: only the step's output lines, `#N <seconds> <text>`, count.)
    expect(buildLog).toMatch(/^#\d+ [\d.]+ no-docker-socket$/m);
    expect(buildLog).toMatch(/^#\d+ [\d.]+ no-node-files$/m);
    expect(buildLog).not.toMatch(/^#\d+ [\d.]+ (SOCKET|NODE-FILES)-REACHED$/m);
    // In the workspace's own BuildKit container (workspace-node-isolation.test.ts has the rest).
    expect(buildLog).toContain(`building with "berth-builder-${r.status.workspaceId}" instance`);
    // The container's limits come from the declaration's defaults.
    const limits = await run("docker", [
      "inspect",
      "--format",
      "{{.HostConfig.NanoCpus}} {{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.HostConfig.Privileged}}",
      r.status.containerId!,
    ]);
    expect(limits.stdout.trim()).toBe(`2000000000 ${4096 * 1024 * 1024} 4096 false`);
  });
});

describe("a trusted workspace keeps its freedom", () => {
  it("runArgs still reach docker run", async () => {
    const repo = await branchRepo({
      ".devcontainer/devcontainer.json": JSON.stringify({
        build: { dockerfile: "Dockerfile" },
        runArgs: ["--label", `berth.test.trusted-runargs=${RUN}`, "--memory", "1g"],
      }),
    });
    const r = await ex.up(spec(repo, "trusted", { trusted: true }));
    await r.background;
    expect(r.status.state, r.status.error).toBe("running");
    const inspect = await run("docker", [
      "inspect",
      "--format",
      '{{index .Config.Labels "berth.test.trusted-runargs"}} {{.HostConfig.Memory}}',
      r.status.containerId!,
    ]);
    // Its own runArgs come after the agent's limits, and win.
    expect(inspect.stdout.trim()).toBe(`${RUN} ${1024 * 1024 * 1024}`);
  });
});
