// The agent's workspace paths with real parts: `berth-agent workspace up|status|down` (the
// bundled CLI) and the daemon (`berth-agent run`) picking a signed Workspace declaration up
// from a folder channel, reporting its status there, and taking it down when it is withdrawn.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FolderChannelStore } from "../../contract/channel/folder-store";
import { generateSigningKeyPair } from "../../contract/payload";
import {
  sealRegistryLogin,
  signWorkspace,
  type WorkspaceDeclaration,
  workspaceKeys,
  workspaceStatus,
} from "../../contract/workspace/declaration";
import { run } from "../../lib/process";
import { loadOrCreateNodeKeys } from "../../node-agent/node-keys";
import {
  BASE_IMAGE,
  removeImagesNamed,
  removeStateVolumes,
  SHARED_MARKER,
  sampleRepository,
} from "./support/devcontainer-repo";
import { REGISTRY } from "./support/test-app-image";

const RUN = Math.random().toString(36).slice(2, 8);
const NODE = `ws-node-${RUN}`;
const AGENT = join(__dirname, "..", "..", "dist", "berth-agent.js");
const login = {
  username: process.env.BERTH_REGISTRY_USER ?? "",
  password: process.env.BERTH_REGISTRY_PASSWORD ?? "",
};
const root = mkdtempSync(join(tmpdir(), "berth-ws-agent-"));
const stateRoot = join(root, "state");
const channelDir = join(root, "channel");
const configFile = join(root, "agent.json");
const signer = generateSigningKeyPair();
const channel = new FolderChannelStore(channelDir);
let repo: string;
let daemon: ReturnType<typeof import("execa").execa> | undefined;

const agent = (...args: string[]) =>
  run("node", [AGENT, ...args, "--config", configFile], { allowFailure: true, timeoutMs: 600_000 });

function declaration(id: string, generation: number): WorkspaceDeclaration {
  const d: WorkspaceDeclaration = {
    formatVersion: 1,
    workspaceId: id,
    nodeId: NODE,
    generation,
    repository: repo,
    repositoryName: `acme/agent-${RUN}`,
    branch: "main",
    defaultBranch: "main",
    trusted: true,
    allowInitializeCommand: false,
    defaultImage: BASE_IMAGE,
  };
  const { publicKey } = loadOrCreateNodeKeys(stateRoot);
  return {
    ...d,
    registry: {
      namespace: `${REGISTRY}/berth-ws-${RUN}`,
      credentials: sealRegistryLogin(d, login, publicKey),
    },
  };
}

async function channelStatus(id: string) {
  const text = await channel.get(workspaceKeys.status(NODE, id));
  return text ? workspaceStatus.parse(JSON.parse(text)) : undefined;
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 240_000): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const containers = async (id: string) =>
  (await run("docker", ["ps", "-aq", "--filter", `label=berth.workspace=${id}`])).stdout.trim();

beforeAll(async () => {
  repo = await sampleRepository(SHARED_MARKER);
  writeFileSync(
    configFile,
    JSON.stringify({
      nodeId: NODE,
      stateRoot,
      channel: { kind: "folder", path: channelDir },
      trustedKeys: [signer.publicKey],
      pollIntervalSeconds: 1,
      proxy: { bind: "127.0.0.1:0" },
    }),
  );
});

afterAll(async () => {
  if (daemon?.pid) daemon.kill("SIGTERM");
  await daemon?.catch(() => undefined);
  for (const id of [`cli-${RUN}`, `daemon-${RUN}`]) {
    const ids = await containers(id);
    if (ids) await run("docker", ["rm", "-f", ...ids.split("\n")], { allowFailure: true });
  }
  await removeImagesNamed([`berth-ws-${RUN}`]);
  await removeStateVolumes(RUN);
  rmSync(root, { recursive: true, force: true });
  rmSync(repo, { recursive: true, force: true });
});

