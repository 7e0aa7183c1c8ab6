// Lazy pulling on workspace nodes (issue 22; contract/node/lazy-pull.ts), with real parts: fresh
// engines with a workspace node's settings (their own containerd, berth-stargz-snapshotter and
// dockerd on containerd's image store), the local registry with its credentials, the agent's
// WorkspaceExecutor, @devcontainers/cli, git. One node builds and pushes (eStargz layers); a
// second one's exact hit runs before the image's layer bytes are local, and reads back every file
// as the builder had it; a one-line change on that node builds from the chain and pushes.

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createLogger } from "../../lib/log";
import { run } from "../../lib/process";
import { WorkspaceExecutor, type WorkspaceSpec } from "../../node-agent/workspace/executor";
import {
  BASE_IMAGE,
  commit,
  SHARED_MARKER,
  sampleDockerfile,
  sampleRepository,
} from "./support/devcontainer-repo";
import { type SecondEngine, startSecondEngine } from "./support/second-engine";
import { REGISTRY } from "./support/test-app-image";

const RUN = Math.random().toString(36).slice(2, 8);
const NAMESPACE = `${REGISTRY}/berth-lazy-${RUN}`;
const login = {
  username: process.env.BERTH_REGISTRY_USER ?? "",
  password: process.env.BERTH_REGISTRY_PASSWORD ?? "",
};
const ESTARGZ_TOC = "containerd.io/snapshot/stargz/toc.digest";
const log = createLogger("workspace-lazy-test");
const roots: string[] = [];
const engines: SecondEngine[] = [];
const downs: (() => Promise<unknown>)[] = [];

