// The agent's swarm pass against a folder channel and a recording Docker runner (the real engines:
// test/system/swarm-agents.test.ts): which memberships it believes, the floor it keeps, what the
// leader and a member run.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FolderChannelStore } from "../../contract/channel/folder-store";
import { generateNodeKeyPair, generateSigningKeyPair, TrustedKeys } from "../../contract/payload";
import { makeTestCertificate } from "../../contract/release/tls-testing";
import { joinOfferKey, openJoinOffer } from "../../contract/swarm/join";
import { membershipKey, signMembership } from "../../contract/swarm/membership";
import { routeTableKey, signRouteTable } from "../../contract/swarm/routes";
import { createLogger } from "../../lib/log";
import type { RouteKey } from "../apply/plan";
import { recordingRunner } from "../testing/recording-runner";
import type { LedEnvironment, SwarmRouteProxy } from "./routes-pass";
import { SwarmPass } from "./swarm-pass";

const program = generateSigningKeyPair();
const keys = Object.fromEntries(
  ["web-1", "web-2"].map((id) => [id, { node: generateNodeKeyPair(), status: generateSigningKeyPair() }]),
) as Record<
  string,
  { node: ReturnType<typeof generateNodeKeyPair>; status: ReturnType<typeof generateSigningKeyPair> }
>;
const log = createLogger("swarm-pass-test");
log.level = "silent";

function membership(generation: number, signer = program.privateKey, members = ["web-1", "web-2"]): string {
  return signMembership(
    {
      group: "web",
      generation,
      issuedAt: new Date().toISOString(),
      expiresAt: new Date(Date.now() + 3600_000).toISOString(),
      leader: "web-1",
      leaderAddress: "10.9.0.1",
      members: members.map((id, i) => ({
        nodeId: id,
        role: i === 0 ? ("manager" as const) : ("worker" as const),
        publicKey: keys[id]?.node.publicKey ?? generateNodeKeyPair().publicKey,
        statusKey: keys[id]?.status.publicKey ?? generateSigningKeyPair().publicKey,
        address: `10.9.0.${i + 1}`,
      })),
    },
    signer,
  );
}

/** The node's proxy as a record of what the routes pass asked of it. */
function fakeProxy() {
  const table: RouteKey[] = [];
  const calls: string[] = [];
  const proxy: SwarmRouteProxy = {
    async ensureRoutes(routes) {
      for (const r of routes) if (!table.some((t) => t.host === r.host)) table.push({ ...r });
      calls.push(`ensure ${routes.map((r) => r.host).join(",")}`);
    },
    async switchRoute(route, upstreams) {
      calls.push(`switch ${route.host} ${upstreams.map((u) => `${u.host}:${u.port}`).join(",")}`);
    },
    async removeRoute(route) {
      table.splice(
        table.findIndex((t) => t.host === route.host),
        1,
      );
      calls.push(`remove ${route.host}`);
    },
    async installCertificates(env, bundles) {
      if (bundles.length > 0) calls.push(`certificates ${env} ${bundles.map((b) => b.name).join(",")}`);
    },
    routesOf: (env) => table.filter((t) => t.environmentId === env),
  };
  return { proxy, calls, table };
}

function setup(
  nodeId: "web-1" | "web-2",
  swarm: { state: string; rows?: string },
  o: { led?: LedEnvironment[]; now?: () => number } = {},
) {
  const dir = mkdtempSync(join(tmpdir(), "berth-swarm-pass-"));
  const channel = new FolderChannelStore(join(dir, "channel"));
  const docker = recordingRunner((argv) => {
    if (argv[1] === "info")
      return { stdout: JSON.stringify({ LocalNodeState: swarm.state, NodeID: "self" }) };
    if (argv[1] === "node" && argv[2] === "ls")
      return { stdout: swarm.rows ?? "self\tweb-1\tReady\tLeader\n" };
    if (argv[1] === "swarm" && argv[2] === "join-token") return { stdout: `SWMTKN-1-${argv[4]}-secret\n` };
    return undefined;
  });
  const me = keys[nodeId] as (typeof keys)[string];
  const routes = fakeProxy();
  const pass = new SwarmPass({
    nodeId,
    channel,
    docker: docker.run,
    trusted: new TrustedKeys([program.publicKey]),
    nodePrivateKey: me.node.privateKey,
    statusPrivateKey: me.status.privateKey,
    stateRoot: join(dir, "state"),
    log,
    statusPublicKey: me.status.publicKey,
    proxy: routes.proxy,
    ledEnvironments: () => o.led ?? [],
    tokenRotationMs: 1000,
    ...(o.now ? { now: o.now } : {}),
  });
  return { channel, docker, pass, routes };
}

