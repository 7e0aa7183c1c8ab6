// Every node's own HAProxy (80/443) routes a swarm environment's hosts to its node's `berth-proxy`
// port (issue 23, traffic). Only the group's leader receives the environment's signed release, so
// the leader hands the routes on as a route table signed by its status key (contract/swarm/
// routes.ts), and every member, the leader too, applies the tables that verify against the
// leader's key the program's membership pins:
//
// - publishRouteTables (the leader): one table per swarm environment it runs, from the current
//   release's `x-berth.proxy` (the routes the program signed, the proxy's port); a withdrawn table
//   for one it no longer runs. Written again when the channel no longer holds it as written.
// - applyRouteTables (every member): each table verified, not below the (sequence, withdrawn) the
//   node acted on (kept in <stateRoot>/swarm/route-floors.json); its hosts made routes of the
//   node's HAProxy, each sent to this node's own address at the table's port; a withdrawn table,
//   or a host the table no longer has, taken out. Nothing else is ever routed from a table.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as z from "zod";
import type { ChannelStore } from "../../contract/channel/store";
import type { KeyInput } from "../../contract/payload";
import { tlsBundlesFromSecrets } from "../../contract/release/tls";
import type { RouteFloor } from "../../contract/swarm/leader-signed";
import {
  openTableCertificates,
  type RouteTable,
  routeTableKey,
  routeTablePrefix,
  sealTableCertificates,
  signRouteTable,
  verifyRouteTable,
} from "../../contract/swarm/routes";
import { writeFileAtomic } from "../../lib/atomic-write";
import { describeError } from "../../lib/errors";
import type { RouteKey } from "../apply/plan";
import type { ProxyControl } from "../apply/proxy-control";

/** The node's proxy as the routes pass uses it: ProxyControl plus the routes it holds per environment. */
export type SwarmRouteProxy = Pick<
  ProxyControl,
  "ensureRoutes" | "switchRoute" | "removeRoute" | "installCertificates"
> & {
  routesOf(environmentId: string): RouteKey[];
};

/** A swarm environment the leader runs: its current release and that release's proxy. */
export interface LedEnvironment {
  environmentId: string;
  sequence: number;
  proxy?: { port: number; routes: { host: string; path?: string | undefined }[] } | undefined;
  /** The release's TLS bundles, opened by the leader (secret name `berth.tls.<name>` → PEM). */
  tls?: Record<string, string> | undefined;
}

/** What one table came to on this node (logged when it changes; returned for tests). */
export interface RouteStep {
  group: string;
  environmentId: string;
  outcome: "routed" | "withdrawn" | "refused";
  detail: string;
}

const TABLE_KEY = /\/routes\/([a-z0-9][a-z0-9-]{0,62})\.json$/;

type Content = Pick<RouteTable, "sequence" | "withdrawn" | "port" | "routes"> & {
  /** What the sealed certificates hold (a digest of the bundles and the members' keys). */
  tlsDigest?: string | undefined;
  tls?: RouteTable["tls"];
};
const what = (c: Content) =>
  JSON.stringify({
    s: c.sequence,
    w: c.withdrawn,
    p: c.port,
    r: c.routes.map((r) => [r.host, r.path ?? ""]),
    t: c.tlsDigest ?? "",
  });

/** The digest that tells whether a table's certificates must be sealed again (never logged). */
function tlsDigest(bundles: Readonly<Record<string, string>>, members: readonly GroupMemberKey[]): string {
  const h = createHash("sha256");
  for (const name of Object.keys(bundles).sort()) h.update(`${name}\0${bundles[name]}\0`);
  for (const m of [...members].sort((a, b) => a.nodeId.localeCompare(b.nodeId)))
    h.update(`${m.nodeId}\0${m.publicKey}\0`);
  return h.digest("hex");
}

/** A member of the group as the leader seals to it: its id and X25519 public key. */
export interface GroupMemberKey {
  nodeId: string;
  publicKey: string;
}

/** The leader's memo of the tables it wrote: environment → content and text. */
export type TableMemo = Map<string, { what: string; content: Content; text: string }>;

