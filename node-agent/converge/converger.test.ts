// The converger against a real release store and folder channel, with a recording Docker runner
// and a fake applier: what it verifies, stores, reports and runs, as data.
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FolderChannelStore } from "../../contract/channel/folder-store";
import { publishRelease } from "../../contract/channel/publish";
import { parseManifest } from "../../contract/manifest/schema";
import {
  createReleasePayload,
  generateNodeKeyPair,
  generateSigningKeyPair,
  serializeEnvelope,
  signRelease,
  TrustedKeys,
} from "../../contract/payload";
import { renderNodeCompose } from "../../contract/render/node-compose";
import { renderSwarmStack } from "../../contract/swarm/render";
import { swarmImages, swarmManifest } from "../../contract/swarm/testdata";
import { createLogger } from "../../lib/log";
import type { ApplyOutcome } from "../apply/apply";
import type { ProxyControl } from "../apply/proxy-control";
import { Floors } from "../state/floors";
import type { Release } from "../state/release";
import { ReleaseStore } from "../state/release-store";
import type { StatusReport } from "../status/publisher";
import { recordingRunner } from "../testing/recording-runner";
import { Converger } from "./converger";

const ENV = "shop";

function quiet() {
  const log = createLogger("converger-test");
  log.level = "silent";
  return log;
}
const NODE = "node-1";

const IMAGE = `registry.test/web@sha256:${"a".repeat(64)}`;
const VOLUME_ROOT = "/srv/volumes";

const manifest = parseManifest({
  formatVersion: 1,
  order: ["web"],
  services: {
    web: {
      image: IMAGE,
      environment: {},
      volumes: [],
      dependsOn: {},
      resources: {},
      updateOrder: "start-first",
      expose: [],
      labels: {},
      networks: { default: { aliases: [] } },
    },
  },
  volumes: {},
  networks: {},
  routes: [{ service: "web", port: 8080, host: "shop.test" }],
  routeHints: [],
  extensions: {},
});

