// Devcontainer workspaces whose build cache lives in the registry (issue 6), with real parts:
// Docker Engines (the shared one, and fresh second dockerds standing in for new nodes), the
// local registry with its credentials, @devcontainers/cli, git.

import { mkdtempSync, rmSync, statSync } from "node:fs";
import { createServer, request, type Server } from "node:http";
import { type AddressInfo, createServer as createTcpServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveDigest } from "../../contract/oci";
import { createLogger } from "../../lib/log";
import { run } from "../../lib/process";
import { computeCacheKey } from "../../node-agent/workspace/cache-key";
import { readDevcontainerConfig } from "../../node-agent/workspace/devcontainer-config";
import { WorkspaceExecutor, type WorkspaceSpec } from "../../node-agent/workspace/executor";
import {
  BASE_IMAGE,
  commit,
  git,
  removeImagesNamed,
  removeStateVolumes,
  SHARED_MARKER,
  sampleConfig,
  sampleDockerfile,
  sampleRepository,
} from "./support/devcontainer-repo";
import { type SecondEngine, startSecondEngine } from "./support/second-engine";
import { REGISTRY } from "./support/test-app-image";

const RUN = Math.random().toString(36).slice(2, 8);
// The toolchain layer's marker (support/devcontainer-repo.ts), the same in every repository of
// this file and every run: the cold start builds it on an empty engine and pushes it to this run's
// namespace; every later build takes it from that cache or the shared engine's own, with a last
// line of its own (its own key), so apt-get runs once in the file, not once per repository.
const MARKER = SHARED_MARKER;
/** BuildKit's progress: the toolchain step (apt-get) came from a cache. */
const TOOLCHAIN_CACHED = new RegExp(`#(\\d+) \\[[^\\]]*\\] RUN echo ${MARKER} [^\\n]*\\n#\\1 CACHED`);
const NAMESPACE = `${REGISTRY}/berth-ws-${RUN}`;
const login = {
  username: process.env.BERTH_REGISTRY_USER ?? "",
  password: process.env.BERTH_REGISTRY_PASSWORD ?? "",
};
const log = createLogger("workspace-test");
const roots: string[] = [];
const executors: { ex: WorkspaceExecutor; ids: string[] }[] = [];
const engines: SecondEngine[] = [];
const servers: Server[] = [];

function executor(dockerHost?: string): WorkspaceExecutor {
  const stateRoot = mkdtempSync(join(tmpdir(), "berth-ws-state-"));
  roots.push(stateRoot);
  const ex = new WorkspaceExecutor({
    stateRoot,
    ...(dockerHost ? { dockerHost } : {}),
    log,
    pushTimeoutSeconds: 300,
    lookupTimeoutMs: 3000,
  });
  executors.push({ ex, ids: [] });
  return ex;
}

function spec(repo: string, o: Partial<WorkspaceSpec> = {}): WorkspaceSpec {
  return {
    id: `ws-${RUN}`,
    repository: repo,
    repositoryName: `acme/sample-${RUN}`,
    branch: "main",
    defaultBranch: "main",
    trusted: true,
    allowInitializeCommand: false,
    defaultImage: BASE_IMAGE,
    registry: { namespace: NAMESPACE, login },
    ...o,
  };
}

async function up(ex: WorkspaceExecutor, s: WorkspaceSpec) {
  executors.find((e) => e.ex === ex)?.ids.push(s.id);
  const t0 = Date.now();
  const r = await ex.up(s);
  const final = await r.background;
  return { first: r.status, final, seconds: (Date.now() - t0) / 1000 };
}

const docker = (host: string | undefined, ...args: string[]) =>
  run("docker", args, { env: host ? { DOCKER_HOST: host } : {}, timeoutMs: 120_000 });

async function inRegistry(ref: string): Promise<boolean> {
  try {
    await resolveDigest(ref, { credentials: { [REGISTRY]: login } });
    return true;
  } catch {
    return false;
  }
}

/** The image manifest a tag names, read from the registry with the test's login. */
async function manifestOf(ref: string): Promise<{
  config: { digest: string };
  layers: { mediaType: string; annotations?: Record<string, string> }[];
}> {
  const at = ref.indexOf("/");
  const [repo, tag] = ref.slice(at + 1).split(":") as [string, string];
  const res = await fetch(`http://${ref.slice(0, at)}/v2/${repo}/manifests/${tag}`, {
    headers: {
      accept:
        "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
      authorization: `Basic ${Buffer.from(`${login.username}:${login.password}`).toString("base64")}`,
    },
  });
  expect(res.status).toBe(200);
  return (await res.json()) as Awaited<ReturnType<typeof manifestOf>>;
}

