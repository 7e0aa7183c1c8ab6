// The scaleway example stack with a node group (issue 23) under Pulumi mocks: a Scaleway server
// has one security group, so each member's holds the swarm ports from the group's nodes (and no
// one else's), and the channel's bucket policy lets the members read swarm/<group>/ and only the
// leader write its join offers.
import { beforeAll, describe, expect, it } from "vitest";
import { exampleConfig, type ProgramRun, runProgram, SECRETS, withTestApp } from "./testdata/program";

let run: ProgramRun;
const IDS = ["app-1", "app-2", "app-3"];
// The mocks' flexible IPs: 198.51.100.20, .21, .22 in declaration order.
const IPS = ["198.51.100.20", "198.51.100.21", "198.51.100.22"];
const one = (type: string, name: string) => {
  const r = run.created.find((x) => x.type === type && x.name === name);
  if (!r) throw new Error(`no ${type} named ${name}: ${run.created.map((x) => x.name).join(", ")}`);
  return r;
};

describe("the scaleway example stack with a node group (mocks)", () => {
  beforeAll(async () => {
    const base = withTestApp(exampleConfig("Pulumi.scaleway.example.yaml"));
    const [node] = JSON.parse(base["berth:nodes"] ?? "[]") as Record<string, unknown>[];
    const [env] = JSON.parse(base["berth:environments"] ?? "[]") as Record<string, unknown>[];
    const { node: _n, ...shop } = env as Record<string, unknown> & { volumes?: Record<string, unknown>[] };
    const config = {
      ...base,
      // A fourth node outside the group: its security group gets no swarm port.
      "berth:nodes": JSON.stringify([...IDS, "app-4"].map((id) => ({ ...node, id }))),
      "berth:nodeGroups": JSON.stringify([{ name: "web", nodes: IDS, managers: ["app-1"] }]),
      "berth:environments": JSON.stringify([
        { ...shop, nodeGroup: "web", volumes: (shop.volumes ?? []).map((v) => ({ ...v, node: "app-2" })) },
      ]),
      ...SECRETS,
    };
    run = await runProgram("scaleway", config, Object.keys(SECRETS));
  }, 30_000);

  it("each member's security group accepts the swarm ports from the group's nodes only", () => {
    for (const id of IDS) {
      const sg = one("scaleway:instance/securityGroup:SecurityGroup", `${id}-security-group`);
      const rules = sg.inputs.inboundRules as { protocol: string; port?: number; ipRange: string }[];
      const swarm = rules.filter((r) => r.port !== 80 && r.port !== 443 && r.port !== 22);
      expect(swarm.map((r) => `${r.port ?? "-"}/${r.protocol} ${r.ipRange}`).sort()).toEqual(
        ["2377/TCP", "7946/TCP", "7946/UDP", "4789/UDP", "-/ANY"]
          .flatMap((p) => IPS.map((ip) => `${p} ${ip}/32`))
          .sort(),
      );
      expect(sg.inputs.inboundDefaultPolicy).toBe("drop");
    }
    const outside = one("scaleway:instance/securityGroup:SecurityGroup", "app-4-security-group");
    const ports = (outside.inputs.inboundRules as { port?: number }[]).map((r) => r.port);
    expect(ports).not.toContain(2377);
    expect(run.created.filter((r) => r.type === "hcloud:index/firewall:Firewall")).toEqual([]);
  });

  it("the bucket policy: the members read swarm/web/, only the leader writes its join offers", () => {
    const policy = JSON.parse(
      String(one("scaleway:object/bucketPolicy:BucketPolicy", "channel-policy").inputs.policy),
    ) as { Statement: { Sid: string; Principal: { SCW: string | string[] }; Resource: string[] }[] };
    const read = policy.Statement.find((s) => s.Sid === "BerthGroupRead-web");
    expect(read?.Principal.SCW).toHaveLength(3);
    expect(read?.Resource[0]).toMatch(/\/swarm\/web\/\*$/);
    const join = policy.Statement.find((s) => s.Sid === "BerthGroupJoin-web");
    expect(typeof join?.Principal.SCW).toBe("string");
    expect(join?.Resource[0]).toMatch(/\/swarm\/web\/join\/\*$/);
  });

  it("the membership and the release: the leader app-1, each member's flexible IP as its address", () => {
    const m = one("pulumi-nodejs:dynamic:Resource", "web-membership");
    expect(m.inputs).toMatchObject({ leader: "app-1", leaderAddress: IPS[0] });
    expect((m.inputs.members as { address: string }[]).map((x) => x.address)).toEqual(IPS);
    expect(one("pulumi-nodejs:dynamic:Resource", "shop-release").inputs).toMatchObject({ nodeId: "app-1" });
  });
});