describe("SwarmPass", () => {
  it("the leader initialises the swarm, labels itself and seals an offer to the member's pinned key", async () => {
    const { channel, docker, pass } = setup("web-1", { state: "inactive" });
    await channel.put(membershipKey("web"), membership(1));
    expect(await pass.run()).toEqual([
      { group: "web", outcome: "led", detail: "generation 1; waiting for web-2" },
    ]);
    expect(docker.lines()).toContain(
      "docker swarm init --advertise-addr 10.9.0.1 --listen-addr 10.9.0.1:2377",
    );
    const offer = openJoinOffer((await channel.get(joinOfferKey("web", "web-2"))) ?? "", {
      group: "web",
      nodeId: "web-2",
      leaderStatusKey: keys["web-1"]?.status.publicKey ?? "",
      nodePrivateKey: keys["web-2"]?.node.privateKey ?? "",
    });
    expect(offer).toMatchObject({ role: "worker", generation: 1, token: "SWMTKN-1-worker-secret" });
    // The next pass writes no offer again: the channel holds it as written.
    const puts = docker.lines().filter((l) => l.includes("join-token")).length;
    await pass.run();
    expect(docker.lines().filter((l) => l.includes("join-token")).length).toBe(puts);
    expect(pass.floors()).toEqual({ web: 1 });
  });

  it("a member joins through its offer with its own address, the token redacted", async () => {
    const leader = setup("web-1", { state: "inactive" });
    await leader.channel.put(membershipKey("web"), membership(1));
    await leader.pass.run();
    const member = setup("web-2", { state: "inactive" });
    for (const k of [membershipKey("web"), joinOfferKey("web", "web-2")])
      await member.channel.put(k, (await leader.channel.get(k)) ?? "");
    expect(await member.pass.run()).toEqual([
      { group: "web", outcome: "joined", detail: "as a worker, generation 1" },
    ]);
    const join = member.docker.calls.find((c) => c.argv[2] === "join");
    expect(join?.argv).toEqual(expect.arrayContaining(["--advertise-addr", "10.9.0.2", "10.9.0.1:2377"]));
    expect(join?.opts.redact).toEqual(["SWMTKN-1-worker-secret"]);
  });

  it("refuses a membership another key signed, and a replayed older one; skips a group that does not list it", async () => {
    const { channel, docker, pass } = setup("web-1", { state: "active" });
    const writer = generateSigningKeyPair();
    await channel.put(membershipKey("web"), membership(9, writer.privateKey));
    expect(await pass.run()).toEqual([
      { group: "web", outcome: "refused", detail: expect.stringMatching(/which this node does not trust$/) },
    ]);
    expect(docker.calls).toEqual([]);
    await channel.put(membershipKey("web"), membership(3));
    await pass.run();
    await channel.put(membershipKey("web"), membership(2));
    expect(await pass.run()).toEqual([
      { group: "web", outcome: "refused", detail: expect.stringMatching(/generation 2 is below 3/) },
    ]);
    expect(pass.floors()).toEqual({ web: 3 });
    const stranger = {
      publicKey: generateNodeKeyPair().publicKey,
      statusKey: generateSigningKeyPair().publicKey,
    };
    await channel.put(
      membershipKey("other"),
      signMembership(
        {
          group: "other",
          generation: 1,
          issuedAt: new Date().toISOString(),
          expiresAt: new Date(Date.now() + 3600_000).toISOString(),
          leader: "web-9",
          leaderAddress: "10.9.0.9",
          members: [{ nodeId: "web-9", role: "manager", ...stranger }],
        },
        program.privateKey,
      ),
    );
    expect((await pass.run()).map((s) => s.group)).toEqual(["web"]);
  });

  it("a member the program takes out of the group leaves the swarm; a forged or replayed membership that omits it does not make it leave", async () => {
    const { channel, docker, pass } = setup("web-2", { state: "active" });
    await channel.put(membershipKey("web"), membership(3));
    expect(await pass.run()).toEqual([{ group: "web", outcome: "in-swarm", detail: "already in a swarm" }]);
    const writer = generateSigningKeyPair();
    await channel.put(membershipKey("web"), membership(4, writer.privateKey, ["web-1"]));
    expect(await pass.run()).toEqual([
      { group: "web", outcome: "refused", detail: expect.stringMatching(/which this node does not trust$/) },
    ]);
    await channel.put(membershipKey("web"), membership(2, program.privateKey, ["web-1"]));
    expect(await pass.run()).toEqual([
      { group: "web", outcome: "refused", detail: expect.stringMatching(/generation 2 is below 3/) },
    ]);
    expect(docker.lines()).not.toContain("docker swarm leave --force");
    await channel.put(membershipKey("web"), membership(4, program.privateKey, ["web-1"]));
    expect(await pass.run()).toEqual([
      {
        group: "web",
        outcome: "left",
        detail: "taken out of node group web at generation 4: left the swarm",
      },
    ]);
    expect(docker.lines()).toContain("docker swarm leave --force");
    expect(pass.floors()).toEqual({ web: 4 });
    // Said once: the next pass has nothing to do.
    expect(await pass.run()).toEqual([]);
  });

  it("the leader rotates the join tokens after removing a node and on its schedule", async () => {
    let now = 1_000_000;
    const rows = "self\tweb-1\tReady\tLeader\nold\tweb-7\tDown\t\n";
    const swarm = { state: "active", rows };
    const { channel, docker, pass } = setup("web-1", swarm, { now: () => now });
    await channel.put(membershipKey("web"), membership(1));
    const [step] = await pass.run();
    expect(step?.detail).toMatch(/removed old: web-7 is not a member .*; join tokens rotated$/);
    const rotations = () => docker.lines().filter((l) => l.includes("join-token --rotate"));
    expect(rotations()).toEqual([
      "docker swarm join-token --rotate --quiet worker",
      "docker swarm join-token --rotate --quiet manager",
    ]);
    // web-2's offer was written with the new tokens (after the rotation).
    const calls = docker.lines();
    const lastRotate = calls.lastIndexOf("docker swarm join-token --rotate --quiet manager");
    expect(calls.slice(lastRotate).some((l) => l === "docker swarm join-token --quiet worker")).toBe(true);
    swarm.rows = "self\tweb-1\tReady\tLeader\n"; // removed
    now += 500;
    await pass.run();
    expect(rotations()).toHaveLength(2);
    now += 600; // the schedule (1 s here) since the last rotation
    const [again] = await pass.run();
    expect(again?.detail).toMatch(/join tokens rotated$/);
    expect(rotations()).toHaveLength(4);
  });

  it("routes: the leader publishes its environments' route tables; every member sends the hosts to its own node's proxy port; forged and replayed tables are refused", async () => {
    const led: LedEnvironment[] = [
      { environmentId: "shop", sequence: 2, proxy: { port: 18080, routes: [{ host: "shop.test" }] } },
    ];
    const leader = setup("web-1", { state: "active" }, { led });
    await leader.channel.put(membershipKey("web"), membership(1));
    await leader.pass.run();
    expect(leader.pass.routeSteps()).toEqual([
      {
        group: "web",
        environmentId: "shop",
        outcome: "routed",
        detail: "release 2: shop.test → 10.9.0.1:18080",
      },
    ]);
    expect(leader.routes.calls).toEqual(["ensure shop.test", "switch shop.test 10.9.0.1:18080"]);
    // Unchanged: one read, nothing done.
    await leader.pass.run();
    expect(leader.routes.calls).toHaveLength(2);

    const member = setup("web-2", { state: "active" });
    const copy = async (k: string) => member.channel.put(k, (await leader.channel.get(k)) ?? "");
    await copy(membershipKey("web"));
    const v2 = (await leader.channel.get(routeTableKey("web", "shop"))) ?? "";
    await member.channel.put(routeTableKey("web", "shop"), v2);
    await member.pass.run();
    expect(member.routes.calls).toEqual(["ensure shop.test", "switch shop.test 10.9.0.2:18080"]);

    // A channel writer's table (its own key) sending the host elsewhere: refused, nothing changes.
    const writer = generateSigningKeyPair();
    const forged = signRouteTable(
      {
        group: "web",
        environmentId: "shop",
        sequence: 9,
        withdrawn: false,
        port: 18080,
        routes: [{ host: "evil.test" }],
      },
      writer.privateKey,
    );
    await member.channel.put(routeTableKey("web", "shop"), forged);
    await member.pass.run();
    expect(member.pass.routeSteps()).toEqual([
      {
        group: "web",
        environmentId: "shop",
        outcome: "refused",
        detail: expect.stringMatching(/not by the leader's key/),
      },
    ]);
    expect(member.routes.calls).toHaveLength(2);

    // The leader's release 3 drops the route (withdrawn), then the old table is replayed: refused.
    led.splice(0, 1);
    await leader.pass.run();
    expect(leader.routes.calls.at(-1)).toBe("remove shop.test");
    await copy(routeTableKey("web", "shop"));
    await member.pass.run();
    expect(member.pass.routeSteps()).toEqual([
      { group: "web", environmentId: "shop", outcome: "withdrawn", detail: "release 2" },
    ]);
    expect(member.routes.table).toEqual([]);
    await member.channel.put(routeTableKey("web", "shop"), v2);
    await member.pass.run();
    expect(member.pass.routeSteps()).toEqual([
      {
        group: "web",
        environmentId: "shop",
        outcome: "refused",
        detail: expect.stringMatching(/release 2 is below release 2 \(withdrawn\)/),
      },
    ]);
    expect(member.routes.table).toEqual([]);
  });

  it("TLS: the leader seals the release's certificates to each member in its table; each member installs them before routing; the table never holds them in plain text", async () => {
    const cert = await makeTestCertificate(["shop.test"]);
    const led: LedEnvironment[] = [
      {
        environmentId: "shop",
        sequence: 2,
        proxy: { port: 18080, routes: [{ host: "shop.test" }] },
        tls: { "berth.tls.shop": cert.bundle },
      },
    ];
    const leader = setup("web-1", { state: "active" }, { led });
    await leader.channel.put(membershipKey("web"), membership(1));
    await leader.pass.run();
    expect(leader.routes.calls).toEqual([
      "certificates shop shop",
      "ensure shop.test",
      "switch shop.test 10.9.0.1:18080",
    ]);
    expect(leader.pass.routeSteps()[0]?.detail).toBe(
      "release 2: shop.test → 10.9.0.1:18080; certificates berth.tls.shop",
    );
    const text = (await leader.channel.get(routeTableKey("web", "shop"))) ?? "";
    expect(text).not.toContain("PRIVATE KEY");
    expect(Object.keys(JSON.parse(text).table.tls).sort()).toEqual(["web-1", "web-2"]);
    // Unchanged certificates: not sealed and written again.
    await leader.pass.run();
    expect(await leader.channel.get(routeTableKey("web", "shop"))).toBe(text);

    const member = setup("web-2", { state: "active" });
    await member.channel.put(membershipKey("web"), (await leader.channel.get(membershipKey("web"))) ?? "");
    await member.channel.put(routeTableKey("web", "shop"), text);
    await member.pass.run();
    expect(member.routes.calls).toEqual([
      "certificates shop shop",
      "ensure shop.test",
      "switch shop.test 10.9.0.2:18080",
    ]);
  });
});
