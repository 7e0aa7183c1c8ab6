// A private repository (issue 20, step 4), through the real agent daemon, real Docker and the
// Workspace provider's own publish: the git token is declared with the workspace, sealed to the
// node, and git asks the agent for it (git-credentials.ts) on the node (the clone) and inside the
// container (a lifecycle command's clone, then `berth workspace exec -- git fetch`). The git host
// is `git http-backend` behind basic auth on the Docker bridge's address (the node and the
// container both reach it there). Without the token the status says what to declare; the token
// is in none of: the clone, the container's files (image and layer), its config, the image, the
// home volume, the node's state folder, the agent's log, the channel, the container's logs.
//
// A deploy key (SSH): the git host is OpenSSH's sshd (support/git-ssh-server.ts) on the bridge's
// address, letting only the deploy key in, to git-shell. The key is declared with the workspace,
// sealed to the node, and served by the agent as an ssh-agent (ssh-agent.ts): the node's clone and
// a lifecycle clone and a fetch in the container sign in through it. The host key is declared
// (one workspace), pinned at the first clone (another), or declared wrong (a third: refused,
// with what to check). The private key is in no file, image, volume or log afterwards.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { create } from "../../components/runtime/workspace";
import { generateSigningKeyPair } from "../../contract/payload";
import { type WorkspaceStatus, workspaceKeys, workspaceStatus } from "../../contract/workspace/declaration";
import { run } from "../../lib/process";
import { AgentHarness } from "./support/agent-harness";
import {
  BASE_IMAGE,
  commit,
  git,
  removeStateVolumes,
  SHARED_MARKER,
  sampleConfig,
  sampleRepository,
} from "./support/devcontainer-repo";
import { type GitHttpServer, startGitHttpServer } from "./support/git-http-server";
import { type GitSshServer, startGitSshServer } from "./support/git-ssh-server";

const RUN = Math.random().toString(36).slice(2, 8);
const WS = `priv-ws-${RUN}`;
const NOCRED = `priv-nocred-${RUN}`;
const SSH = `priv-ssh-${RUN}`;
const SSH_PINNED = `priv-pin-${RUN}`;
const SSH_WRONG_HOST = `priv-wronghost-${RUN}`;
const ALL = [WS, NOCRED, SSH, SSH_PINNED, SSH_WRONG_HOST];
const TOKEN = `ghs_${RUN}${Math.random().toString(36).slice(2)}Zq`;
const BERTH = join(__dirname, "..", "..", "dist", "berth.js");
const h = new AgentHarness();
const tmp = mkdtempSync(join(tmpdir(), "berth-private-repo-"));
const projectRoot = join(tmp, "git");
const alice = generateSigningKeyPair();
const keyFile = join(tmp, "alice.key");
writeFileSync(keyFile, `${alice.privateKey}\n`, { mode: 0o600 });
let server: GitHttpServer;
let sshServer: GitSshServer;
let deployKey = "";
let sshRepoUrl = "";
let sshSource = "";
let source = "";
let repoUrl = "";
let gateway = "";

const accessArgs = () => [
  "--url",
  `http://127.0.0.1:${h.proxyPort}`,
  "--operator",
  "alice",
  "--key",
  keyFile,
];
const inWorkspace = (script: string, id = WS) =>
  run(process.execPath, [BERTH, "workspace", "exec", id, ...accessArgs(), "--", "sh", "-c", script], {
    allowFailure: true,
    timeoutMs: 120_000,
  });