afterAll(async () => {
  for (const { ex, ids } of executors)
    for (const id of new Set(ids)) await ex.down(id).catch(() => undefined);
  for (const e of engines) await e.stop();
  for (const s of servers) s.close();
  await removeImagesNamed([`berth-ws-${RUN}`, `sample-${RUN}`]);
  await removeStateVolumes(RUN);
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

describe("a fresh node starts a workspace at the speed of a pull", () => {
  let repo: string;
  beforeAll(async () => {
    repo = await sampleRepository(MARKER);
    roots.push(repo);
  });

  it("builds and pushes on an empty engine, starts with no build on another, rebuilds only the changed layer", async () => {
    // 1. An empty engine: no cache anywhere, so it builds, starts, then pushes in the background.
    const e1 = await startSecondEngine();
    engines.push(e1);
    const ex1 = executor(e1.host);
    const a = await up(ex1, spec(repo));
    expect(a.first.state).toBe("running");
    expect(a.first.mode).toBe("cached-build");
    expect(a.first.phases.map((p) => p.phase)).toEqual(["cloning", "building", "starting"]);
    expect(a.final.push).toBe("done");
    expect(a.final.phases.at(-1)?.phase).toBe("pushing cache");
    const exact = a.first.image!;
    expect(exact).toMatch(new RegExp(`^${NAMESPACE}/acme/sample-${RUN}/devcontainer:default-[0-9a-f]{64}$`));
    expect(await inRegistry(exact)).toBe(true);
    expect(await inRegistry(`${NAMESPACE}/acme/sample-${RUN}/devcontainer:cache-default.main`)).toBe(true);
    // Pushed with zstd layers (a fresh node pulls them faster), its config the engine's own bytes:
    // the same image id, and BuildKit's inline cache in it for the chain's later builds. This
    // engine is overlay2, so not eStargz even with berth-estargz on PATH (that is a lazy
    // workspace node's push: workspace-lazy-pull.test.ts).
    const pushed = await manifestOf(exact);
    expect(pushed.layers.length).toBeGreaterThan(0);
    expect(pushed.layers.every((l) => l.mediaType === "application/vnd.oci.image.layer.v1.tar+zstd")).toBe(
      true,
    );
    expect(pushed.layers.some((l) => l.annotations?.["containerd.io/snapshot/stargz/toc.digest"])).toBe(
      false,
    );
    expect(pushed.config.digest).toBe(
      (await docker(e1.host, "image", "inspect", "--format", "{{.Id}}", exact)).stdout.trim(),
    );
    // The workspace runs: postCreateCommand ran as the remote user, who owns the clone.
    const cid = a.first.containerId!;
    expect((await docker(e1.host, "exec", cid, "cat", "/tmp/post-create")).stdout).toMatch(/gcc/);
    expect((await docker(e1.host, "exec", cid, "stat", "-c", "%U", "/tmp/post-create")).stdout.trim()).toBe(
      "dev",
    );
    expect(statSync(join(ex1.dir(`ws-${RUN}`), "repo")).uid).toBe(1000);
    await ex1.down(`ws-${RUN}`);
    await e1.stop();
    engines.splice(engines.indexOf(e1), 1);

    // 2. Another empty engine (a fresh node): an exact hit, pulled, started, no build step.
    const e2 = await startSecondEngine();
    engines.push(e2);
    const ex2 = executor(e2.host);
    const b = await up(ex2, spec(repo));
    expect(b.first.state).toBe("running");
    expect(b.first.mode).toBe("exact-hit");
    expect(b.first.image).toBe(exact);
    expect(b.first.phases.map((p) => p.phase)).toEqual(["cloning", "pulling cache", "starting"]);
    expect(b.final.push).toBe("none");
    expect((await docker(e2.host, "exec", b.first.containerId!, "cat", "/tmp/post-create")).stdout).toMatch(
      /gcc/,
    );
    const history = await docker(e2.host, "image", "ls", "--format", "{{.Repository}}:{{.Tag}}");
    expect(history.stdout).toContain(exact);

    // 3. One line of the Dockerfile changes: a new key, built from the chain; only the changed
    //    layer runs, the toolchain layer comes from the registry's cache.
    await commit(
      repo,
      {
        ".devcontainer/Dockerfile": sampleDockerfile(MARKER, "RUN echo two > /etc/berth-sample-line"),
      },
      "one-line change",
    );
    await ex2.down(`ws-${RUN}`);
    const c = await up(ex2, spec(repo));
    expect(c.first.state).toBe("running");
    expect(c.first.mode).toBe("cached-build");
    expect(c.first.image).not.toBe(exact);
    const buildLog = (await import("node:fs")).readFileSync(c.first.buildLog!, "utf8");
    // BuildKit's progress: the apt-get step is CACHED, the changed one ran.
    expect(buildLog).toMatch(TOOLCHAIN_CACHED);
    expect(buildLog).toMatch(/#(\d+) \[[^\]]*\] RUN echo two[^\n]*\n#\1 DONE/);
    expect(c.final.push).toBe("done");
    const line = await docker(e2.host, "exec", c.first.containerId!, "cat", "/etc/berth-sample-line");
    expect(line.stdout.trim()).toBe("two");
    await ex2.down(`ws-${RUN}`);
    // The cold build ran every step: its image is the `.full` companion; the partial one is not.
    const repoRef = `${NAMESPACE}/acme/sample-${RUN}/devcontainer`;
    const digest = async (ref: string) =>
      (await resolveDigest(ref, { credentials: { [REGISTRY]: login } })).digest;
    expect(await digest(`${repoRef}:cache-default.main.full`)).toBe(await digest(exact));
    expect(await digest(`${repoRef}:cache-default.main`)).toBe(await digest(c.first.image!));

    // 4. A second one-line change, built from an image that was itself built from cache (whose
    //    inline cache lacks the skipped steps): the `.full` companion still supplies them.
    await commit(
      repo,
      {
        ".devcontainer/Dockerfile": sampleDockerfile(MARKER, "RUN echo three > /etc/berth-sample-line"),
      },
      "second one-line change",
    );
    const d = await up(ex2, spec(repo));
    expect(d.first.mode).toBe("cached-build");
    const log2 = (await import("node:fs")).readFileSync(d.first.buildLog!, "utf8");
    expect(log2).toMatch(TOOLCHAIN_CACHED);
    expect(log2).toMatch(/#(\d+) \[[^\]]*\] RUN echo three[^\n]*\n#\1 DONE/);
    await ex2.down(`ws-${RUN}`);
    await e2.stop();
    engines.splice(engines.indexOf(e2), 1);
  });
});

describe("cache keys of a real clone", () => {
  it("named configs get separate keys and tags; an unrelated touched file keeps the key (an exact hit)", async () => {
    const repo = await sampleRepository(MARKER, {
      ".devcontainer/Dockerfile": sampleDockerfile(MARKER, "RUN echo named > /etc/berth-sample-line"),
      ".devcontainer/alt/devcontainer.json": sampleConfig({
        build: { dockerfile: "../Dockerfile", context: "../.." },
        containerEnv: { FLAVOUR: "alt" },
      }),
    });
    roots.push(repo);
    const ex = executor();
    const def = await up(ex, spec(repo, { id: `ws-${RUN}-d` }));
    const alt = await up(ex, spec(repo, { id: `ws-${RUN}-a`, config: "alt" }));
    expect(def.first.state).toBe("running");
    expect(alt.first.state).toBe("running");
    expect(def.first.cacheKey).not.toBe(alt.first.cacheKey);
    expect(def.first.image).toContain(":default-");
    expect(alt.first.image).toContain(":alt-");
    expect(await inRegistry(`${NAMESPACE}/acme/sample-${RUN}/devcontainer:cache-alt.main`)).toBe(true);
    const env = await docker(undefined, "exec", alt.first.containerId!, "printenv", "FLAVOUR");
    expect(env.stdout.trim()).toBe("alt");

    await commit(repo, { "README.md": "sample, touched\n" }, "unrelated");
    await ex.down(`ws-${RUN}-d`);
    const again = await up(ex, spec(repo, { id: `ws-${RUN}-d` }));
    expect(again.first.cacheKey).toBe(def.first.cacheKey);
    expect(again.first.mode).toBe("exact-hit");
    expect(again.first.phases.map((p) => p.phase)).not.toContain("building");
    await ex.down(`ws-${RUN}-d`);
    await ex.down(`ws-${RUN}-a`);
  });

  it("a changed feature option or features lockfile changes the key", async () => {
    const repo = await sampleRepository(`features-${RUN}`, {
      ".devcontainer/devcontainer.json": sampleConfig({ features: { "./tool": { version: "1" } } }),
      ".devcontainer/tool/devcontainer-feature.json": '{ "id": "tool", "version": "1.0.0" }\n',
      ".devcontainer/tool/install.sh": "#!/bin/sh\necho tool\n",
    });
    roots.push(repo);
    const clone = mkdtempSync(join(tmpdir(), "berth-ws-clone-"));
    roots.push(clone);
    const key = async () => {
      rmSync(clone, { recursive: true, force: true });
      await run("git", ["clone", "--quiet", "--depth", "1", `file://${repo}`, clone]);
      const config = readDevcontainerConfig(clone)!;
      return computeCacheKey({ repoDir: clone, config, cliVersion: "0.89.0", architecture: "amd64" }).key;
    };
    const k0 = await key();
    await commit(
      repo,
      { ".devcontainer/devcontainer.json": sampleConfig({ features: { "./tool": { version: "2" } } }) },
      "option",
    );
    const k1 = await key();
    await commit(repo, { ".devcontainer/devcontainer-lock.json": '{ "features": {} }\n' }, "lockfile");
    const k2 = await key();
    await commit(repo, { "docs/notes.md": "unrelated\n" }, "unrelated");
    const k3 = await key();
    expect(new Set([k0, k1, k2]).size).toBe(3);
    expect(k3).toBe(k2);
  });
});

/** A registry in front of the real one that serves reads and refuses every write (a full quota). */
async function readOnlyRegistry(): Promise<string> {
  const [host, port] = REGISTRY.split(":");
  const server = createServer((req, res) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(403, { "content-type": "application/json" });
      res.end('{"errors":[{"code":"DENIED","message":"storage quota exceeded"}]}');
      req.resume();
      return;
    }
    const up = request(
      { host, port: Number(port), method: req.method, path: req.url, headers: req.headers },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    up.on("error", () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function closedPort(): Promise<number> {
  const s = createTcpServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe("failures give a running workspace or a clear error, never a hang", () => {
  let repo: string;
  beforeAll(async () => {
    repo = await sampleRepository(MARKER, {
      ".devcontainer/Dockerfile": sampleDockerfile(MARKER, "RUN echo fail > /etc/berth-sample-line"),
    });
    roots.push(repo);
  });

  it("a push the registry refuses: the workspace runs, the push is reported failed", async () => {
    const host = await readOnlyRegistry();
    const ex = executor();
    const r = await up(
      ex,
      spec(repo, { id: `ws-${RUN}-p`, registry: { namespace: `${host}/berth-ws-${RUN}`, login } }),
    );
    expect(r.first.state).toBe("running");
    expect(r.first.mode).toBe("cached-build");
    expect(r.final.state).toBe("running");
    expect(r.final.push).toBe("failed");
    expect(r.final.pushError).toMatch(/denied|quota|403/i);
    expect(r.seconds).toBeLessThan(240);
    await ex.down(`ws-${RUN}-p`);
  });

  it("a login the registry refuses: a plain build, and the workspace runs", async () => {
    const ex = executor();
    const r = await up(
      ex,
      spec(repo, {
        id: `ws-${RUN}-l`,
        registry: { namespace: NAMESPACE, login: { username: login.username, password: "wrong-password" } },
      }),
    );
    expect(r.first.state).toBe("running");
    expect(r.first.mode).toBe("plain-build");
    expect(r.first.fallbackReason).toMatch(/refused the login/);
    expect(r.final.push).toBe("none");
    expect(r.seconds).toBeLessThan(240);
    await ex.down(`ws-${RUN}-l`);
  });

  it("an unreachable registry: a plain build, and the workspace runs", async () => {
    const port = await closedPort();
    const ex = executor();
    const r = await up(
      ex,
      spec(repo, { id: `ws-${RUN}-u`, registry: { namespace: `127.0.0.1:${port}/x`, login } }),
    );
    expect(r.first.state).toBe("running");
    expect(r.first.mode).toBe("plain-build");
    expect(r.first.fallbackReason).toMatch(/could not be reached/);
    expect(r.seconds).toBeLessThan(240);
    await ex.down(`ws-${RUN}-u`);
  });

  it("a broken devcontainer.json: the default image runs, and the status says where the config is wrong", async () => {
    const broken = await sampleRepository(`broken-${RUN}`, {
      ".devcontainer/devcontainer.json":
        '{\n  "build": { "dockerfile": "Dockerfile" },\n  "remoteUser": 42\n}\n',
    });
    roots.push(broken);
    const ex = executor();
    const r = await up(ex, spec(broken, { id: `ws-${RUN}-b` }));
    expect(r.first.state).toBe("running");
    expect(r.first.mode).toBe("default-image");
    expect(r.first.image).toBe(BASE_IMAGE);
    expect(r.first.fallbackReason).toMatch(/\.devcontainer\/devcontainer\.json:3:\d+: remoteUser/);
    await ex.down(`ws-${RUN}-b`);
  });

  it("a Dockerfile that fails to build: the default image runs, the build log is kept", async () => {
    const failing = await sampleRepository(`fails-${RUN}`, {
      ".devcontainer/Dockerfile": `FROM ${BASE_IMAGE}\nRUN echo building && exit 3\n`,
    });
    roots.push(failing);
    const ex = executor();
    const r = await up(ex, spec(failing, { id: `ws-${RUN}-f` }));
    expect(r.first.state).toBe("running");
    expect(r.first.mode).toBe("default-image");
    expect(r.first.fallbackReason).toMatch(/building failed: .*exit code: 3/);
    expect(r.first.fallbackReason).not.toMatch(/devContainersSpecCLI|\n\s+at /);
    expect((await import("node:fs")).readFileSync(r.first.buildLog!, "utf8")).toMatch(/exit 3/);
    expect(r.final.push).toBe("none");
    await ex.down(`ws-${RUN}-f`);
  });

  it("initializeCommand runs on the node only where the declaration allows it", async () => {
    const marker = join(mkdtempSync(join(tmpdir(), "berth-init-")), "ran");
    roots.push(join(marker, ".."));
    const withInit = await sampleRepository(MARKER, {
      ".devcontainer/Dockerfile": sampleDockerfile(MARKER, "RUN echo init > /etc/berth-sample-line"),
      ".devcontainer/devcontainer.json": sampleConfig({ initializeCommand: `touch ${marker}` }),
    });
    roots.push(withInit);
    const ex = executor();
    const denied = await up(ex, spec(withInit, { id: `ws-${RUN}-i` }));
    expect(denied.first.state).toBe("running");
    expect(() => statSync(marker)).toThrow();
    await ex.down(`ws-${RUN}-i`);
    const allowed = await up(ex, spec(withInit, { id: `ws-${RUN}-i`, allowInitializeCommand: true }));
    expect(allowed.first.state).toBe("running");
    expect(statSync(marker).isFile()).toBe(true);
    await ex.down(`ws-${RUN}-i`);
  });

  it("a branch that does not exist: a clear error, not a hang", async () => {
    const ex = executor();
    const r = await up(ex, spec(repo, { id: `ws-${RUN}-n`, branch: "no-such-branch" }));
    expect(r.first.state).toBe("failed");
    expect(r.first.error).toMatch(/no-such-branch/);
    expect(r.first.phases[0]).toMatchObject({ phase: "cloning", outcome: "failed" });
    await ex.down(`ws-${RUN}-n`);
  });
});

describe("untrusted branches", () => {
  it("read the cache but never write the default branch's tags", async () => {
    // The same repository as the trusted workspaces above: its default branch's cache tags exist.
    const repo = await sampleRepository(MARKER);
    roots.push(repo);
    await git(repo, "checkout", "--quiet", "-b", "contrib");
    await commit(
      repo,
      { ".devcontainer/Dockerfile": sampleDockerfile(MARKER, "RUN echo contrib > /etc/x") },
      "contrib",
    );
    const base = `${NAMESPACE}/acme/sample-${RUN}/devcontainer`;
    const digest = async (ref: string) =>
      (await resolveDigest(ref, { credentials: { [REGISTRY]: login } })).digest;
    const trusted = [`${base}:cache-default.main`, `${base}:cache-default.main.full`];
    const before = await Promise.all(trusted.map(digest));
    const ex = executor();
    const r = await up(ex, spec(repo, { id: `ws-${RUN}-t`, branch: "contrib", trusted: false }));
    expect(r.first.state).toBe("running");
    expect(r.final.push).toBe("done");
    // It read the default branch's cache: the toolchain step came from it, in its own builder.
    const buildLog = (await import("node:fs")).readFileSync(r.first.buildLog!, "utf8");
    expect(buildLog).toMatch(TOOLCHAIN_CACHED);
    expect(buildLog).toMatch(/#(\d+) \[[^\]]*\] RUN echo contrib[^\n]*\n#\1 DONE/);
    // It wrote its own tag only: the trusted tags it read are unchanged, none of this branch's is made.
    expect(await inRegistry(`${base}:untrusted-default.contrib`)).toBe(true);
    expect(await Promise.all(trusted.map(digest))).toEqual(before);
    expect(await inRegistry(`${base}:cache-default.contrib`)).toBe(false);
    expect(await inRegistry(`${base}:cache-default.contrib.full`)).toBe(false);
    expect(await inRegistry(r.first.image!)).toBe(false); // the exact tag is a trusted one
    await ex.down(`ws-${RUN}-t`);
  });
});
