// An agent on this machine for system tests: real Docker, real HAProxy on a free 127.0.0.1
// port, a folder channel, state and volumes in a temporary folder; releases signed with a
// test signing key and published like the program publishes them.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AccessPolicy } from "../../../contract/access/schema";
import type { EnvironmentBackup } from "../../../contract/backup/schema";
import { FolderChannelStore } from "../../../contract/channel/folder-store";
import { channelKeys } from "../../../contract/channel/layout";
import { publishRelease, waitForOutcome, withdrawEnvironment } from "../../../contract/channel/publish";
import { nextSequence } from "../../../contract/channel/sequence";
import type { EnvironmentStatus } from "../../../contract/channel/status";
import { type Manifest, parseManifest } from "../../../contract/manifest/schema";
import { agentConfigSchema } from "../../../contract/node/agent-config";
import { AGENT_ENVIRONMENT, agentRunArgs } from "../../../contract/node/agent-process";
import {
  createReleasePayload,
  generateSigningKeyPair,
  type SigningKeyPair,
  serializeEnvelope,
  signRelease,
} from "../../../contract/payload";
import { REGISTRY_CREDENTIALS_SECRET } from "../../../contract/release/registry-credentials";
import { renderNodeCompose } from "../../../contract/render/node-compose";
import { type AgentStatus, verifyAgentStatus } from "../../../contract/trust";
import { createLogger, type Logger } from "../../../lib/log";
import { run } from "../../../lib/process";
import { Agent } from "../../../node-agent/agent";
import { watchFolderChannel } from "../../../node-agent/channel-watch";
import { dockerRunner } from "../../../node-agent/docker";
import { loadOrCreateNodeKeys, loadOrCreateStatusKey } from "../../../node-agent/node-keys";
import { HaproxyControl } from "../../../node-agent/proxy/haproxy-control";
import { registryCredentials } from "./test-app-image";

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** GET http://127.0.0.1:PORT/PATH with a Host header (fetch cannot set one). */
export function httpGet(
  port: number,
  path: string,
  host: string,
  agent?: import("node:http").Agent,
): Promise<{ status: number; body: string }> {
  const http = require("node:http") as typeof import("node:http");
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: "127.0.0.1", port, path, headers: { host }, agent, timeout: 10_000 },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => {
          body += d;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: body.trim() }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on("error", reject);
    req.end();
  });
}

/** GET https://HOST/ through a proxy on 127.0.0.1:PORT (SNI and Host set, any certificate taken):
 * the status, the body and the SHA-256 fingerprint of the certificate it was served with. */
export function httpsGet(
  port: number,
  host: string,
): Promise<{ status: number; body: string; fingerprint: string }> {
  const https = require("node:https") as typeof import("node:https");
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: "127.0.0.1",
        port,
        path: "/",
        servername: host,
        headers: { host },
        rejectUnauthorized: false,
        agent: false,
        timeout: 5_000,
      },
      (res) => {
        const fp = (res.socket as import("node:tls").TLSSocket).getPeerCertificate().fingerprint256;
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => {
          body += d;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: body.trim(), fingerprint: fp }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error("GET timed out")));
    req.on("error", reject);
    req.end();
  });
}

export interface AppOptions {
  message: string;
  /** A web service whose health check never passes. */
  broken?: boolean;
  image: string;
  /** Changes the store's definition (so the release recreates it). */
  storeVersion?: string;
  /** The route's host (default app.test). */
  host?: string;
}

/** One store service serving its volume's files on :9000, routed at files.test (backup tests). */
export function storeManifest(image: string): Manifest {
  return parseManifest({
    formatVersion: 1,
    order: ["store"],
    services: {
      store: {
        image,
        environment: { ROLE: { value: "store" } },
        volumes: [{ source: "data", target: "/data", readOnly: false }],
        dependsOn: {},
        resources: {},
        updateOrder: "stop-first",
        expose: [],
        labels: {},
        networks: { default: { aliases: [] } },
        health: { path: "/starts", port: 9000, status: 200 },
      },
    },
    volumes: { data: { labels: {} } },
    networks: {},
    routes: [{ service: "store", port: 9000, host: "files.test" }],
    routeHints: [],
    extensions: {},
  });
}