/** What berth renders for release `seq`, as a document to change (attacks) and then to text. */
// biome-ignore lint/suspicious/noExplicitAny: a rendered document, changed by hand as an attacker would
function composeDoc(seq: number): Record<string, any> {
  const r = renderNodeCompose(manifest, {
    environmentId: ENV,
    sequence: seq,
    images: { web: IMAGE },
    volumeRoot: VOLUME_ROOT,
  });
  return JSON.parse(r.text.replace(/^#.*\n/, ""));
}

// biome-ignore lint/suspicious/noExplicitAny: a rendered document, changed by hand as an attacker would
function composeText(seq: number, change: (doc: Record<string, any>) => void = () => {}): string {
  const doc = composeDoc(seq);
  change(doc);
  return JSON.stringify(doc);
}

function setup(
  o: {
    applyState?: ApplyOutcome["state"];
    restoreFails?: string;
    swarm?: ApplyOutcome["state"];
    opens?: (p: unknown) => string | undefined;
    /** Writes a status (default: at once). */
    report?: (s: StatusReport) => Promise<void>;
    /** The restore before a first apply (default: at once, with `restoreFails`). */
    restore?: () => Promise<string | undefined>;
    /** What Docker answers (default: nothing, exit 0). */
    docker?: Parameters<typeof recordingRunner>[0];
  } = {},
) {
  const root = mkdtempSync(join(tmpdir(), "berth-converger-"));
  const channel = new FolderChannelStore(join(root, "channel"));
  const signing = generateSigningKeyPair();
  const nodeKeys = generateNodeKeyPair();
  const docker = recordingRunner(o.docker);
  const reports: StatusReport[] = [];
  const applied: { sequence: number; withRestore: boolean }[] = [];
  const retired: { sequence: number; afterReports: number }[] = [];
  const swarmed: { sequence: number; file: string }[] = [];
  const store = (env: string) => new ReleaseStore(join(root, "state"), env);
  const proxy = {
    removed: [] as unknown[],
    certificates: [] as unknown[],
    async ensureRoutes() {},
    async switchRoute() {},
    async upstreamsOf() {
      return [];
    },
    async removeRoute(r: unknown) {
      this.removed.push(r);
    },
    async installCertificates(env: string, b: unknown[]) {
      this.certificates.push([env, b]);
    },
    routesOf: (env: string) => [{ environmentId: env, host: "shop.test" }],
  };
  const converger = new Converger({
    nodeId: NODE,
    channel,
    trusted: new TrustedKeys([signing.publicKey]),
    store,
    applier: {
      async apply(s: ReleaseStore, r: Release, before?: Promise<ApplyOutcome | undefined>) {
        const stop = before ? await before : undefined;
        applied.push({ sequence: r.sequence, withRestore: before !== undefined });
        if (stop) return stop;
        const state = o.applyState ?? "applied";
        if (state === "applied") s.setCurrent(r.sequence);
        // The previous release's stop, which the converger runs after its report.
        const retire = async () => void retired.push({ sequence: r.sequence, afterReports: reports.length });
        return { state, sequence: r.sequence, services: [{ name: "web", state: "running" }], retire };
      },
      async resumeRollback(_s: ReleaseStore, r: Release) {
        return { state: "rolled-back", sequence: r.sequence, services: [] };
      },
    },
    docker: docker.run,
    proxy: proxy as unknown as ProxyControl & typeof proxy,
    report: async (s) => {
      await o.report?.(s);
      reports.push(s);
    },
    backups: {
      restoreBeforeFirstApply: async () => (o.restore ? o.restore() : o.restoreFails),
      recoverInterrupted: async () => {},
      requestedRestore: async () => {},
    },
    recover: async () => {},
    log: quiet(),
    keepReleases: 5,
    floors: new Floors(join(root, "state")),
    volumeRoot: VOLUME_ROOT,
    ...(o.swarm
      ? {
          swarm: async (p: { sequence: number }, file: string): Promise<ApplyOutcome> => {
            swarmed.push({ sequence: p.sequence, file: readFileSync(file, "utf8") });
            return o.swarm === "applied"
              ? {
                  state: "applied",
                  sequence: p.sequence,
                  services: [{ name: "web", state: "3/3 running on a, b, c" }],
                }
              : {
                  state: "failed",
                  sequence: p.sequence,
                  error: "web: update rollback completed (on b)",
                  services: [],
                };
          },
        }
      : {}),
    ...(o.opens ? { opens: o.opens } : {}),
  });
  const publish = async (seq: number, key = signing, compose = composeText(seq)) => {
    const payload = createReleasePayload({
      environmentId: ENV,
      nodeId: NODE,
      sequence: seq,
      composeText: compose,
      routes: [{ service: "web", port: 8080, host: "shop.test" }],
      secrets: {},
      nodePublicKey: nodeKeys.publicKey,
    });
    const envelope = serializeEnvelope(signRelease(payload, key.privateKey));
    await publishRelease(channel, { nodeId: NODE, environmentId: ENV, sequence: seq, envelope });
  };
  return { converger, docker, reports, applied, retired, swarmed, store, proxy, publish, channel };
}

/** A backup section that restores one volume before the first apply. */
function backupOf() {
  return {
    repository: "s3:http://s3.test/b/shop",
    region: "us-east-1",
    pruneSchedule: "0 3 * * *",
    checkSchedule: "0 4 * * 0",
    restoreOnFirstApply: true,
    secrets: { password: "p", accessKeyId: "a", secretAccessKey: "s" },
    volumes: [{ name: "data", device: "/v/data", schedule: "0 * * * *", retention: { last: 3 }, stop: [] }],
  };
}

describe("Converger", () => {
  it("verifies, stores and applies the desired release, reporting applying then the outcome", async () => {
    const t = setup();
    await t.publish(1);
    const outcome = await t.converger.converge(ENV, 1);
    expect(outcome?.state).toBe("applied");
    expect(t.applied).toEqual([{ sequence: 1, withRestore: false }]);
    expect(t.reports.map((r) => r.state)).toEqual(["applying", "applied"]);
    expect(t.reports[1]).toMatchObject({ appliedSequence: 1, attemptedSequence: 1 });
    // The previous release stops only after the node said the new one serves.
    expect(t.retired).toEqual([{ sequence: 1, afterReports: 2 }]);
    const s = t.store(ENV);
    expect(s.current()).toBe(1);
    expect(s.readMetadata(1).outcome).toBe("applied");
    // Parsed once, from what was stored: the release carries its Compose document and extras.
    expect(s.release(1).extras.networks).toEqual([{ name: "berth_shop", internal: false }]);
    expect(s.release(1)).toBe(s.release(1));
    // Nothing more to do for the same pointer.
    expect(await t.converger.converge(ENV, 1)).toBeUndefined();
    expect(t.applied).toHaveLength(1);
  });

  it("refuses a release sealed to another node key before it stores, restores or runs anything", async () => {
    const t = setup({ opens: () => 'secret "api-token" cannot be opened: wrong node key' });
    await t.publish(1);
    expect(await t.converger.converge(ENV, 1)).toBeUndefined();
    expect(t.applied).toEqual([]);
    expect(t.store(ENV).has(1)).toBe(false);
    expect(t.reports).toHaveLength(1);
    expect(t.reports[0]).toMatchObject({ state: "rejected", attemptedSequence: 1 });
    expect(t.reports[0]?.error).toMatch(
      /^release 1 was rejected: SEALED_TO_ANOTHER_KEY: .*next pulumi up publishes a release sealed to them.*wrong node key/,
    );
    // Reported once, not at every poll.
    await t.converger.converge(ENV, 1);
    expect(t.reports).toHaveLength(1);
  });

  it("refuses a release signed by an untrusted key, reports it once, stores and runs nothing", async () => {
    const t = setup();
    await t.publish(1, generateSigningKeyPair());
    expect(await t.converger.converge(ENV, 1)).toBeUndefined();
    expect(await t.converger.converge(ENV, 1)).toBeUndefined();
    expect(t.reports).toHaveLength(1);
    expect(t.reports[0]).toMatchObject({ state: "rejected", attemptedSequence: 1 });
    expect(t.reports[0]?.error).toMatch(/^release 1 was rejected: UNKNOWN_KEY/);
    expect(t.applied).toEqual([]);
    expect(t.store(ENV).sequences()).toEqual([]);
    expect(t.docker.calls).toEqual([]);
  });

  it("refuses a pointer back to an older release as a rollback", async () => {
    const t = setup();
    await t.publish(1);
    await t.publish(2);
    await t.converger.converge(ENV, 1);
    await t.converger.converge(ENV, 2);
    await t.converger.converge(ENV, 1);
    expect(t.applied.map((a) => a.sequence)).toEqual([1, 2]);
    expect(t.reports.at(-1)).toMatchObject({ state: "rejected", appliedSequence: 2, attemptedSequence: 1 });
    expect(t.reports.at(-1)?.error).toMatch(/STALE_SEQUENCE/);
  });

  it("a Compose file berth did not render is refused with its reason", async () => {
    const t = setup();
    await t.publish(1, undefined, "services: {}\n");
    await t.converger.converge(ENV, 1);
    expect(t.reports[0]?.state).toBe("rejected");
    expect(t.reports[0]?.error).toMatch(/no x-berth section/);
    expect(t.applied).toEqual([]);
  });

  it("finishes an apply a crash interrupted after the switch: old releases stopped, applied reported", async () => {
    // Release 1's web still runs beside release 2's.
    const t = setup({
      docker: (argv) =>
        argv[1] === "ps"
          ? { stdout: "old1\tberth_shop_r1\t1\tweb\trunning\nnew2\tberth_shop_r2\t2\tweb\trunning\n" }
          : undefined,
    });
    await t.publish(1);
    await t.publish(2);
    await t.converger.converge(ENV, 1);
    await t.converger.converge(ENV, 2);
    const s = t.store(ENV);
    const { outcome: _o, appliedAt: _a, ...meta } = s.readMetadata(2);
    s.writeMetadata(meta); // killed before recording the outcome
    t.reports.length = 0;
    await t.converger.converge(ENV, 2);
    expect(t.docker.lines().slice(1)).toEqual(["docker stop old1", "docker rm --force --volumes=false old1"]);
    expect(s.readMetadata(2).outcome).toBe("applied");
    expect(t.reports).toEqual([
      { environmentId: ENV, appliedSequence: 2, attemptedSequence: 2, state: "applied", services: [] },
    ]);
  });

  it("a failed restore before the first apply is the outcome, and is not recorded: the next pass tries again", async () => {
    const t = setup({ restoreFails: "the repository cannot be read" });
    const withBackup = composeText(1, (doc) => {
      doc["x-berth"].backup = {
        repository: "s3:http://s3.test/b/shop",
        region: "us-east-1",
        pruneSchedule: "0 3 * * *",
        checkSchedule: "0 4 * * 0",
        restoreOnFirstApply: true,
        secrets: { password: "p", accessKeyId: "a", secretAccessKey: "s" },
        volumes: [
          { name: "data", device: "/v/data", schedule: "0 * * * *", retention: { last: 3 }, stop: [] },
        ],
      };
    });
    await t.publish(1, undefined, withBackup);
    const outcome = await t.converger.converge(ENV, 1);
    expect(outcome?.state).toBe("failed");
    expect(outcome?.error).toMatch(/restoring the volumes .* failed: the repository cannot be read/);
    expect(t.applied).toEqual([{ sequence: 1, withRestore: true }]);
    expect(t.store(ENV).readMetadata(1).outcome).toBeUndefined();
    expect(t.reports.map((r) => r.state)).toEqual(["applying", "failed"]);
  });

  it("starts the restore of a new node while its applying status is written, not after it", async () => {
    let restoreStarted: () => void = () => {};
    const started = new Promise<void>((r) => {
      restoreStarted = r;
    });
    let startedBeforeApplyingWritten: boolean | undefined;
    const t = setup({
      restore: async () => {
        restoreStarted();
        return undefined;
      },
      // The applying status is written once the restore has started (or after a bound, undone).
      report: async (s) => {
        if (s.state !== "applying") return;
        const seen = await Promise.race([
          started.then(() => true),
          new Promise<boolean>((r) => setTimeout(() => r(false), 2000)),
        ]);
        startedBeforeApplyingWritten = seen;
      },
    });
    await t.publish(
      1,
      undefined,
      composeText(1, (doc) => (doc["x-berth"].backup = backupOf())),
    );
    const outcome = await t.converger.converge(ENV, 1);
    expect(outcome?.state).toBe("applied");
    expect(startedBeforeApplyingWritten).toBe(true);
    expect(t.reports.map((r) => r.state)).toEqual(["applying", "applied"]);
    expect(t.applied).toEqual([{ sequence: 1, withRestore: true }]);
  });

  it("reports a restore that fails at once after its applying status, never before it", async () => {
    let applyingWritten: () => void = () => {};
    const written = new Promise<void>((r) => {
      applyingWritten = r;
    });
    const t = setup({
      restore: async () => "restic is not installed",
      // A slow channel: the applying status takes until the restore has failed.
      report: async (s) => {
        if (s.state === "applying") await new Promise((r) => setTimeout(r, 50));
        if (s.state === "applying") applyingWritten();
      },
    });
    await t.publish(
      1,
      undefined,
      composeText(1, (doc) => (doc["x-berth"].backup = backupOf())),
    );
    const outcome = await t.converger.converge(ENV, 1);
    await written;
    expect(outcome?.state).toBe("failed");
    expect(t.reports.map((r) => r.state)).toEqual(["applying", "failed"]);
  });

  it("tears an environment down: routes, certificates, both projects, its networks; volumes stay", async () => {
    const t = setup();
    await t.publish(3);
    await t.converger.converge(ENV, 3);
    t.reports.length = 0;
    const dir = t.store(ENV).dir;
    await t.converger.teardown(ENV);
    expect(t.proxy.removed).toEqual([{ environmentId: ENV, host: "shop.test" }]);
    expect(t.proxy.certificates).toEqual([[ENV, []]]);
    expect(t.docker.lines()).toEqual([
      "docker compose --project-name berth_shop_r3 down --remove-orphans",
      "docker compose --project-name berth_shop down --remove-orphans",
      "docker network rm berth_shop",
    ]);
    expect(t.docker.calls.every((c) => c.opts.allowFailure)).toBe(true);
    expect(t.reports).toEqual([{ environmentId: ENV, state: "removed", services: [] }]);
    expect(existsSync(dir)).toBe(false);
  });

  it("refuses a signed release read from another release's key: the floor stays where it was", async () => {
    const t = setup();
    await t.publish(1);
    await t.converger.converge(ENV, 1);
    const huge = Number.MAX_SAFE_INTEGER;
    await t.channel.put(
      `nodes/${NODE}/environments/${ENV}/releases/${huge}.json`,
      (await t.channel.get(`nodes/${NODE}/environments/${ENV}/releases/1.json`)) as string,
    );
    await t.publish(2);
    await t.converger.converge(ENV, huge);
    expect(t.reports.at(-1)?.error).toMatch(
      /SEQUENCE_MISMATCH: the release was read from the key of release 9007199254740991, but it is signed as release 1/,
    );
    expect(t.store(ENV).highestSeen()).toBe(1);
    expect((await t.converger.converge(ENV, 2))?.state).toBe("applied");
  });

  it("the floor outlives a teardown: an older signed release is refused afterwards", async () => {
    const t = setup();
    await t.publish(1);
    await t.publish(2);
    await t.converger.converge(ENV, 1);
    await t.converger.converge(ENV, 2);
    await t.converger.teardown(ENV);
    expect(t.store(ENV).sequences()).toEqual([]);
    await t.converger.converge(ENV, 1);
    expect(t.reports.at(-1)).toMatchObject({ state: "rejected", attemptedSequence: 1 });
    expect(t.reports.at(-1)?.error).toMatch(/STALE_SEQUENCE: release 1 is older than the applied release 2/);
    expect(t.applied.map((a) => a.sequence)).toEqual([1, 2]);
  });

  it("refuses what the rendered file asks beyond berth's rules, each with its reason, and runs nothing", async () => {
    const t = setup();
    await t.publish(
      1,
      undefined,
      composeText(1, (doc) => {
        doc.services.web.privileged = true;
        doc.services.web.volumes = [
          { type: "bind", source: "/var/run/docker.sock", target: "/var/run/docker.sock" },
        ];
      }),
    );
    await t.converger.converge(ENV, 1);
    const error = t.reports.at(-1)?.error ?? "";
    expect(error).toMatch(/^release 1 was rejected: NODE_RULES: /);
    expect(error).toMatch(/services\.web\.privileged: privileged containers are not allowed/);
    expect(error).toMatch(/services\.web\.volumes\[0\]: only the environment's own named volumes/);
    expect(t.applied).toEqual([]);
    expect(t.store(ENV).sequences()).toEqual([]);
  });

  it("hands a verified Swarm stack to the swarm apply, and reports its outcome; without one, refuses it", async () => {
    const sm = swarmManifest();
    const stack = (seq: number) =>
      renderSwarmStack(sm, {
        environmentId: ENV,
        sequence: seq,
        images: swarmImages(sm),
        volumeNodes: { data: "web-2" },
        secretVersions: { "api-token": "0123456789ab" },
      }).text;
    const t = setup({ swarm: "applied" });
    await t.publish(1, undefined, stack(1));
    expect((await t.converger.converge(ENV, 1))?.state).toBe("applied");
    expect(t.applied).toEqual([]);
    expect(t.swarmed).toEqual([{ sequence: 1, file: stack(1) }]);
    expect(t.reports.map((r) => r.state)).toEqual(["applying", "applied"]);
    expect(t.reports[1]).toMatchObject({
      appliedSequence: 1,
      services: [{ name: "web", state: "3/3 running on a, b, c" }],
    });
    expect(t.store(ENV).current()).toBe(1);

    const f = setup({ swarm: "failed" });
    await f.publish(1, undefined, stack(1));
    await f.converger.converge(ENV, 1);
    expect(f.reports[1]).toMatchObject({
      state: "failed",
      attemptedSequence: 1,
      error: "web: update rollback completed (on b)",
    });
    expect(f.store(ENV).current()).toBeUndefined();

    // A signed stack that binds the node's Docker socket: rejected, never handed to the swarm.
    const evil = setup({ swarm: "applied" });
    const doc = JSON.parse(stack(1).replace(/^#.*\n/, ""));
    doc.services.web.volumes = [{ type: "bind", source: "/var/run/docker.sock", target: "/s" }];
    await evil.publish(1, undefined, JSON.stringify(doc));
    await evil.converger.converge(ENV, 1);
    expect(evil.reports[0]).toMatchObject({ state: "rejected" });
    expect(evil.reports[0]?.error).toMatch(
      /NODE_RULES: .*services\.web\.volumes\[0\]: only the stack's volumes and tmpfs/,
    );
    expect(evil.swarmed).toEqual([]);

    const none = setup();
    await none.publish(1, undefined, stack(1));
    await none.converger.converge(ENV, 1);
    expect(none.reports[0]).toMatchObject({ state: "rejected" });
    expect(none.applied).toEqual([]);
  });
});
