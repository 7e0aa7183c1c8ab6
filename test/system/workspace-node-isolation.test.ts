// What an untrusted branch must not reach beyond its container (issue 19), with real parts:
// - the cloud metadata service: a fake one at 169.254.169.254 in a network namespace routed
//   from this machine (so containers reach it the way they reach a cloud's, through FORWARD),
//   reachable from a container until the agent's rule is in DOCKER-USER, then from no container
//   and no build step;
// - an untrusted build: in its workspace's own BuildKit container (builder.ts), on a bridge of its
//   own, with the workspace's limits: the metadata service, the Docker socket, the agent's state
//   folder and the node's loopback are out of reach of its RUN steps;
// - the trusted cache: the local registry as setup makes it (docker-registry behind the gate,
//   a rehearsal in a temporary cache folder on a port of its own), where the pull login a build
//   gets cannot push, neither from the node nor from inside the builder through its mirror, and
//   an untrusted workspace's build leaves the trusted tag as it was.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ISOLATED_BUILDER_DEFAULTS } from "../../contract/node/agent-config";
import { resolveDigest } from "../../contract/oci";
import { createLogger } from "../../lib/log";
import { blockMetadataService, checkMetadataRule, METADATA_ADDRESS } from "../../lib/metadata-block";
import { run } from "../../lib/process";
import { builderContainer } from "../../node-agent/workspace/builder";
import { WorkspaceExecutor } from "../../node-agent/workspace/executor";
import { forwardRegistry } from "../../node-agent/workspace/registry-forwarder";
import { BASE_IMAGE, commit, git, removeStateVolumes } from "./support/devcontainer-repo";
import { REGISTRY } from "./support/test-app-image";

const RUN = Math.random().toString(36).slice(2, 8);
const ROOT = join(__dirname, "..", "..");
const roots: string[] = [];
const sh = (cmd: string, allowFailure = false) =>
  run("bash", ["-c", cmd], { allowFailure, timeoutMs: 120_000 });
/** The builders' network of this file's executors (the agent's default is berth-builds). */
const BUILDERS = { image: ISOLATED_BUILDER_DEFAULTS.image, network: `berth-builder-test-${RUN}` };
const log = createLogger("node-isolation-test");
log.level = "warn";