/** The leader: a table per environment it runs (or ran), written when the channel does not hold it. */
export async function publishRouteTables(
  channel: ChannelStore,
  o: {
    group: string;
    statusPrivateKey: KeyInput;
    statusPublicKey: KeyInput;
    environments: readonly LedEnvironment[];
    memo: TableMemo;
    /** The group's members (the leader too): each gets the certificates sealed to its key. */
    members: readonly GroupMemberKey[];
  },
): Promise<string[]> {
  const prefix = routeTablePrefix(o.group);
  const listed = (await channel.list(prefix))
    .map((k) => TABLE_KEY.exec(k)?.[1])
    .filter((e): e is string => e !== undefined);
  const desired = new Map<string, Content>();
  for (const e of o.environments)
    if (e.proxy) {
      const tls = e.tls && Object.keys(e.tls).length > 0 ? e.tls : undefined;
      desired.set(e.environmentId, {
        sequence: e.sequence,
        withdrawn: false,
        port: e.proxy.port,
        routes: e.proxy.routes.map((r) => ({ host: r.host, ...(r.path ? { path: r.path } : {}) })),
        ...(tls ? { tlsDigest: tlsDigest(tls, o.members), tls: {} } : {}),
      });
    }
  // One it no longer runs (withdrawn, or a release without routes): a withdrawal of the last table.
  for (const env of new Set([...listed, ...o.memo.keys()])) {
    if (desired.has(env)) continue;
    let last = o.memo.get(env)?.content;
    if (!last) {
      const text = await channel.get(routeTableKey(o.group, env));
      try {
        if (text !== undefined)
          last = verifyRouteTable(text, {
            group: o.group,
            environmentId: env,
            leaderStatusKey: o.statusPublicKey,
          });
      } catch {
        // Not the leader's own: a node refuses it anyway; nothing to withdraw from.
      }
    }
    if (last) desired.set(env, { sequence: last.sequence, withdrawn: true, port: last.port, routes: [] });
  }
  const written: string[] = [];
  for (const [env, content] of desired) {
    const key = routeTableKey(o.group, env);
    const held = await channel.get(key);
    const memo = o.memo.get(env);
    if (memo && memo.what === what(content) && held === memo.text) continue;
    // Sealed certificates cannot be compared with the channel's copy: without a memo of them
    // (the leader restarted), the table is sealed and written again.
    if (held !== undefined && !content.tlsDigest) {
      try {
        const t = verifyRouteTable(held, {
          group: o.group,
          environmentId: env,
          leaderStatusKey: o.statusPublicKey,
        });
        if (what(t) === what(content)) {
          o.memo.set(env, { what: what(content), content, text: held });
          continue;
        }
      } catch {
        // Not the leader's own (a channel writer's): written again below.
      }
    }
    const bundles = o.environments.find((e) => e.environmentId === env)?.tls;
    const { tlsDigest: _digest, tls: _tls, ...plain } = content;
    const text = signRouteTable(
      {
        group: o.group,
        environmentId: env,
        ...plain,
        ...(content.tlsDigest && bundles
          ? {
              tls: sealTableCertificates(bundles, o.members, {
                environmentId: env,
                sequence: content.sequence,
              }),
            }
          : {}),
      },
      o.statusPrivateKey,
    );
    await channel.put(key, text);
    o.memo.set(env, { what: what(content), content, text });
    written.push(env);
  }
  return written;
}

const floorsSchema = z.record(z.string(), z.object({ sequence: z.number().int(), withdrawn: z.boolean() }));

/** The (sequence, withdrawn) this node acted on per group and environment, on disk. */
export class RouteFloors {
  private readonly file: string;
  /** `name`: the file under <stateRoot>/swarm/ (the backup orders keep theirs beside it). */
  constructor(stateRoot: string, name = "route-floors.json") {
    this.file = join(stateRoot, "swarm", name);
  }
  all(): Record<string, RouteFloor> {
    if (!existsSync(this.file)) return {};
    try {
      return floorsSchema.parse(JSON.parse(readFileSync(this.file, "utf8")));
    } catch {
      return {};
    }
  }
  get(group: string, env: string): RouteFloor | undefined {
    return this.all()[`${group}/${env}`];
  }
  set(group: string, env: string, f: RouteFloor): void {
    mkdirSync(join(this.file, ".."), { recursive: true, mode: 0o700 });
    writeFileAtomic(this.file, `${JSON.stringify({ ...this.all(), [`${group}/${env}`]: f })}\n`);
  }
  /** The environments of a group this node has routed from tables. */
  environments(group: string): string[] {
    return Object.keys(this.all())
      .filter((k) => k.startsWith(`${group}/`))
      .map((k) => k.slice(group.length + 1));
  }
}