afterAll(async () => {
  for (const d of downs) await d().catch(() => undefined);
  for (const e of engines) await e.stop();
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

function executor(e: { host: string; snapshotterAuth?: string }): WorkspaceExecutor {
  const stateRoot = mkdtempSync(join(tmpdir(), "berth-lazy-state-"));
  roots.push(stateRoot);
  return new WorkspaceExecutor({
    stateRoot,
    dockerHost: e.host,
    // The snapshotter starts with no registry login: the agent lends it the workspace's.
    ...(e.snapshotterAuth ? { snapshotterAuth: e.snapshotterAuth } : {}),
    log,
    pushTimeoutSeconds: 300,
    lookupTimeoutMs: 3000,
  });
}

const spec = (repo: string, id: string): WorkspaceSpec => ({
  id,
  repository: repo,
  repositoryName: `acme/lazy-${RUN}`,
  branch: "main",
  defaultBranch: "main",
  trusted: true,
  allowInitializeCommand: false,
  defaultImage: BASE_IMAGE,
  registry: { namespace: NAMESPACE, login },
});

async function up(ex: WorkspaceExecutor, s: WorkspaceSpec) {
  downs.push(() => ex.down(s.id));
  const r = await ex.up(s);
  return { first: r.status, final: await r.background };
}

const docker = (host: string, ...args: string[]) =>
  run("docker", args, { env: { DOCKER_HOST: host }, timeoutMs: 180_000 });

/** The image manifest a tag names, from the registry with the test's login. */
async function manifestOf(ref: string): Promise<{
  config: { digest: string };
  layers: { mediaType: string; digest: string; annotations?: Record<string, string> }[];
}> {
  const at = ref.indexOf("/");
  const [repo, tag] = ref.slice(at + 1).split(":") as [string, string];
  const res = await fetch(`http://${ref.slice(0, at)}/v2/${repo}/manifests/${tag}`, {
    headers: {
      accept: "application/vnd.oci.image.manifest.v1+json",
      authorization: `Basic ${Buffer.from(`${login.username}:${login.password}`).toString("base64")}`,
    },
  });
  expect(res.status).toBe(200);
  return (await res.json()) as Awaited<ReturnType<typeof manifestOf>>;
}

/**
 * What a container's files are: every path under `dirs` with its type, mode, owner and link
 * target (and size, but for directories: theirs is the filesystem's own), and the SHA-256 of every
 * regular file's bytes, as one digest each.
 */
async function filesDigest(host: string, container: string): Promise<{ listing: string; contents: string }> {
  // (Not /etc: Docker mounts a hostname, hosts and resolv.conf of its own into each container.)
  const dirs = "/usr/bin /usr/lib/gcc /usr/libexec/gcc /usr/include /etc/apt /opt/tools";
  const script = [
    `{ find ${dirs} -xdev ! -type d -printf '%p %y %m %U:%G %s %l\\n'; find ${dirs} -xdev -type d -printf '%p %y %m %U:%G\\n'; } | LC_ALL=C sort | sha256sum`,
    `find ${dirs} -xdev -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum`,
  ].join(" && ");
  const r = await docker(host, "exec", "-u", "root", container, "sh", "-c", script);
  const [listing, contents] = r.stdout.trim().split("\n");
  return { listing: listing ?? "", contents: contents ?? "" };
}

/** The FUSE mounts of an engine's snapshotter (one per lazily mounted layer). */
const fuseMounts = (root: string) =>
  readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .filter((l) => l.split(" ")[1]?.startsWith(root) && l.split(" ")[2]?.startsWith("fuse"));

describe("a workspace node pulls its exact hit lazily", () => {
  it("builds and pushes eStargz on one node; another runs the exact hit before its layers are local, every file as built", async () => {
    const repo = await sampleRepository(SHARED_MARKER);
    roots.push(repo);

    // 1. A workspace node with nothing cached: builds, starts, pushes eStargz layers.
    const e1 = await startSecondEngine({ workspaceNode: true, snapshotterLogin: false });
    engines.push(e1);
    expect((await docker(e1.host, "info", "--format", "{{.Driver}}")).stdout.trim()).toBe("stargz");
    const ex1 = executor(e1);
    const a = await up(ex1, spec(repo, `lazy-a-${RUN}`));
    expect(a.first.state).toBe("running");
    expect(a.first.mode).toBe("cached-build");
    expect(a.final.push).toBe("done");
    const exact = a.first.image!;
    // In the eStargz repository, which no engine without the snapshotter reads (cache-key.ts).
    expect(exact).toMatch(/\/devcontainer-estargz:default-[0-9a-f]{64}$/);
    const pushed = await manifestOf(exact);
    expect(pushed.layers.length).toBeGreaterThan(1);
    for (const l of pushed.layers) {
      expect(l.mediaType).toBe("application/vnd.oci.image.layer.v1.tar+gzip");
      expect(l.annotations?.[ESTARGZ_TOC]).toMatch(/^sha256:[0-9a-f]{64}$/);
    }
    const built = await filesDigest(e1.host, a.first.containerId!);
    expect(built.contents).toMatch(/^[0-9a-f]{64} /);
    await ex1.down(`lazy-a-${RUN}`);

    // 2. Another workspace node: the exact hit. Its pull fetched no layer blob: containerd's
    //    content store holds the manifest and config only, and each layer is a FUSE mount of the
    //    snapshotter, which reads the registry on demand.
    const e2 = await startSecondEngine({ workspaceNode: true, snapshotterLogin: false });
    engines.push(e2);
    const ex2 = executor(e2);
    const b = await up(ex2, spec(repo, `lazy-b-${RUN}`));
    expect(b.first.state).toBe("running");
    expect(b.first.mode).toBe("exact-hit");
    expect(b.first.image).toBe(exact);
    expect(b.first.phases.map((p) => p.phase)).toEqual(["cloning", "pulling cache", "starting"]);
    const content = await run(
      "ctr",
      ["--address", join(e2.dir, "containerd.sock"), "--namespace", "moby", "content", "ls", "--quiet"],
      { timeoutMs: 60_000 },
    );
    const local = new Set(content.stdout.split("\n").filter(Boolean));
    expect(local.has(pushed.config.digest)).toBe(true);
    for (const l of pushed.layers)
      expect(local.has(l.digest), `layer ${l.digest} in the content store`).toBe(false);
    expect(fuseMounts(e2.snapshotterRoot!).length).toBeGreaterThanOrEqual(pushed.layers.length);

    // Every file reads back as the builder had it (bytes, modes, sizes, links), and the toolchain
    // works: its first use reads the compiler from the registry.
    expect(await filesDigest(e2.host, b.first.containerId!)).toEqual(built);
    const hello = await docker(
      e2.host,
      "exec",
      b.first.containerId!,
      "sh",
      "-c",
      "gcc -o /tmp/hello /opt/tools/hello.c && /tmp/hello",
    );
    expect(hello.stdout.trim()).toBe("hello");

    // 3. A one-line change on the lazy node: built from the registry's chain, started, pushed.
    await ex2.down(`lazy-b-${RUN}`);
    await commit(
      repo,
      {
        ".devcontainer/Dockerfile": sampleDockerfile(
          SHARED_MARKER,
          "RUN echo lazy-two > /etc/berth-sample-line",
        ),
      },
      "one-line change",
    );
    const c = await up(ex2, spec(repo, `lazy-c-${RUN}`));
    expect(c.first.state).toBe("running");
    expect(c.first.mode).toBe("cached-build");
    expect(c.final.push).toBe("done");
    const line = await docker(e2.host, "exec", c.first.containerId!, "cat", "/etc/berth-sample-line");
    expect(line.stdout.trim()).toBe("lazy-two");
    for (const l of (await manifestOf(c.first.image!)).layers)
      expect(l.annotations?.[ESTARGZ_TOC]).toBeDefined();
  }, 600_000); // two fresh nodes, a cold build (apt-get) and two pushes: ~3 minutes at load 4
});