/** web (routed at app.test, secret TOKEN, HTTP probe) + store (named volume, stop-first). */
export function appManifest(o: AppOptions): Manifest {
  return parseManifest({
    formatVersion: 1,
    order: ["store", "web"],
    services: {
      store: {
        image: o.image,
        environment: {
          ROLE: { value: "store" },
          ...(o.storeVersion ? { STORE_VERSION: { value: o.storeVersion } } : {}),
        },
        volumes: [{ source: "data", target: "/data", readOnly: false }],
        dependsOn: {},
        healthcheck: {
          test: ["CMD-SHELL", "test -s /data/starts"],
          intervalMs: 500,
          startIntervalMs: 200,
          retries: 20,
          disable: false,
        },
        resources: {},
        updateOrder: "stop-first",
        expose: [],
        labels: {},
        networks: { default: { aliases: [] } },
      },
      web: {
        image: o.image,
        environment: { ROLE: { value: "web" }, MESSAGE: { value: o.message }, TOKEN: { secret: "token" } },
        volumes: [],
        dependsOn: { store: { condition: "service_healthy", restart: false, required: true } },
        healthcheck: {
          test: o.broken
            ? ["CMD", "false"]
            : ["CMD", "busybox", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/health"],
          intervalMs: 500,
          startIntervalMs: 200,
          retries: 6,
          disable: false,
        },
        resources: {},
        updateOrder: "start-first",
        expose: [],
        labels: {},
        networks: { default: { aliases: [] } },
        health: { path: "/health", port: 8080, status: 200 },
        stopGracePeriodMs: 2000,
      },
    },
    volumes: { data: { labels: {} } },
    networks: {},
    routes: [{ service: "web", port: 8080, host: o.host ?? "app.test" }],
    routeHints: [],
    extensions: {},
  });
}

function changedCompose(text: string, change: (doc: Record<string, unknown>) => void): string {
  const doc = JSON.parse(text.replace(/^#.*\n/, "")) as Record<string, unknown>;
  change(doc);
  return `${JSON.stringify(doc, null, 2)}\n`;
}

export class AgentHarness {
  readonly root = mkdtempSync(join(tmpdir(), "berth-agent-"));
  readonly channelDir: string;
  readonly stateRoot = join(this.root, "state");
  readonly volumeRoot: string;
  readonly channel: FolderChannelStore;
  readonly signing: SigningKeyPair;
  readonly nodeId: string;
  readonly token = `tok-${Math.random().toString(36).slice(2)}xyz`;
  proxyPort = 0;
  /** The proxy's HTTPS port, when started with `tls`. */
  tlsPort = 0;
  agent!: Agent;
  proxy!: HaproxyControl;
  configFile = "";
  /** The bundled agent's daemon (`startDaemon`), when the test runs the real process. */
  daemon: ChildProcess | undefined;

  /**
   * Several agents can share one channel and signing key (a node group's nodes): `nodeId`,
   * `channelDir` and `signing` default to node-1, a folder of its own and a fresh key.
   */
  constructor(
    o: {
      nodeId?: string;
      channelDir?: string;
      signing?: SigningKeyPair;
      /** Where the volumes' folders are (default: a folder of its own). */
      volumeRoot?: string;
    } = {},
  ) {
    this.volumeRoot = o.volumeRoot ?? join(this.root, "volumes");
    this.nodeId = o.nodeId ?? "node-1";
    this.channelDir = o.channelDir ?? join(this.root, "channel");
    this.channel = new FolderChannelStore(this.channelDir);
    this.signing = o.signing ?? generateSigningKeyPair();
  }

  /** The node's X25519 public key, from the in-process agent or the daemon's state folder. */
  get nodePublicKey(): string {
    return this.agent ? this.agent.publicKey : loadOrCreateNodeKeys(this.stateRoot).publicKey;
  }

  /** The node's Ed25519 status public key (what a program would pin). */
  get statusPublicKey(): string {
    return loadOrCreateStatusKey(this.stateRoot).publicKey;
  }

  /**
   * The agent's own status (`status/agent/state.json`), believed only when it verifies against
   * the node's status key: a forged or unsigned one throws with the reason.
   */
  async agentStatus(): Promise<AgentStatus | undefined> {
    const text = await this.channel.get(channelKeys.agentStatus(this.nodeId));
    if (text === undefined) return undefined;
    const r = verifyAgentStatus(text, { statusKey: this.statusPublicKey, nodeId: this.nodeId });
    if (!r.ok) throw new Error(`the agent's status does not verify: ${r.reason}`);
    return r.status;
  }

  private writeConfig(o: {
    healthTimeoutSeconds?: number;
    heldVolumesTimeoutSeconds?: number;
    tls?: boolean;
    trustRoots?: string[];
    upgrade?: Record<string, unknown>;
    uploadAbandonSeconds?: number;
  }) {
    // The node's enrollment secret, as cloud-init or the local node writes it (0600).
    const enrollmentSecretFile = join(this.root, "enrollment-secret");
    if (!existsSync(enrollmentSecretFile))
      writeFileSync(enrollmentSecretFile, `${randomBytes(32).toString("base64url")}\n`, { mode: 0o600 });
    const config = agentConfigSchema.parse({
      nodeId: this.nodeId,
      enrollmentSecretFile,
      stateRoot: this.stateRoot,
      volumeRoot: this.volumeRoot,
      channel: { kind: "folder", path: this.channelDir },
      trustedKeys: [this.signing.publicKey],
      ...(o.trustRoots ? { trustRoots: o.trustRoots } : {}),
      ...(o.upgrade ? { upgrade: o.upgrade } : {}),
      pollIntervalSeconds: 0.5,
      healthTimeoutSeconds: o.healthTimeoutSeconds ?? 30,
      ...(o.heldVolumesTimeoutSeconds ? { heldVolumesTimeoutSeconds: o.heldVolumesTimeoutSeconds } : {}),
      drainSeconds: 0.5,
      ...(o.uploadAbandonSeconds ? { workspaces: { uploadAbandonSeconds: o.uploadAbandonSeconds } } : {}),
      disks: { fstabPath: join(this.root, "fstab"), deviceTimeoutSeconds: 3 },
      proxy: {
        bind: `127.0.0.1:${this.proxyPort}`,
        ...(o.tls ? { tls: { bind: `127.0.0.1:${this.tlsPort}` } } : {}),
      },
    });
    this.configFile = join(this.root, "agent.json");
    writeFileSync(this.configFile, JSON.stringify(config, null, 2));
    return config;
  }

  /**
   * Runs the bundled agent (dist/berth-agent.js run) as its own process, the way a node runs it:
   * it polls the folder channel, serves the proxy and the access endpoint. Its log is agent.log.
   */
  async startDaemon(
    opts: { healthTimeoutSeconds?: number; tls?: boolean; uploadAbandonSeconds?: number } = {},
  ): Promise<void> {
    this.proxyPort = await freePort();
    if (opts.tls) this.tlsPort = await freePort();
    const config = this.writeConfig(opts);
    loadOrCreateNodeKeys(this.stateRoot);
    this.proxy = new HaproxyControl({
      dir: join(this.stateRoot, "proxy"),
      bind: config.proxy.bind,
      log: createLogger("berth-agent-test"),
    });
    await this.spawnDaemon();
  }

  private async spawnDaemon(): Promise<void> {
    const log = join(this.root, "agent.log");
    const from = existsSync(log) ? statSync(log).size : 0;
    const out = openSync(log, "a");
    this.daemon = spawn(
      process.execPath,
      [
        // Node.js flags for the daemon (a profile: `--cpu-prof --cpu-prof-dir=DIR`, which
        // NODE_OPTIONS refuses), space-separated.
        ...(process.env.BERTH_TEST_AGENT_NODE_FLAGS?.split(" ").filter(Boolean) ?? []),
        // The flags and environment every node runs its agent with.
        ...agentRunArgs(join(__dirname, "..", "..", "..", "dist", "berth-agent.js"), this.configFile),
      ],
      { stdio: ["ignore", out, out], env: { ...process.env, ...AGENT_ENVIRONMENT, BERTH_LOG_LEVEL: "info" } },
    );
    closeSync(out);
    // Up once this process's access endpoint listens (a killed one may have left the socket).
    const listening = () => readFileSync(log).subarray(from).includes("access endpoint listening");
    const deadline = Date.now() + 20_000;
    while (!(listening() && (await this.proxy.running()))) {
      if (this.daemon.exitCode !== null || Date.now() > deadline)
        throw new Error(`the agent daemon did not come up:\n${this.daemonLog()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * Stops the daemon (SIGTERM: a clean stop, as systemd's restart; SIGKILL: a crash) and starts
   * it again with the same configuration, state and proxy.
   */
  async restartDaemon(signal: "SIGTERM" | "SIGKILL"): Promise<void> {
    const d = this.daemon;
    if (d && d.exitCode === null && d.signalCode === null) {
      const exited = new Promise((r) => d.once("exit", r));
      d.kill(signal);
      await exited;
    }
    await this.spawnDaemon();
  }

  daemonLog(): string {
    const f = join(this.root, "agent.log");
    return existsSync(f) ? readFileSync(f, "utf8").split("\n").slice(-40).join("\n") : "";
  }

  /** Publishes a release and waits for the daemon's outcome. */
  async deployToDaemon(
    env: string,
    sequence: number,
    m: Manifest,
    o: Parameters<AgentHarness["publish"]>[3] = {},
  ): Promise<EnvironmentStatus> {
    await this.publish(env, sequence, m, o);
    return waitForOutcome(this.channel, {
      nodeId: this.nodeId,
      environmentId: env,
      sequence,
      timeoutMs: 60_000,
    });
  }

  /** `watch`: the agent watches the channel folder (a `run` loop then applies a release at once). */
  async start(
    opts: {
      healthTimeoutSeconds?: number;
      /** A group's leader: how long a release waits for the holders of its volumes. */
      heldVolumesTimeoutSeconds?: number;
      watch?: boolean;
      tls?: boolean;
      log?: Logger;
      /** Called at each apply step (timelines in benchmarks). */
      onStep?: (step: string) => void;
      /** Keys that sign the channel's trust set (trust rotation tests). */
      trustRoots?: string[];
      /** The agent config's `upgrade` (agent upgrade tests, with the bundled agent). */
      upgrade?: Record<string, unknown>;
      /** The Docker Engine the agent drives (DOCKER_HOST), e.g. a swarm manager of the test bed. */
      dockerHost?: string;
    } = {},
  ): Promise<void> {
    this.proxyPort = await freePort();
    if (opts.tls) this.tlsPort = await freePort();
    const config = this.writeConfig(opts);
    const log = opts.log ?? createLogger("berth-agent-test");
    if (!opts.log) log.level = process.env.BERTH_LOG_LEVEL ?? "warn";
    this.proxy = new HaproxyControl({
      dir: join(this.stateRoot, "proxy"),
      bind: config.proxy.bind,
      log,
      drainSeconds: 5,
      ...(config.proxy.tls ? { tls: config.proxy.tls } : {}),
    });
    this.agent = new Agent({
      config,
      channel: this.channel,
      docker: dockerRunner(opts.dockerHost ? { dockerHost: opts.dockerHost } : {}),
      proxy: this.proxy,
      log,
      ...(opts.watch ? { changes: watchFolderChannel(this.channelDir, this.nodeId, log) } : {}),
      ...(opts.onStep ? { onStep: opts.onStep } : {}),
    });
    await this.agent.start();
  }

  /** Signs and publishes release `sequence` of `env` for this node. */
  async publish(
    env: string,
    sequence: number,
    m: Manifest,
    o: {
      expiresAt?: Date;
      signing?: SigningKeyPair;
      nodeId?: string;
      /** More secrets (e.g. berth.tls.* certificate bundles). */
      secrets?: Record<string, string>;
      /** Volume name → block device (a cloud node's volumes). */
      disks?: Record<string, string>;
      backup?: EnvironmentBackup;
      /** Changes the rendered Compose document before it is signed (what a leaked key could sign). */
      compose?: (doc: Record<string, unknown>) => void;
      /** Operators and the command switch (x-berth.access). */
      access?: AccessPolicy;
      /** Sign this Compose text instead of the node render of `m` (a Swarm stack). */
      text?: string;
    } = {},
  ) {
    const images = Object.fromEntries(Object.entries(m.services).map(([n, s]) => [n, s.image as string]));
    const rendered = renderNodeCompose(m, {
      environmentId: env,
      sequence,
      images,
      volumeRoot: this.volumeRoot,
      ...(o.disks ? { disks: o.disks } : {}),
      ...(o.backup ? { backup: o.backup } : {}),
      ...(o.access ? { access: o.access } : {}),
    });
    const payload = createReleasePayload({
      environmentId: env,
      nodeId: o.nodeId ?? this.nodeId,
      sequence,
      composeText: o.text ?? (o.compose ? changedCompose(rendered.text, o.compose) : rendered.text),
      routes: m.routes,
      secrets: {
        token: this.token,
        [REGISTRY_CREDENTIALS_SECRET]: JSON.stringify(registryCredentials()),
        ...o.secrets,
      },
      nodePublicKey: this.nodePublicKey,
      ...(o.expiresAt
        ? { issuedAt: new Date(o.expiresAt.getTime() - 3600_000), expiresAt: o.expiresAt }
        : {}),
    });
    const envelope = serializeEnvelope(signRelease(payload, (o.signing ?? this.signing).privateKey));
    await publishRelease(this.channel, { nodeId: this.nodeId, environmentId: env, sequence, envelope });
    return envelope;
  }

  async deploy(
    env: string,
    sequence: number,
    m: Manifest,
    o: Parameters<AgentHarness["publish"]>[3] = {},
  ): Promise<EnvironmentStatus> {
    await this.publish(env, sequence, m, o);
    await this.agent.pollOnce();
    return waitForOutcome(this.channel, {
      nodeId: this.nodeId,
      environmentId: env,
      sequence,
      timeoutMs: 5_000,
    });
  }

  /**
   * Withdraws an environment as the program does when it is deleted: a signed withdrawal above
   * every release, then desired.json removed. Returns its sequence.
   */
  async withdraw(env: string, o: { signing?: SigningKeyPair; sequence?: number } = {}): Promise<number> {
    const signing = o.signing ?? this.signing;
    const sequence =
      o.sequence ??
      (await nextSequence(this.channel, {
        nodeId: this.nodeId,
        environmentId: env,
        floor: 0,
        signingKey: signing.privateKey,
      }));
    await withdrawEnvironment(this.channel, {
      nodeId: this.nodeId,
      environmentId: env,
      sequence,
      signingKey: signing.privateKey,
    });
    return sequence;
  }

  /** GET through the node's proxy with the route's Host header. */
  get(path = "/", host = "app.test"): Promise<{ status: number; body: string }> {
    return httpGet(this.proxyPort, path, host);
  }

  async containers(
    env: string,
  ): Promise<{ project: string; release: string; service: string; state: string }[]> {
    const out = await run("docker", [
      "ps",
      "--all",
      "--filter",
      `label=berth.environment=${env}`,
      "--format",
      '{{.Label "com.docker.compose.project"}}\t{{.Label "berth.release"}}\t{{.Label "berth.service"}}\t{{.State}}',
    ]);
    return out.stdout
      .split("\n")
      .filter(Boolean)
      .map((l) => {
        const [project = "", release = "", service = "", state = ""] = l.split("\t");
        return { project, release, service, state };
      });
  }

  /** Removes an environment's containers, networks and Docker volumes (labelled berth.environment). */
  private async removeDockerObjects(env: string): Promise<void> {
    const ids = (await run("docker", ["ps", "-aq", "--filter", `label=berth.environment=${env}`])).stdout
      .split("\n")
      .filter(Boolean);
    if (ids.length) await run("docker", ["rm", "-f", ...ids], { allowFailure: true });
    for (const kind of ["network", "volume"] as const) {
      const names = (
        await run("docker", [kind, "ls", "-q", "--filter", `label=berth.environment=${env}`])
      ).stdout
        .split("\n")
        .filter(Boolean);
      if (names.length) await run("docker", [kind, "rm", ...names], { allowFailure: true });
    }
  }

  /**
   * The node is lost: the environment's containers, networks and Docker volumes, the proxy, and
   * the agent's state and volume folders are gone (a replacement node starts from nothing).
   */
  async loseNode(env: string): Promise<void> {
    await this.removeDockerObjects(env);
    await this.proxy.stop();
    rmSync(this.stateRoot, { recursive: true, force: true });
    rmSync(this.volumeRoot, { recursive: true, force: true });
  }

  async cleanup(envs: string[]): Promise<void> {
    if (this.daemon && this.daemon.exitCode === null) {
      const exited = new Promise((r) => this.daemon?.once("exit", r));
      this.daemon.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    }
    for (const env of envs) await this.removeDockerObjects(env);
    await this.proxy?.stop();
    // Volume disks mounted under the harness's folders (tests of cloud volumes), deepest first.
    const mounts = readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .map((l) => l.split(" ")[4] ?? "")
      .filter((m) => m.startsWith(`${this.root}/`))
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) await run("umount", [m], { allowFailure: true });
    rmSync(this.root, { recursive: true, force: true });
  }
}