describe("berth-agent workspace", () => {
  it("up brings up the channel's declaration, status shows the phases, down removes it", async () => {
    const id = `cli-${RUN}`;
    await channel.put(
      workspaceKeys.declaration(NODE, id),
      signWorkspace(declaration(id, 1), signer.privateKey),
    );
    const up = await agent("workspace", "up", id);
    expect(up.exitCode, up.stderr).toBe(0);
    expect(up.stderr).toMatch(new RegExp(`${id}: cloning\\.\\.\\.`));
    expect(up.stderr).toMatch(/building ok \(\d+\.\d\d s\)/);
    expect(up.stdout).toMatch(/running/);
    expect(up.stdout).toMatch(/cache push: done/);
    expect(`${up.stdout}${up.stderr}`).not.toContain(login.password);
    expect(await containers(id)).not.toBe("");
    const reported = await channelStatus(id);
    expect(reported?.state).toBe("running");
    expect(reported?.push).toBe("done");
    expect(reported?.phases.map((p) => p.phase)).toEqual([
      "cloning",
      "building",
      "starting",
      "pushing cache",
    ]);

    const status = await agent("workspace", "status", id);
    expect(status.exitCode).toBe(0);
    expect(status.stdout).toMatch(/building\s+\d+\.\d\d s ok/);

    const down = await agent("workspace", "down", id);
    expect(down.exitCode).toBe(0);
    expect(await containers(id)).toBe("");
    const gone = await agent("workspace", "status", id);
    expect(gone.stdout).toMatch(/no such workspace/);
  });

  it("refuses a declaration signed by a key the node does not trust, with a clear error", async () => {
    const id = `bad-${RUN}`;
    const other = generateSigningKeyPair();
    await channel.put(
      workspaceKeys.declaration(NODE, id),
      signWorkspace(declaration(id, 1), other.privateKey),
    );
    const up = await agent("workspace", "up", id);
    expect(up.exitCode).toBe(1);
    expect(up.stderr).toMatch(/not trust/);
    await channel.delete(workspaceKeys.declaration(NODE, id));
    const usage = await agent("workspace", "up");
    expect(usage.exitCode).toBe(2);
    expect(usage.stderr).toMatch(/needs a workspace id/);
  });

  it("build by hand (--repo): a prebuild that pushes the cache and starts nothing; bad flags are usage errors", async () => {
    const id = `prebuild-${RUN}`;
    const loginFile = join(root, "login.json");
    writeFileSync(loginFile, JSON.stringify(login), { mode: 0o600 });
    const args = [
      "--repo",
      repo,
      "--namespace",
      `${REGISTRY}/berth-ws-${RUN}`,
      "--registry-login",
      loginFile,
      "--default-image",
      BASE_IMAGE,
      "--trusted",
    ];
    const build = await agent("workspace", "build", id, ...args);
    expect(build.exitCode, build.stderr).toBe(0);
    expect(build.stdout).toMatch(new RegExp(`${id}: stopped`));
    expect(build.stdout).toMatch(/cache push: done/);
    expect(build.stdout).not.toMatch(/starting/);
    expect(await containers(id)).toBe("");
    const bad = await agent(
      "workspace",
      "up",
      id,
      "--repo",
      repo,
      "--branch",
      "a..b",
      "--default-image",
      BASE_IMAGE,
    );
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/--branch: "a..b" is not a branch name/);
    await agent("workspace", "down", id);
  });

  it("the daemon brings a declared workspace up and takes it down when the declaration goes", async () => {
    const id = `daemon-${RUN}`;
    const { execa } = await import("execa");
    daemon = execa("node", [AGENT, "run", "--config", configFile], { reject: false, stdio: "ignore" });
    // Generation 1 says trusted; the program's next change (generation 2) does not.
    const first = signWorkspace(declaration(id, 1), signer.privateKey);
    await channel.put(workspaceKeys.declaration(NODE, id), first);
    const running = await until("the workspace to run", async () => {
      const s = await channelStatus(id);
      return s?.state === "running" && s.push !== "pending" ? s : undefined;
    });
    // Built (and pushed) by the CLI test before: an exact hit, no build.
    expect(running.mode).toBe("exact-hit");
    expect(running.phases.map((p) => p.phase)).not.toContain("building");
    expect(await containers(id)).not.toBe("");
    await channel.put(
      workspaceKeys.declaration(NODE, id),
      signWorkspace({ ...declaration(id, 2), trusted: false }, signer.privateKey),
    );
    await until("generation 2 to run", async () => {
      const s = await channelStatus(id);
      return s?.generation === 2 && s.state === "running" && s.push !== "pending" ? s : undefined;
    });
    const cid = await containers(id);

    // A channel writer puts the older signed declaration (trusted) back: refused with its reason.
    await channel.put(workspaceKeys.declaration(NODE, id), first);
    const refused = await until("the replay to be refused", async () => {
      const s = await channelStatus(id);
      return s?.state === "failed" ? s : undefined;
    });
    expect(refused.error).toMatch(/generation 1 is older than generation 2.*replayed declaration is refused/);
    // The workspace of generation 2 runs on, untouched.
    expect(await containers(id)).toBe(cid);
    expect((await run("docker", ["inspect", "--format", "{{.State.Running}}", cid])).stdout.trim()).toBe(
      "true",
    );

    await channel.delete(workspaceKeys.declaration(NODE, id));
    await until("the workspace to be removed", async () =>
      (await channelStatus(id))?.state === "stopped" ? true : undefined,
    );
    expect(await containers(id)).toBe("");
  });
});