/** The output lines of a build log's steps (`#N <seconds> <text>`; the log also repeats the RUN line itself). */
const stepOutput = (buildLog: string) =>
  buildLog
    .split("\n")
    .map((l) => l.match(/^#\d+ [\d.]+ (.*)$/)?.[1])
    .filter((l): l is string => l !== undefined);

/** Tries a TCP connection from a fresh container on the default bridge. */
async function fromContainer(host: string): Promise<string> {
  const r = await run(
    "docker",
    [
      "run",
      "--rm",
      "--label",
      `berth.test=${RUN}`,
      BASE_IMAGE,
      "bash",
      "-c",
      `timeout 5 bash -c 'exec 3<>/dev/tcp/${host}/80 && echo REACHED' 2>/dev/null || echo blocked`,
    ],
    { timeoutMs: 60_000 },
  );
  return r.stdout.trim();
}

describe("the cloud metadata service", () => {
  const ns = `bmd${RUN}`;
  const third = 100 + Math.floor(Math.random() * 100);
  const hostSide = `10.254.${third}.1`;
  const nsSide = `10.254.${third}.2`;
  let server: ReturnType<typeof import("execa").execa> | undefined;

  beforeAll(async () => {
    await sh(
      [
        `ip netns add ${ns}`,
        `ip link add vh${RUN} type veth peer name vn${RUN}`,
        `ip link set vn${RUN} netns ${ns}`,
        `ip addr add ${hostSide}/30 dev vh${RUN}`,
        `ip link set vh${RUN} up`,
        `ip netns exec ${ns} ip link set lo up`,
        `ip netns exec ${ns} ip addr add ${nsSide}/30 dev vn${RUN}`,
        `ip netns exec ${ns} ip link set vn${RUN} up`,
        `ip netns exec ${ns} ip addr add ${METADATA_ADDRESS}/32 dev lo`,
        `ip netns exec ${ns} ip route add default via ${hostSide}`,
        `ip route add ${METADATA_ADDRESS}/32 via ${nsSide}`,
      ].join(" && "),
    );
    const { execa } = await import("execa");
    server = execa(
      "ip",
      [
        "netns",
        "exec",
        ns,
        process.execPath,
        "-e",
        "require('http').createServer((q, s) => s.end('instance credentials')).listen(80, '0.0.0.0')",
      ],
      { reject: false, stdio: "ignore" },
    );
    await new Promise((r) => setTimeout(r, 500));
  });

  afterAll(async () => {
    server?.kill("SIGTERM");
    await server?.catch(() => undefined);
    await sh(
      `ip route del ${METADATA_ADDRESS}/32 via ${nsSide}; ip link del vh${RUN}; ip netns del ${ns}`,
      true,
    );
    await sh(`docker rmi -f berth-md-probe-${RUN} >/dev/null 2>&1`, true);
  });

  it("no container and no build step reaches it once the agent's rule is in DOCKER-USER", async () => {
    const runIptables = (c: { file: string; args: string[] }) =>
      run(c.file, c.args, { allowFailure: true, timeoutMs: 30_000 });
    const ruleIn = async () => (await runIptables(checkMetadataRule())).exitCode === 0;
    const removeRule = async () => {
      while (await ruleIn())
        await run("iptables", ["-w", "5", "-D", "DOCKER-USER", ...checkMetadataRule().args.slice(4)]);
    };
    // Without the rule (removed here if an agent of this machine installed it), the fake service
    // answers a container: the path is real. Other test files start agents beside this one, and
    // each installs the rule at its start: when the probe was blocked and the rule is back, one of
    // them put it there during the probe, so the probe runs again (blocked without the rule fails).
    let probe = "";
    for (let attempt = 0; attempt < 5 && probe !== "REACHED"; attempt++) {
      await removeRule();
      probe = await fromContainer(METADATA_ADDRESS);
      if (probe !== "REACHED" && !(await ruleIn())) break;
    }
    expect(probe).toBe("REACHED");

    // The agent's start (and cloud-init) installs it; a second call finds it there. (Removed
    // again right before, for the same reason as above: the call under test must be the one that
    // adds it.)
    let added = false;
    for (let attempt = 0; attempt < 5 && !added; attempt++) {
      await removeRule();
      added = await blockMetadataService(runIptables);
    }
    expect(added).toBe(true);
    expect(await blockMetadataService(runIptables)).toBe(false);
    expect(await fromContainer(METADATA_ADDRESS)).toBe("blocked");
    // Only the metadata address: the same namespace still answers on its other address.
    expect(await fromContainer(nsSide)).toBe("REACHED");

    // A Dockerfile RUN (Docker's builder, as the devcontainer CLI uses it) is blocked too.
    const ctx = mkdtempSync(join(tmpdir(), "berth-md-build-"));
    roots.push(ctx);
    writeFileSync(
      join(ctx, "Dockerfile"),
      `FROM ${BASE_IMAGE}\nRUN (timeout 5 bash -c 'exec 3<>/dev/tcp/${METADATA_ADDRESS}/80' && echo METADATA-REACHED || echo metadata-blocked) && (test -S /var/run/docker.sock && echo SOCKET-REACHED || echo no-docker-socket)\n`,
    );
    const build = await run(
      "docker",
      ["buildx", "build", "--no-cache", "--progress", "plain", "-t", `berth-md-probe-${RUN}`, ctx],
      { timeoutMs: 300_000 },
    );
    const out = `${build.stdout}${build.stderr}`;
    // (The log repeats the RUN line itself: only the step's output lines, `#N <seconds> <text>`, count.)
    expect(out).toMatch(/^#\d+ [\d.]+ metadata-blocked$/m);
    expect(out).toMatch(/^#\d+ [\d.]+ no-docker-socket$/m);
    expect(out).not.toMatch(/^#\d+ [\d.]+ (METADATA|SOCKET)-REACHED$/m);
  });

  it("an untrusted build runs in its workspace's own BuildKit container, out of reach of the node", async () => {
    const runIptables = (c: { file: string; args: string[] }) =>
      run(c.file, c.args, { allowFailure: true, timeoutMs: 30_000 });
    await blockMetadataService(runIptables);
    const stateRoot = mkdtempSync(join(tmpdir(), "berth-iso-ws-"));
    roots.push(stateRoot);
    const ex = new WorkspaceExecutor({ stateRoot, log, isolatedBuilder: BUILDERS, stepTimeoutSeconds: 600 });
    const id = `iso-${RUN}`;
    const registryPort = REGISTRY.split(":")[1] ?? "5000";
    const probe = (what: string, test: string) =>
      `(${test} && echo ${what.toUpperCase()}-REACHED || echo no-${what})`;
    const repo = mkdtempSync(join(tmpdir(), "berth-iso-repo-"));
    roots.push(repo);
    await git(repo, "init", "--quiet", "--initial-branch", "main");
    await commit(
      repo,
      {
        ".devcontainer/devcontainer.json": '{ "build": { "dockerfile": "Dockerfile" } }',
        ".devcontainer/Dockerfile": [
          `FROM ${BASE_IMAGE}`,
          `RUN ${[
            probe("metadata", `timeout 5 bash -c 'exec 3<>/dev/tcp/${METADATA_ADDRESS}/80'`),
            probe("docker-socket", "test -S /var/run/docker.sock"),
            // The agent's state folder: the workspace's clone, its Docker configs.
            probe("node-files", `test -e ${stateRoot}/workspaces/${id}`),
            // The node's loopback, where the registry listens.
            probe("host-network", `timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/${registryPort}'`),
          ].join(" && ")}`,
          "",
        ].join("\n"),
      },
      "main",
    );
    const limits = { cpus: 1, memoryMb: 1536, pids: 700 };
    try {
      const r = await ex.up({
        id,
        repository: repo,
        repositoryName: `acme/iso-${RUN}`,
        branch: "main",
        defaultBranch: "main",
        trusted: false,
        allowInitializeCommand: false,
        defaultImage: BASE_IMAGE,
        registry: {
          namespace: `${REGISTRY}/berth-builder-test-${RUN}`,
          login: {
            username: process.env.BERTH_REGISTRY_PULL_USER ?? "",
            password: process.env.BERTH_REGISTRY_PULL_PASSWORD ?? "",
          },
          pushLogin: {
            username: process.env.BERTH_REGISTRY_USER ?? "",
            password: process.env.BERTH_REGISTRY_PASSWORD ?? "",
          },
        },
        limits,
      });
      const final = await r.background;
      expect(r.status.state, r.status.error).toBe("running");
      expect(r.status.mode).toBe("cached-build");
      expect(final.push, final.pushError).toBe("done");
      const buildLog = readFileSync(r.status.buildLog!, "utf8");
      // Built by the workspace's own builder, never Docker's.
      expect(buildLog).toContain(
        `building with "berth-builder-${id}" instance using docker-container driver`,
      );
      const out = stepOutput(buildLog);
      expect(out).toEqual(
        expect.arrayContaining(["no-metadata", "no-docker-socket", "no-node-files", "no-host-network"]),
      );
      expect(out.filter((l) => l.endsWith("-REACHED"))).toEqual([]);
      // The builder: the builders' bridge, the workspace's limits, no folder of the node.
      const inspect = await run("docker", [
        "inspect",
        "--format",
        "{{.HostConfig.NetworkMode}} {{.HostConfig.Memory}} {{.HostConfig.CpuQuota}}/{{.HostConfig.CpuPeriod}} {{.HostConfig.PidsLimit}} binds={{json .HostConfig.Binds}} {{range .Mounts}}{{.Type}}:{{.Destination}} {{end}}",
        builderContainer({ name: `berth-builder-${id}` }),
      ]);
      expect(inspect.stdout.trim()).toBe(
        `${BUILDERS.network} ${limits.memoryMb * 1024 * 1024} 100000/100000 ${limits.pids} binds=null volume:/var/lib/buildkit`,
      );
    } finally {
      await ex.down(id);
      await removeStateVolumes(RUN);
    }
    // Gone with its workspace.
    const left = await run("docker", [
      "ps",
      "-aq",
      "--filter",
      `name=${builderContainer({ name: `berth-builder-${id}` })}`,
    ]);
    expect(left.stdout.trim()).toBe("");
  });
});

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe("the local registry's pull login cannot push", () => {
  const cache = mkdtempSync(join(tmpdir(), "berth-gate-cache-"));
  roots.push(cache);
  const dir = join(cache, "registry");
  let addr = "";
  let creds: Record<string, string> = {};
  const stateRoot = mkdtempSync(join(tmpdir(), "berth-gate-ws-"));
  roots.push(stateRoot);
  const ex = new WorkspaceExecutor({ stateRoot, log, isolatedBuilder: BUILDERS, pushTimeoutSeconds: 300 });

  beforeAll(async () => {
    addr = `127.0.0.1:${await freePort()}`;
    // The real setup step, in a cache folder of its own (the shared registry is left alone).
    const r = await run("bash", ["scripts/setup.sh", "registry"], {
      cwd: ROOT,
      env: { BERTH_CACHE: cache, BERTH_REGISTRY_ADDR: addr },
      timeoutMs: 120_000,
    });
    expect(r.stdout + r.stderr).toMatch(/registry gate/);
    creds = Object.fromEntries(
      readFileSync(join(dir, "credentials.env"), "utf8")
        .trim()
        .split("\n")
        .map((l) => l.split("=") as [string, string]),
    );
  });

  afterAll(async () => {
    await ex.down(`gate-${RUN}`).catch(() => undefined);
    await removeStateVolumes(RUN);
    // The registry and the gate this test's setup started, by their pids.
    for (const f of ["pid", "gate.pid"]) await sh(`kill "$(cat ${join(dir, f)})" 2>/dev/null`, true);
    // By name, never by id: the trusted tag is the shared base image under another name, and
    // removing its id would remove the base image itself.
    await sh(
      `docker image ls --format '{{.Repository}}:{{.Tag}}' | grep '^${addr}/' | xargs -r docker rmi >/dev/null`,
      true,
    );
  });

  it("refuses every write of the pull login; an untrusted build leaves the trusted tag as it was", async () => {
    const pull = { username: creds.BERTH_REGISTRY_PULL_USER!, password: creds.BERTH_REGISTRY_PULL_PASSWORD! };
    const push = { username: creds.BERTH_REGISTRY_USER!, password: creds.BERTH_REGISTRY_PASSWORD! };
    expect(pull.username).toBe("berth-pull");
    const dockerAs = async (login: { username: string; password: string }, ...args: string[]) => {
      const cfg = mkdtempSync(join(tmpdir(), "berth-gate-cfg-"));
      try {
        await run("docker", ["login", addr, "-u", login.username, "--password-stdin"], {
          env: { DOCKER_CONFIG: cfg },
          input: login.password,
        });
        return await run("docker", args, {
          env: { DOCKER_CONFIG: cfg },
          allowFailure: true,
          timeoutMs: 300_000,
        });
      } finally {
        rmSync(cfg, { recursive: true, force: true });
      }
    };
    const repoName = `${addr}/berth-ws/acme/gate-${RUN}/devcontainer`;
    const trustedTag = `${repoName}:cache-default.main`;
    // The base image in this registry: the isolated builder pulls what it builds FROM.
    const base = `${addr}/berth/debian:base`;
    await run("docker", ["tag", BASE_IMAGE, base]);
    expect((await dockerAs(push, "push", "--quiet", base)).exitCode).toBe(0);
    // A trusted build wrote the trusted cache tag.
    await run("docker", ["tag", BASE_IMAGE, trustedTag]);
    expect((await dockerAs(push, "push", "--quiet", trustedTag)).exitCode).toBe(0);
    const digest = async () => (await resolveDigest(trustedTag, { credentials: { [addr]: pull } })).digest;
    const before = await digest();

    // The branch's untrusted workspace: its build gets the pull login, the agent pushes its
    // own untrusted tag with the push login.
    const repo = mkdtempSync(join(tmpdir(), "berth-gate-repo-"));
    roots.push(repo);
    await git(repo, "init", "--quiet", "--initial-branch", "main");
    await commit(
      repo,
      { ".devcontainer/devcontainer.json": '{ "build": { "dockerfile": "Dockerfile" } }' },
      "main",
    );
    await git(repo, "checkout", "--quiet", "-b", "contrib");
    await commit(
      repo,
      { ".devcontainer/Dockerfile": `FROM ${base}\nRUN echo poisoned > /etc/berth-poison\n` },
      "contrib",
    );
    const r = await ex.up({
      id: `gate-${RUN}`,
      repository: repo,
      repositoryName: `acme/gate-${RUN}`,
      branch: "contrib",
      defaultBranch: "main",
      trusted: false,
      allowInitializeCommand: false,
      defaultImage: BASE_IMAGE,
      registry: { namespace: `${addr}/berth-ws`, login: pull, pushLogin: push },
    });
    const final = await r.background;
    expect(r.status.state, r.status.error).toBe("running");
    expect(final.push, final.pushError).toBe("done");
    expect(
      (await resolveDigest(`${repoName}:untrusted-default.contrib`, { credentials: { [addr]: pull } }))
        .digest,
    ).toMatch(/^sha256:/);

    // What the branch's build could take (its login) cannot move the trusted tag: the registry's
    // gate refuses the push.
    await run("docker", ["tag", r.status.image!, trustedTag]);
    const attempt = await dockerAs(pull, "push", trustedTag);
    expect(attempt.exitCode).not.toBe(0);
    expect(attempt.stderr).toMatch(/denied/);
    expect(await digest()).toBe(before);

    // Nor from inside the workspace's builder, with exactly what its build gets: the pull login
    // for the registry and for the mirror the builder reaches it by, a push of the branch's image
    // over the trusted tag through that mirror.
    const gateway = (
      await run("docker", [
        "network",
        "inspect",
        "--format",
        "{{range .IPAM.Config}}{{.Gateway}}{{end}}",
        BUILDERS.network,
      ])
    ).stdout.trim();
    const port = addr.split(":")[1]!;
    const mirror = `${gateway}:${port}`;
    const cfg = mkdtempSync(join(tmpdir(), "berth-gate-cfg-"));
    roots.push(cfg);
    const auth = Buffer.from(`${pull.username}:${pull.password}`).toString("base64");
    writeFileSync(
      join(cfg, "config.json"),
      JSON.stringify({ auths: { [addr]: { auth }, [mirror]: { auth } } }),
    );
    const ctx = mkdtempSync(join(tmpdir(), "berth-gate-ctx-"));
    roots.push(ctx);
    writeFileSync(join(ctx, "Dockerfile"), `FROM ${base}\nRUN echo poisoned > /etc/berth-poison-2\n`);
    const release = await forwardRegistry(mirror, addr);
    try {
      const fromBuilder = await run(
        "docker",
        [
          "buildx",
          "build",
          "--progress",
          "plain",
          "--output",
          `type=image,name=${mirror}/berth-ws/acme/gate-${RUN}/devcontainer:cache-default.main,push=true`,
          ctx,
        ],
        {
          env: {
            DOCKER_CONFIG: cfg,
            BUILDX_BUILDER: `berth-builder-gate-${RUN}`,
            BUILDX_CONFIG: join(stateRoot, "buildx"),
          },
          allowFailure: true,
          timeoutMs: 300_000,
        },
      );
      const said = fromBuilder.stdout + fromBuilder.stderr;
      expect(fromBuilder.exitCode, said).not.toBe(0);
      // The build ran (in that builder) and the registry refused the push.
      expect(said).toContain(
        `building with "berth-builder-gate-${RUN}" instance using docker-container driver`,
      );
      expect(said).toMatch(/403 Forbidden|denied/);
    } finally {
      await release();
    }
    expect(await digest()).toBe(before);
  });
});

afterAll(async () => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
  // The builders were removed with their workspaces; their network and this run's images now.
  await sh(`docker network rm ${BUILDERS.network} >/dev/null 2>&1`, true);
  await sh(
    `docker image ls --format '{{.Repository}}:{{.Tag}}' | grep -e 'berth-builder-test-${RUN}/' -e 'acme/iso-${RUN}' | xargs -r docker rmi >/dev/null`,
    true,
  );
});