async function statusOf(id: string): Promise<WorkspaceStatus | undefined> {
  const text = await h.channel.get(workspaceKeys.status(h.nodeId, id));
  return text ? workspaceStatus.parse(JSON.parse(text)) : undefined;
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 600_000): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out waiting for ${what}\n${h.daemonLog()}`);
}

/** Whether a command's standard output holds any of the needles' bytes anywhere (streamed, not kept). */
function outputHolds(file: string, args: string[], needles: string[]): Promise<boolean> {
  const ns = needles.map((n) => Buffer.from(n));
  const keep = Math.max(...ns.map((n) => n.length)) - 1;
  return new Promise((resolve, reject) => {
    const p = spawn(file, args, { stdio: ["ignore", "pipe", "inherit"] });
    let tail = Buffer.alloc(0);
    let found = false;
    p.stdout.on("data", (chunk: Buffer) => {
      if (found) return;
      const b = Buffer.concat([tail, chunk]);
      if (ns.some((n) => b.includes(n))) found = true;
      tail = b.subarray(Math.max(0, b.length - keep));
    });
    p.on("error", reject);
    p.on("close", (code) =>
      code === 0 || found ? resolve(found) : reject(new Error(`${file} ${args[0]} exited ${code}`)),
    );
  });
}

type Credential = "token" | "none" | { knownHosts?: string };

function publish(id: string, credential: Credential) {
  const ssh = typeof credential === "object";
  return create({
    berthKind: "workspace",
    berthProviderVersion: "test",
    workspaceId: id,
    nodeId: h.nodeId,
    nodePublicKey: h.nodePublicKey,
    channel: { kind: "folder", path: h.channelDir },
    repository: ssh ? sshRepoUrl : repoUrl,
    repositoryName: ssh ? `acme/private-ssh-${RUN}` : `acme/private-${RUN}`,
    branch: "main",
    defaultBranch: "main",
    trusted: true,
    allowInitializeCommand: false,
    defaultImage: BASE_IMAGE,
    access: {
      operators: [{ name: "alice", publicKey: alice.publicKey, environments: [], workspaces: [id] }],
      commands: true,
    },
    ...(credential === "token" ? { gitCredential: { username: "x-access-token", token: TOKEN } } : {}),
    ...(ssh ? { gitCredential: { sshKey: deployKey, ...credential } } : {}),
    signingKey: h.signing.privateKey,
    nodeKeyTimeoutSeconds: 30,
  });
}

beforeAll(async () => {
  gateway = (
    await run("docker", ["network", "inspect", "bridge", "--format", "{{(index .IPAM.Config 0).Gateway}}"])
  ).stdout.trim();
  server = await startGitHttpServer({ projectRoot, host: gateway, username: "x-access-token", token: TOKEN });
  repoUrl = `${server.url}/private.git`;
  // A lifecycle command that fetches: a second clone of the private repository, inside the container.
  source = await sampleRepository(
    SHARED_MARKER,
    {
      ".devcontainer/devcontainer.json": sampleConfig({
        postCreateCommand: `git clone --quiet --depth 1 ${repoUrl} /tmp/lifecycle-clone`,
      }),
    },
    "git",
  );
  await run("git", ["clone", "--quiet", "--bare", source, join(projectRoot, "private.git")]);
  // The SSH host: only the deploy key gets in.
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "deploy", "-f", join(tmp, "deploy")]);
  deployKey = readFileSync(join(tmp, "deploy"), "utf8");
  sshServer = await startGitSshServer({
    dir: join(tmp, "sshd"),
    host: gateway,
    deployPublicKey: readFileSync(join(tmp, "deploy.pub"), "utf8"),
  });
  sshRepoUrl = `${sshServer.url}${join(projectRoot, "private-ssh.git")}`;
  sshSource = await sampleRepository(
    SHARED_MARKER,
    {
      ".devcontainer/devcontainer.json": sampleConfig({
        postCreateCommand: `git clone --quiet --depth 1 ${sshRepoUrl} /tmp/lifecycle-clone`,
      }),
    },
    "git openssh-client",
  );
  await run("git", ["clone", "--quiet", "--bare", sshSource, join(projectRoot, "private-ssh.git")]);
  await h.startDaemon();
  await publish(WS, "token");
  await publish(NOCRED, "none");
  await publish(SSH, { knownHosts: sshServer.knownHostsLine });
  await publish(SSH_PINNED, {});
  // The declared host key is another host's.
  const other = join(tmp, "other-host");
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", other]);
  const otherKey = readFileSync(`${other}.pub`, "utf8").split(" ").slice(0, 2).join(" ");
  await publish(SSH_WRONG_HOST, { knownHosts: `${sshServer.knownHostsLine.split(" ")[0]} ${otherKey}` });
  for (const id of [WS, SSH, SSH_PINNED])
    await until(`workspace ${id} to run`, async () => {
      const s = await statusOf(id);
      if (s?.state === "failed") throw new Error(`workspace ${id} failed: ${s.error}\n${h.daemonLog()}`);
      return s?.state === "running" ? s : undefined;
    });
}, 900_000);

afterAll(async () => {
  for (const id of ALL) await h.channel.delete(workspaceKeys.declaration(h.nodeId, id));
  await h.cleanup([]);
  for (const id of ALL) {
    const ids = (await run("docker", ["ps", "-aq", "--filter", `label=berth.workspace=${id}`])).stdout.trim();
    if (ids) await run("docker", ["rm", "-f", ...ids.split("\n")], { allowFailure: true });
  }
  await removeStateVolumes(RUN);
  await server?.close();
  await sshServer?.close();
  rmSync(tmp, { recursive: true, force: true });
  for (const dir of [source, sshSource]) if (dir) rmSync(dir, { recursive: true, force: true });
}, 120_000);

describe("a workspace on a private repository", () => {
  it("is cloned with the declared token, and a lifecycle command in the container fetches with it", async () => {
    const clone = join(h.stateRoot, "workspaces", WS, "repo");
    expect(readFileSync(join(clone, "README.md"), "utf8")).toBe("sample\n");
    const config = readFileSync(join(clone, ".git", "config"), "utf8");
    expect(config).toContain(`url = ${repoUrl}`);
    expect(config).not.toMatch(/helper|x-access-token/);
    // Refused without credentials first (git asks only after a 401), then served with the token:
    // the node's clone, and the container's lifecycle clone from the container's own address.
    const s = (await statusOf(WS)) as WorkspaceStatus;
    const address = (
      await run("docker", [
        "container",
        "inspect",
        "--format",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
        s.containerId as string,
      ])
    ).stdout
      .trim()
      .split(" ")[0];
    const seen = JSON.stringify(server.requests);
    expect(
      server.requests.some((r) => !r.authorized),
      seen,
    ).toBe(true);
    expect(server.requests.filter((r) => r.authorized && r.from !== address).length, seen).toBeGreaterThan(0);
    expect(server.requests.filter((r) => r.authorized && r.from === address).length, seen).toBeGreaterThan(0);
    const lifecycle = await inWorkspace("cat /tmp/lifecycle-clone/README.md");
    expect(lifecycle.stdout).toBe("sample\n");
  });

  it("a fetch in the workspace gets the token from the agent; another host gets nothing", async () => {
    await commit(source, { "NEWS.md": "news\n" }, "a new commit upstream");
    await git(source, "push", "--quiet", join(projectRoot, "private.git"), "main");
    const fetched = await inWorkspace("git fetch --quiet origin && git log -1 --format=%s origin/main");
    expect(fetched.stderr).toBe("");
    expect(fetched.stdout.trim()).toBe("a new commit upstream");
    const other = await inWorkspace(
      "printf 'protocol=http\\nhost=evil.example\\n\\n' | git credential-cache --socket /run/berth-git/socket get; echo end",
    );
    expect(other.stdout).toBe("end\n");
    // The socket's folder is read-only in the container.
    expect((await inWorkspace("touch /run/berth-git/x")).exitCode).not.toBe(0);
  });

  it("without the token: a clear error naming what to declare", async () => {
    const s = await until("the workspace without a token to fail", async () => {
      const st = await statusOf(NOCRED);
      return st?.state === "failed" ? st : undefined;
    });
    expect(s.error).toMatch(
      /the repository needs credentials: declare a token as the workspace's gitCredential/,
    );
    expect(s.error).toMatch(/could not read Username/);
  });

  it("the token is in none of the clone, the image, the container, the home volume, the node's files or the logs", async () => {
    await expectNowhere(WS, [TOKEN]);
    expect(h.daemonLog()).toContain("git asked for the workspace's credential");
  });
});

describe("a workspace on a private repository over SSH, with a deploy key", () => {
  const containerAddress = async (id: string) => {
    const s = (await statusOf(id)) as WorkspaceStatus;
    return (
      await run("docker", [
        "container",
        "inspect",
        "--format",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
        s.containerId as string,
      ])
    ).stdout
      .trim()
      .split(" ")[0];
  };

  it("is cloned with the deploy key on the node, and a lifecycle command in the container clones with it", async () => {
    const clone = join(h.stateRoot, "workspaces", SSH, "repo");
    expect(readFileSync(join(clone, "README.md"), "utf8")).toBe("sample\n");
    const config = readFileSync(join(clone, ".git", "config"), "utf8");
    expect(config).toContain(`url = ${sshRepoUrl}`);
    expect(config).not.toMatch(/sshCommand|ssh-agent|IdentityFile/);
    const logins = sshServer.logins();
    const address = await containerAddress(SSH);
    expect(logins.some((l) => l.from !== address)).toBe(true);
    expect(
      logins.some((l) => l.from === address),
      JSON.stringify(logins),
    ).toBe(true);
    expect((await inWorkspace("cat /tmp/lifecycle-clone/README.md", SSH)).stdout).toBe("sample\n");
    expect(h.daemonLog()).toContain("git's ssh signed in with the workspace's deploy key");
  });

  it("a later fetch in the workspace signs in through the agent, checking the declared host key", async () => {
    await commit(sshSource, { "NEWS.md": "news over ssh\n" }, "a new commit upstream, over ssh");
    await git(sshSource, "push", "--quiet", join(projectRoot, "private-ssh.git"), "main");
    const fetched = await inWorkspace("git fetch --quiet origin && git log -1 --format=%s origin/main", SSH);
    expect(fetched.stderr).toBe("");
    expect(fetched.stdout.trim()).toBe("a new commit upstream, over ssh");
    // The agent adds no key and gives none out: it lists one public key, nothing more.
    const listed = await inWorkspace("SSH_AUTH_SOCK=/run/berth-git/ssh-agent ssh-add -L", SSH);
    expect(listed.stdout.trim().split(" ").slice(0, 2).join(" ")).toBe(
      readFileSync(join(tmp, "deploy.pub"), "utf8").split(" ").slice(0, 2).join(" "),
    );
    expect((await inWorkspace("SSH_AUTH_SOCK=/run/berth-git/ssh-agent ssh-add -D", SSH)).exitCode).not.toBe(
      0,
    );
  });

  it("pins the host key its first clone saw when none is declared, and fetches against it", async () => {
    const pinned = readFileSync(join(h.stateRoot, "git-credentials", SSH_PINNED, "known_hosts"), "utf8");
    expect(pinned.trim()).toBe(sshServer.knownHostsLine);
    const fetched = await inWorkspace("git fetch --quiet origin && echo fetched", SSH_PINNED);
    expect(fetched.stdout).toBe("fetched\n");
  });

  it("refuses a host whose key is not the declared one, saying what to check", async () => {
    const s = await until("the workspace with the wrong host key to fail", async () => {
      const st = await statusOf(SSH_WRONG_HOST);
      return st?.state === "failed" ? st : undefined;
    });
    expect(s.error).toMatch(/the repository's SSH host key is not the one declared or pinned/);
  });

  it("the private key is in none of the clone, the image, the container, the home volume, the node's files or the logs", async () => {
    // Each line of the key's body, so no part of it is anywhere either.
    const body = deployKey.split("\n").filter((l) => l !== "" && !l.startsWith("-----"));
    expect(body.length).toBeGreaterThan(2);
    for (const id of [SSH, SSH_PINNED]) await expectNowhere(id, body);
  });
});

/** No needle is in any of: the node's state folder, the channel, the agent's log, the container's files, config, image and logs, the home volume. */
async function expectNowhere(id: string, needles: string[]): Promise<void> {
  const patterns = needles.flatMap((n) => ["-e", n]);
  const s = (await statusOf(id)) as WorkspaceStatus;
  const container = s.containerId as string;
  expect(container).toBeTruthy();
  // The node's state folder (the clone, spec, start config, build log, statuses), the channel
  // and the agent's log all live under the harness's root.
  const grep = await run("grep", ["-r", "-l", "--devices=skip", "-F", ...patterns, h.root], {
    allowFailure: true,
  });
  expect(grep.stdout).toBe("");
  expect(grep.exitCode).toBe(1);
  for (const n of needles) expect(h.daemonLog()).not.toContain(n);
  expect(await outputHolds("docker", ["export", container], needles)).toBe(false);
  expect(await outputHolds("docker", ["container", "inspect", container], needles)).toBe(false);
  expect(await outputHolds("docker", ["image", "save", s.image as string], needles)).toBe(false);
  expect(await outputHolds("docker", ["logs", container], needles)).toBe(false);
  const volumes = (
    await run("docker", ["volume", "ls", "-q", "--filter", `label=berth.workspace=${id}`])
  ).stdout
    .trim()
    .split("\n")
    .filter((v) => v !== "");
  expect(volumes.length).toBeGreaterThan(0);
  for (const v of volumes) {
    const dir = (await run("docker", ["volume", "inspect", "--format", "{{.Mountpoint}}", v])).stdout.trim();
    const inVolume = await run("grep", ["-r", "-l", "--devices=skip", "-F", ...patterns, dir], {
      allowFailure: true,
    });
    expect(inVolume.exitCode).toBe(1);
  }
}