/**
 * Every member: each table of the group verified against the leader's key and applied to the
 * node's proxy, sent to `address:port` (this node's own proxy). `applied` remembers the text
 * acted on per environment, so an unchanged table costs one read.
 */
export async function applyRouteTables(
  channel: ChannelStore,
  proxy: SwarmRouteProxy,
  o: {
    group: string;
    leaderStatusKey: KeyInput;
    /** This node's address where its engine publishes the proxy's port. */
    address: string;
    /** This node's id and X25519 key: the certificates sealed to it are opened with them. */
    nodeId: string;
    nodePrivateKey: KeyInput;
    floors: RouteFloors;
    applied: Map<string, string>;
  },
): Promise<RouteStep[]> {
  const steps: RouteStep[] = [];
  const envs = (await channel.list(routeTablePrefix(o.group)))
    .map((k) => TABLE_KEY.exec(k)?.[1])
    .filter((e): e is string => e !== undefined)
    .sort();
  for (const env of envs) {
    const text = await channel.get(routeTableKey(o.group, env));
    if (text === undefined || o.applied.get(`${o.group}/${env}`) === text) continue;
    let t: RouteTable;
    try {
      const floor = o.floors.get(o.group, env);
      t = verifyRouteTable(text, {
        group: o.group,
        environmentId: env,
        leaderStatusKey: o.leaderStatusKey,
        ...(floor ? { floor } : {}),
      });
    } catch (e) {
      steps.push({ group: o.group, environmentId: env, outcome: "refused", detail: describeError(e) });
      continue;
    }
    try {
      // The certificates first, so a host is never routed on 443 before its certificate is there.
      const opened = t.withdrawn ? {} : openTableCertificates(t, o.nodeId, o.nodePrivateKey);
      await proxy.installCertificates(env, tlsBundlesFromSecrets(opened));
      const keys: RouteKey[] = t.withdrawn
        ? []
        : t.routes.map((r) => ({ environmentId: env, host: r.host, ...(r.path ? { path: r.path } : {}) }));
      const id = (r: { host: string; path?: string | undefined }) => `${r.host.toLowerCase()}${r.path ?? ""}`;
      const keep = new Set(keys.map(id));
      if (keys.length > 0) {
        await proxy.ensureRoutes(keys);
        for (const k of keys) await proxy.switchRoute(k, [{ host: o.address, port: t.port }]);
      }
      for (const r of proxy.routesOf(env)) if (!keep.has(id(r))) await proxy.removeRoute(r);
      o.floors.set(o.group, env, { sequence: t.sequence, withdrawn: t.withdrawn });
      o.applied.set(`${o.group}/${env}`, text);
      steps.push(
        t.withdrawn
          ? { group: o.group, environmentId: env, outcome: "withdrawn", detail: `release ${t.sequence}` }
          : {
              group: o.group,
              environmentId: env,
              outcome: "routed",
              detail: `release ${t.sequence}: ${t.routes.map((r) => `${r.host}${r.path ?? ""}`).join(", ")} → ${o.address}:${t.port}${Object.keys(opened).length > 0 ? `; certificates ${Object.keys(opened).sort().join(", ")}` : ""}`,
            },
      );
    } catch (e) {
      steps.push({ group: o.group, environmentId: env, outcome: "refused", detail: describeError(e) });
    }
  }
  return steps;
}

/** A node taken out of the group: every route it holds from the group's tables goes. */
export async function dropGroupRoutes(
  proxy: SwarmRouteProxy,
  floors: RouteFloors,
  group: string,
): Promise<void> {
  for (const env of floors.environments(group))
    for (const r of proxy.routesOf(env)) await proxy.removeRoute(r);
}
